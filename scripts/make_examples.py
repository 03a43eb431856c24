"""Draw the app's example sketches (examples/*.png): quick paintings in the default model's crayon colours,
the kind of thing a person paints in ten seconds. Deterministic: `python scripts/make_examples.py`."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, no install needed

from pix2pix_hub.data.palette import SEGMENT_PALETTE as C  # noqa: E402

SIZE = 256
OUT = Path(__file__).resolve().parent.parent / "examples"


def wobbly(points: list[tuple[float, float]], rng: random.Random, jitter: float = 4) -> list[tuple[float, float]]:
    """A hand-drawn edge: extra points along each segment, nudged a little."""
    out = []
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        for t in (0, 0.25, 0.5, 0.75):
            out.append((x0 + (x1 - x0) * t + rng.uniform(-jitter, jitter), y0 + (y1 - y0) * t + rng.uniform(-jitter, jitter)))
    return out


def band(top: list[tuple[float, float]], bottom: float = SIZE + 10) -> list[tuple[float, float]]:
    """The region under a skyline given left to right."""
    return [(-10, bottom)] + top + [(SIZE + 10, bottom)]


def blob(cx: float, cy: float, rx: float, ry: float, rng: random.Random) -> list[tuple[float, float]]:
    import math
    return [(cx + rx * math.cos(a) * rng.uniform(0.8, 1.1), cy + ry * math.sin(a) * rng.uniform(0.8, 1.1))
            for a in [i * 2 * math.pi / 14 for i in range(14)]]


def paint(shapes: list[tuple[str, list]], seed: int) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(image)
    for colour, points in shapes:
        draw.polygon(wobbly(points, rng), fill=C[colour])
    return image.filter(ImageFilter.ModeFilter(5))  # soften the corners a brush would not make


def examples() -> dict[str, Image.Image]:
    r = random.Random(0)
    return {
        "mountain_lake": paint([
            ("sky", band([(-10, -10), (SIZE + 10, -10)])),
            ("cloud", blob(70, 40, 40, 14, r)), ("cloud", blob(190, 60, 30, 10, r)),
            ("rock", band([(-10, 150), (60, 80), (110, 130), (170, 60), (SIZE + 10, 140)])),
            ("forest", band([(-10, 150), (80, 140), (160, 150), (SIZE + 10, 145)])),
            ("water", band([(-10, 175), (SIZE + 10, 172)])),
        ], 1),
        "meadow": paint([
            ("sky", band([(-10, -10), (SIZE + 10, -10)])),
            ("cloud", blob(150, 50, 50, 18, r)),
            ("forest", band([(-10, 120), (90, 105), (170, 118), (SIZE + 10, 110)])),
            ("grass", band([(-10, 140), (SIZE + 10, 130)])),
            ("flower", blob(60, 200, 18, 8, r)), ("flower", blob(180, 220, 22, 9, r)),
            ("earth", [(110, SIZE + 10), (128, 140), (136, 140), (170, SIZE + 10)]),
        ], 2),
        "sunset_beach": paint([
            ("sunset", band([(-10, -10), (SIZE + 10, -10)])),
            ("cloud", blob(60, 60, 35, 10, r)),
            ("night", band([(-10, -10), (SIZE + 10, -10)], bottom=40)),
            ("water", band([(-10, 140), (SIZE + 10, 135)])),
            ("sand", band([(-10, 200), (100, 185), (SIZE + 10, 195)])),
        ], 3),
    }


if __name__ == "__main__":
    for old in OUT.glob("sketch_*.png"):
        old.unlink()
    for name, image in examples().items():
        image.save(OUT / f"{name}.png", optimize=True)
        print("wrote", OUT / f"{name}.png")
