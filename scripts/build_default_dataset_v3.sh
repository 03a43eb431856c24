#!/usr/bin/env bash
# Build the dataset of the default demo model v3 (scripts/build_default_model_v3.sh trains it): 13 landscape
# photos from freely licensed Debian wallpaper packages (scripts/default_model_v3_sources.md lists each with its
# licence) -> "landscape" segment paintings, each region painted by what it shows (sky, water, grass...).
# Output: data_cache/default_dataset_v3 (git-ignored). ~5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
packages="mate-backgrounds plasma-workspace-wallpapers lomiri-wallpapers-16.04"
if ! dpkg -s $packages >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi
photos=data_cache/default_photos_v3
rm -rf "$photos" data_cache/default_dataset_v3 && mkdir -p "$photos"
# MATE nature photos (GPL-2+, /usr/share/doc/mate-backgrounds/copyright)
for f in Dune Garden GreenMeadow Storm; do cp "/usr/share/backgrounds/mate/nature/$f.jpg" "$photos/mate-$f.jpg"; done
# Plasma photo wallpapers (largest size of each; licences in /usr/share/doc/plasma-workspace-wallpapers/copyright)
for name in DarkestHour EveningGlow Kite Path summer_1am; do
  largest=$(ls -S /usr/share/wallpapers/$name/contents/images/* | head -1)
  cp "$largest" "$photos/plasma-$name.${largest##*.}"
done
# Lomiri (Ubuntu Touch 16.04) landscape photos by Aitzol Berasategi (CC-BY-4.0, /usr/share/doc/lomiri-wallpapers-16.04/copyright)
for f in aitzgorri life picosdeeuropa sunset; do cp "/usr/share/backgrounds/${f}_by_Aitzol_Berasategi.jpg" "$photos/lomiri-$f.jpg"; done
.venv/bin/python -m pix2pix_hub make-dataset --kind landscape --input "$photos" --output data_cache/default_dataset_v3 \
  --size 256 --crops-per-image 40 --seed 0
