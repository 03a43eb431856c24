#!/usr/bin/env bash
# Build the default demo model's dataset (landscape photos -> flat-colour "segments" paintings) from
# freely licensed Debian wallpaper packages. Output: data_cache/default_dataset (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
packages="mate-backgrounds plasma-workspace-wallpapers"
if ! dpkg -s $packages >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
fi
photos=data_cache/default_photos
rm -rf "$photos" data_cache/default_dataset && mkdir -p "$photos"
# MATE nature photos (GPL-2+, /usr/share/doc/mate-backgrounds/copyright)
for f in Aqua Dune Garden GreenMeadow Storm Wood; do cp "/usr/share/backgrounds/mate/nature/$f.jpg" "$photos/mate-$f.jpg"; done
# Plasma photo wallpapers (largest size of each; licences in /usr/share/doc/plasma-workspace-wallpapers/copyright)
for name in Autumn BytheWater ColdRipple DarkestHour EveningGlow FallenLeaf Kite OneStandsOut PastelHills Path summer_1am; do
  largest=$(ls -S /usr/share/wallpapers/$name/contents/images/* | head -1)
  cp "$largest" "$photos/plasma-$name.${largest##*.}"
done
.venv/bin/python -m pix2pix_hub make-dataset --kind segments --input "$photos" --output data_cache/default_dataset \
  --size 256 --crops-per-image 24 --seed 0
