"""Tiny datasets with learnable structure, written by the tests in every supported layout.

B is a "photo" (coloured shapes on a gradient), A its "sketch" (flat label colours of the same shapes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

LABEL_COLOURS = [(255, 0, 0), (0, 160, 0), (0, 0, 255), (255, 200, 0)]


def make_pair(index: int, size: int = 64) -> tuple[Image.Image, Image.Image]:
    rng = np.random.default_rng(index)
    gradient = np.linspace(60, 200, size, dtype=np.float32)[:, None, None] * np.ones((1, size, 3), np.float32)
    photo = Image.fromarray((gradient + rng.normal(0, 8, (size, size, 3))).clip(0, 255).astype(np.uint8))
    sketch = Image.new("RGB", (size, size), (255, 255, 255))
    for shape in range(3):
        x0, y0 = rng.integers(0, size // 2, 2)
        box = [int(x0), int(y0), int(x0 + rng.integers(size // 6, size // 2)), int(y0 + rng.integers(size // 6, size // 2))]
        label = LABEL_COLOURS[int(rng.integers(len(LABEL_COLOURS)))]
        ImageDraw.Draw(sketch).rectangle(box, fill=label)
        ImageDraw.Draw(photo).rectangle(box, fill=tuple(int(c * 0.7 + 40) for c in label))
    return sketch, photo


def side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    joined = Image.new("RGB", (a.width + b.width, a.height))
    joined.paste(a, (0, 0))
    joined.paste(b, (a.width, 0))
    return joined


def make_aligned_folder(root: Path, n: int = 8, size: int = 64, splits=("train", "val")) -> Path:
    """The reference's aligned layout: root/{train,val}/*.jpg, each A|B side by side."""
    for s, split in enumerate(splits):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n if split == "train" else max(2, n // 4)):
            side_by_side(*make_pair(1000 * s + i, size)).save(root / split / f"{i:03d}.png")
    return root


def make_ab_folders(root: Path, n: int = 8, size: int = 64) -> Path:
    for sub in ("A", "B"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a, b = make_pair(i, size)
        a.save(root / "A" / f"{i:03d}.png")
        b.save(root / "B" / f"{i:03d}.jpg")
    return root


def make_unpaired_folders(root: Path, n_a: int = 6, n_b: int = 9, size: int = 64) -> Path:
    """The reference's unpaired layout: trainA/ trainB/ testA/ testB/ of different sizes."""
    for split, count_a, count_b in (("train", n_a, n_b), ("test", 2, 3)):
        for domain, count in (("A", count_a), ("B", count_b)):
            folder = root / f"{split}{domain}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                make_pair(i + (0 if domain == "A" else 500), size)[0 if domain == "A" else 1].save(folder / f"{i:03d}.png")
    return root


def make_metadata_folder(root: Path, n: int = 8, size: int = 64, columns=("imageA", "imageB")) -> Path:
    """A `datasets` imagefolder whose metadata.csv names two image columns."""
    (root / "train").mkdir(parents=True, exist_ok=True)
    lines = [f"{columns[0]}_file_name,{columns[1]}_file_name"]  # datasets' imagefolder convention
    for i in range(n):
        a, b = make_pair(i, size)
        a.save(root / "train" / f"a{i:03d}.png")
        b.save(root / "train" / f"b{i:03d}.png")
        lines.append(f"a{i:03d}.png,b{i:03d}.png")
    (root / "train" / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def make_parquet_dataset(root: Path, n: int = 8, size: int = 64) -> Path:
    """A Hub-style dataset repo: data/train-00000-of-00001.parquet with Image columns imageA, imageB."""
    import datasets

    pairs = [make_pair(i, size) for i in range(n)]
    dataset = datasets.Dataset.from_dict({"imageA": [a for a, _ in pairs], "imageB": [b for _, b in pairs]})
    dataset = dataset.cast_column("imageA", datasets.Image()).cast_column("imageB", datasets.Image())
    (root / "data").mkdir(parents=True, exist_ok=True)
    dataset.to_parquet(str(root / "data" / "train-00000-of-00001.parquet"))
    return root
