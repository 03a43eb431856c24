#!/usr/bin/env bash
# Build the dataset of the next default demo model (v2; scripts/build_default_model_v2.sh trains it): landscape
# photos -> flat-colour "segments" paintings, from freely licensed Debian wallpaper packages
# (scripts/default_model_v2_sources.md lists every photo and its licence). Output: data_cache/default_dataset_v2
# (git-ignored). ~10 minutes on 2 busy cores.
set -euo pipefail
cd "$(dirname "$0")/.."
packages="mate-backgrounds plasma-workspace-wallpapers lomiri-wallpapers-16.04 enlightenment-data libedje-bin"
if ! dpkg -s $packages >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi
photos=data_cache/default_photos_v2
rm -rf "$photos" data_cache/default_dataset_v2 && mkdir -p "$photos"
# MATE nature photos (GPL-2+, /usr/share/doc/mate-backgrounds/copyright)
for f in Aqua Dune Garden GreenMeadow Storm Wood; do cp "/usr/share/backgrounds/mate/nature/$f.jpg" "$photos/mate-$f.jpg"; done
# Plasma photo wallpapers (largest size of each; licences in /usr/share/doc/plasma-workspace-wallpapers/copyright)
for name in Autumn BytheWater ColdRipple DarkestHour EveningGlow FallenLeaf Kite OneStandsOut PastelHills Path summer_1am; do
  largest=$(ls -S /usr/share/wallpapers/$name/contents/images/* | head -1)
  cp "$largest" "$photos/plasma-$name.${largest##*.}"
done
# Lomiri (Ubuntu Touch 16.04) landscape photos by Aitzol Berasategi (CC-BY-4.0, /usr/share/doc/lomiri-wallpapers-16.04/copyright)
for f in aitzgorri life picosdeeuropa sunset; do cp "/usr/share/backgrounds/${f}_by_Aitzol_Berasategi.jpg" "$photos/lomiri-$f.jpg"; done
# Enlightenment landscape photos (BSD-2-clause, /usr/share/doc/enlightenment-data/copyright): each .edj is an
# Edje archive holding the photo at many sizes; edje_decc unpacks it and we keep the 1920x1080 one.
edj=data_cache/default_edj_v2 && rm -rf "$edj" && mkdir -p "$edj"
for name in Mountain Peaks Snow-Trees; do
  (cd "$edj" && edje_decc "/usr/share/enlightenment/data/backgrounds/$name.edj" >/dev/null)
  cp "$edj/$name/img-1920x1080.png" "$photos/enlightenment-$name.png"
done
.venv/bin/python -m pix2pix_hub make-dataset --kind segments --input "$photos" --output data_cache/default_dataset_v2 \
  --size 256 --crops-per-image 20 --seed 0
