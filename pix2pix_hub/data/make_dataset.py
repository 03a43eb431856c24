"""Make a paired sketch -> photo dataset from a folder of photos: `python -m pix2pix_hub make-dataset`.

kind "segments": flat regions in a few crayon colours (SEGMENT_PALETTE), like a child's painting —
    the photo is smoothed, each pixel snapped to the nearest palette colour, and small regions merged.
kind "landscape": the same crayons, each region painted by what it shows (SEGMENT_MEANINGS: sky, water,
    grass, rock...: hue/saturation/value rules, sky vs water by a region's place), so a yellowish meadow is grass
    and a grey-teal lake water, not earth and rock; fewer, larger regions, like a person paints. What the default
    demo model is trained on.
kind "edges": clean black lines on white, like a pen sketch (Canny with thresholds from the median).
Output is the reference's aligned layout: DIR/train/*.png and DIR/val/*.png, each sketch|photo.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..errors import DataError, command
from ..output_files import MANIFEST, WrittenFiles, check_apart, check_writable_folder
from .images import IMAGE_SUFFIXES, BadImageError, open_image
from .palette import SEGMENT_PALETTE, palette_array


def to_segments(photo: np.ndarray, smoothing: int = 9) -> np.ndarray:
    """RGB uint8 photo -> the same size painted in SEGMENT_PALETTE colours."""
    palette = palette_array()
    smooth = cv2.pyrMeanShiftFiltering(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), 10, 28)
    lab = cv2.cvtColor(smooth, cv2.COLOR_BGR2LAB).astype(np.float32)
    palette_lab = cv2.cvtColor(palette[None, :, ::-1].copy(), cv2.COLOR_BGR2LAB).astype(np.float32)[0]
    distances = ((lab[:, :, None, :] - palette_lab[None, None]) ** 2).sum(-1)
    return palette[_mode_filter(distances.argmin(-1), smoothing, len(palette))]


def _mode_filter(labels: np.ndarray, width: int, count: int) -> np.ndarray:
    """Each pixel takes the most common of labels 0..count-1 in the width x width box around it: flat, blobby regions."""
    votes = np.stack([cv2.boxFilter((labels == k).astype(np.float32), -1, (width, width)) for k in range(count)], -1)
    return votes.argmax(-1)


# Provisional classes: the palette's names, and two that a region's place decides (see _by_place).
_CLASSES = [*SEGMENT_PALETTE, "sky_or_water", "sunset_or_earth"]


def _colour_classes(smooth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel, what its colour says it is (hue, saturation, value rules; the first that matches wins)."""
    hsv = cv2.cvtColor(smooth, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    h, s, v = hsv[..., 0] * (360 / 256), hsv[..., 1] / 255, hsv[..., 2] / 255
    # Yellow (45-55 degrees) is dry grass or reeds, not the meadow a green crayon means: earth (or sand).
    red, orange, yellow = (h < 18) | (h >= 330), (h >= 18) & (h < 45), (h >= 45) & (h < 55)
    green, blue = (h >= 55) & (h < 170), (h >= 170) & (h < 265)
    neutral = (s < 0.16) | ((s < 0.26) & (v > 0.85))
    rules = [
        ((v < 0.2) & ~(green & (s > 0.3) & (v > 0.1)), "night"),   # dark, but not a shaded forest
        (neutral & (v > 0.78), "cloud"),                             # white: cloud, haze, snow
        (neutral | (blue & (s < 0.28) & (v < 0.7)), "rock"),         # grey stone, hazy far hills, gravel
        ((red | (h >= 290)) & (s > 0.45) & (v > 0.35), "flower"),
        ((orange | yellow) & (v > 0.78) & (s < 0.45), "sand"),
        (green & (v > 0.42), "grass"),
        (green, "forest"),
        (blue | (h >= 265), "sky_or_water"),
        (orange | red, "sunset_or_earth"),
        (yellow, "earth"),
    ]
    labels = np.full(h.shape, _CLASSES.index("rock"))
    for mask, name in reversed(rules):
        labels[mask] = _CLASSES.index(name)
    return labels, s, v


def _by_place(labels: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A blue region touching the top or centred in the upper half is sky, else water; a warm, bright and
    saturated one up there is an evening sky, else bare ground. Decided per region, so no line is drawn."""
    out, height = labels.copy(), labels.shape[0]
    for name, high_name, low_name in (("sky_or_water", "sky", "water"), ("sunset_or_earth", "sunset", "earth")):
        count, regions, stats, centroids = cv2.connectedComponentsWithStats((labels == _CLASSES.index(name)).astype(np.uint8))
        for i in range(1, count):
            region = regions == i
            high = stats[i, cv2.CC_STAT_TOP] == 0 or centroids[i, 1] < 0.45 * height
            if name == "sunset_or_earth":
                high = high and v[region].mean() > 0.45 and s[region].mean() > 0.3
            out[region] = _CLASSES.index(high_name if high else low_name)
    return out


def _merge_small(labels: np.ndarray, min_area: int) -> np.ndarray:
    """Regions under min_area pixels take the label of the nearest pixel of a region that is kept."""
    keep = np.ones(labels.shape, bool)
    for k in np.unique(labels):
        _, regions, stats, _ = cv2.connectedComponentsWithStats((labels == k).astype(np.uint8), connectivity=4)
        small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_area)
        keep &= ~np.isin(regions, small[small > 0])
    if keep.all() or not keep.any():
        return labels
    # Each zero of the source is a seed; every pixel gets the index of its nearest seed.
    _, nearest = cv2.distanceTransformWithLabels((~keep).astype(np.uint8), cv2.DIST_L2, 5,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    seed_labels = np.zeros(nearest.max() + 1, labels.dtype)
    seed_labels[nearest[keep]] = labels[keep]
    return seed_labels[nearest]


def to_landscape_segments(photo: np.ndarray) -> np.ndarray:
    """RGB uint8 photo -> the same size painted in SEGMENT_PALETTE colours, each region by what it shows
    (SEGMENT_MEANINGS): colour rules, then sky vs water by place, then a mode filter and small regions merged,
    so a painting is a few flat blobs like a person paints."""
    side = min(photo.shape[:2])
    smooth = cv2.pyrMeanShiftFiltering(photo[:, :, ::-1].copy(), max(10, side // 16), 28)[:, :, ::-1].copy()
    # Sky vs water is decided before the mode filter, while a thin horizon (land, a far shore) still parts them.
    labels = _by_place(*_colour_classes(smooth))
    labels = _mode_filter(labels, max(9, side // 20) | 1, len(SEGMENT_PALETTE))
    labels = _merge_small(labels, int(0.004 * photo.shape[0] * photo.shape[1]))
    return palette_array()[labels]


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
                        crops_per_image: int = 12, val_fraction: float = 0.05, seed: int = 0,
                        overwrite: bool = False) -> dict[str, int]:
    """Write DIR/train and DIR/val aligned sketch|photo pairs; returns counts per split, of photos that could not
    be read ("skipped") and of other files left out by type ("ignored"). An output folder inside the input
    folder is not read (a second run must not take the first one's pairs for photos); a file in the way that
    an earlier run did not write stops it before anything is written, unless `overwrite`."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise DataError(f"--input {input_dir}: no such folder")
    check_writable_folder(output_dir)
    check_apart(input_dir, output_dir)
    outside = output_dir.resolve()
    files = [p for p in sorted(input_dir.rglob("*")) if p.is_file() and outside not in p.resolve().parents]
    photos = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not photos:
        raise DataError(f"{input_dir}: no photos found ({', '.join(sorted(IMAGE_SUFFIXES))})")
    sketch = {"segments": to_segments, "landscape": to_landscape_segments, "edges": to_edges}[kind]
    rng = np.random.default_rng(seed)
    counts = {"train": 0, "val": 0, "skipped": 0, "ignored": len([p for p in files if p.name != MANIFEST]) - len(photos)}
    written = WrittenFiles(output_dir)
    written.refuse_others([output_dir / split / f"{photo.stem}_{index:03d}.png" for photo in photos
                           for split in ("train", "val") for index in range(crops_per_image)], overwrite)
    for split in ("train", "val"):
        (output_dir / split).mkdir(parents=True, exist_ok=True)
    for photo_path in photos:
        try:
            photo = open_image(photo_path, max_side=2048)
        except BadImageError as error:
            print(f"skipping {error}")
            counts["skipped"] += 1
            continue
        for index, crop in enumerate(crops(photo, size, crops_per_image, rng)):
            array = np.asarray(crop)
            pair = np.concatenate([sketch(array), array], axis=1)
            split = "val" if rng.random() < val_fraction else "train"
            target = output_dir / split / f"{photo_path.stem}_{index:03d}.png"
            Image.fromarray(pair).save(target)
            written.record(target)
            counts[split] += 1
    return counts


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pix2pix_hub make-dataset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("segments", "landscape", "edges"), default="segments")
    parser.add_argument("--input", required=True, help="folder of photos (searched recursively)")
    parser.add_argument("--output", required=True, help="dataset folder to write (train/ and val/)")
    parser.add_argument("--size", type=int, default=256, help="side of each half of a pair")
    parser.add_argument("--crops-per-image", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files in --output that an earlier make-dataset did not write (by default that stops it)")
    args = parser.parse_args(argv)
    counts = make_paired_dataset(args.input, args.output, args.kind, args.size, args.crops_per_image, seed=args.seed,
                                 overwrite=args.overwrite)
    line = f"wrote {counts['train']} train and {counts['val']} val pairs to {args.output}"
    if counts["skipped"]:
        line += f"; skipped {counts['skipped']} photo(s) that could not be read"
    if counts["ignored"]:
        line += f"; ignored {counts['ignored']} file(s) that are not images ({', '.join(sorted(IMAGE_SUFFIXES))})"
    print(line)
    return 0
