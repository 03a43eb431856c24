"""Make a paired sketch -> photo dataset from a folder of photos: `python -m pix2pix_hub make-dataset`.

kind "segments": flat regions in a few crayon colours (SEGMENT_PALETTE), like a child's painting —
    the photo is smoothed, each pixel snapped to the nearest palette colour, and small regions merged.
kind "edges": clean black lines on white, like a pen sketch (Canny with thresholds from the median).
Output is the reference's aligned layout: DIR/train/*.png and DIR/val/*.png, each sketch|photo.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .errors import DataError, command
from .images import IMAGE_SUFFIXES, BadImageError, open_image
from .palette import palette_array


def to_segments(photo: np.ndarray, smoothing: int = 9) -> np.ndarray:
    """RGB uint8 photo -> the same size painted in SEGMENT_PALETTE colours."""
    palette = palette_array()
    smooth = cv2.pyrMeanShiftFiltering(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), 10, 28)
    lab = cv2.cvtColor(smooth, cv2.COLOR_BGR2LAB).astype(np.float32)
    palette_lab = cv2.cvtColor(palette[None, :, ::-1].copy(), cv2.COLOR_BGR2LAB).astype(np.float32)[0]
    distances = ((lab[:, :, None, :] - palette_lab[None, None]) ** 2).sum(-1)
    labels = distances.argmin(-1)
    # Mode filter: each pixel takes the most common label around it, so regions are flat and blobby.
    votes = np.stack([cv2.boxFilter((labels == k).astype(np.float32), -1, (smoothing, smoothing))
                      for k in range(len(palette))], -1)
    return palette[votes.argmax(-1)]


def to_edges(photo: np.ndarray) -> np.ndarray:
    """RGB uint8 photo -> black lines on white, 2 px wide, small specks dropped."""
    grey = cv2.GaussianBlur(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), (5, 5), 1.4)
    median = float(np.median(grey))
    edges = cv2.Canny(grey, int(max(0, 0.66 * median)), int(min(255, 1.33 * median)))
    count, components, stats, _ = cv2.connectedComponentsWithStats(edges, connectivity=8)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= 12
    lines = cv2.dilate(keep[components].astype(np.uint8) * 255, np.ones((2, 2), np.uint8))
    return np.repeat((255 - lines)[:, :, None], 3, axis=2)


def crops(image: Image.Image, size: int, count: int, rng: np.random.Generator) -> list[Image.Image]:
    """`count` square crops at several scales (whole short side down to 40% of it), resized to size."""
    short = min(image.size)
    result = []
    for i in range(count):
        side = int(short * (1.0, 0.7, 0.5, 0.4)[i % 4])
        x = int(rng.integers(0, image.width - side + 1))
        y = int(rng.integers(0, image.height - side + 1))
        crop = image.crop((x, y, x + side, y + side)).resize((size, size), Image.LANCZOS)
        result.append(crop.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else crop)
    return result


def make_paired_dataset(input_dir: str | Path, output_dir: str | Path, kind: str = "segments", size: int = 256,
                        crops_per_image: int = 12, val_fraction: float = 0.05, seed: int = 0) -> dict[str, int]:
    """Write DIR/train and DIR/val aligned sketch|photo pairs; returns counts per split."""
    photos = sorted(p for p in Path(input_dir).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise DataError(f"{input_dir}: no photos found ({', '.join(sorted(IMAGE_SUFFIXES))})")
    sketch = {"segments": to_segments, "edges": to_edges}[kind]
    rng = np.random.default_rng(seed)
    counts = {"train": 0, "val": 0}
    for split in counts:
        (Path(output_dir) / split).mkdir(parents=True, exist_ok=True)
    for photo_path in photos:
        try:
            photo = open_image(photo_path, max_side=2048)
        except BadImageError as error:
            print(f"skipping {error}")
            continue
        for index, crop in enumerate(crops(photo, size, crops_per_image, rng)):
            array = np.asarray(crop)
            pair = np.concatenate([sketch(array), array], axis=1)
            split = "val" if rng.random() < val_fraction else "train"
            Image.fromarray(pair).save(Path(output_dir) / split / f"{photo_path.stem}_{index:03d}.png")
            counts[split] += 1
    return counts


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pix2pix_hub make-dataset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("segments", "edges"), default="segments")
    parser.add_argument("--input", required=True, help="folder of photos (searched recursively)")
    parser.add_argument("--output", required=True, help="dataset folder to write (train/ and val/)")
    parser.add_argument("--size", type=int, default=256, help="side of each half of a pair")
    parser.add_argument("--crops-per-image", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = make_paired_dataset(args.input, args.output, args.kind, args.size, args.crops_per_image, seed=args.seed)
    print(f"wrote {counts['train']} train and {counts['val']} val pairs to {args.output}")
    return 0
