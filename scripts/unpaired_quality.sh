#!/usr/bin/env bash
# CycleGAN vs CUT on an unpaired task whose true pairs are known (README, "Unpaired quality").
# Segment paintings -> photos made by make-dataset from the Debian wallpaper photos (as the default model's
# data), split by photo: 14 photos train, 3 are held out. Training sees the two domains unpaired (trainA/ and
# trainB/ hold the paintings and the photos under shuffled names, and the loader pairs them at random);
# `evaluate` then scores each generator on the held-out photos' true pairs (PSNR/SSIM of G(A) vs B).
# Usage: bash scripts/unpaired_quality.sh [STEPS] [SIZE] [NGF]      (defaults: 1500 steps, 64 px, ngf 16)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-1500} size=${2:-64} ngf=${3:-16}
work=data_cache/unpaired_quality
py=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # one thread per run: steadier on a shared machine
packages="mate-backgrounds plasma-workspace-wallpapers"
if ! dpkg -s $packages >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
fi
rm -rf "$work" && mkdir -p "$work/photos/train" "$work/photos/test"
for f in Aqua Dune Garden GreenMeadow Storm Wood; do cp "/usr/share/backgrounds/mate/nature/$f.jpg" "$work/photos/train/mate-$f.jpg"; done
for name in Autumn BytheWater ColdRipple DarkestHour EveningGlow FallenLeaf Kite OneStandsOut PastelHills Path summer_1am; do
  largest=$(ls -S /usr/share/wallpapers/$name/contents/images/* | head -1)
  cp "$largest" "$work/photos/train/plasma-$name.${largest##*.}"
done
for held_out in mate-Storm plasma-Kite plasma-PastelHills; do mv "$work/photos/train/$held_out".* "$work/photos/test/"; done
$py -m pix2pix_hub make-dataset --kind segments --input "$work/photos/train" --output "$work/pairs_train" --size "$size" --crops-per-image 16 --seed 0
$py -m pix2pix_hub make-dataset --kind segments --input "$work/photos/test" --output "$work/pairs_test" --size "$size" --crops-per-image 16 --seed 1
# unpaired layout: every training painting in trainA/, every training photo in trainB/ under a shuffled name;
# the held-out true pairs as an aligned test/ split for evaluate
$py - "$work" <<'EOF'
import random, sys
from pathlib import Path
from PIL import Image
work = Path(sys.argv[1])
pairs = sorted((work / "pairs_train").glob("*/*.png"))
names = list(range(len(pairs)))
random.Random(0).shuffle(names)
for folder in ("unpaired/trainA", "unpaired/trainB", "heldout/test"):
    (work / folder).mkdir(parents=True)
for i, (path, shuffled) in enumerate(zip(pairs, names)):
    pair = Image.open(path)
    w = pair.width // 2
    pair.crop((0, 0, w, pair.height)).save(work / "unpaired" / "trainA" / f"{i:04d}.png")
    pair.crop((w, 0, 2 * w, pair.height)).save(work / "unpaired" / "trainB" / f"{shuffled:04d}.png")
for i, path in enumerate(sorted((work / "pairs_test").glob("*/*.png"))):
    Image.open(path).save(work / "heldout" / "test" / f"{i:04d}.png")
print(f"{len(pairs)} unpaired training images per domain, {i + 1} held-out true pairs")
EOF
common=(--dataset "$work/unpaired" --resolution "$size" --load_size $((size * 9 / 8)) --ngf "$ngf" --ndf "$ngf"
        --netG resnet_6blocks --max_steps "$steps" --checkpointing_steps "$steps" --validation_steps "$steps"
        --report_to none --validation_split train)
for model in cyclegan cut; do
  /usr/bin/time -f "$model: %e s wall, %U s user CPU" nice -n 5 $py train.py --model "$model" "${common[@]}" --output_dir "$work/$model"
done
$py -m pix2pix_hub evaluate --model "$work/cyclegan" --direction AtoB --dataset "$work/heldout" --output "$work/eval_cyclegan"
$py -m pix2pix_hub evaluate --model "$work/cut" --dataset "$work/heldout" --output "$work/eval_cut"
