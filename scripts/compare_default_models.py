"""Side by side on the app's example paintings: painting | one model's output | another's, and each output's
checkerboard score (pix2pix_hub.evaluation.metrics.checkerboard_score, dB) and detail inside the painted regions
(region_detail: ~1 for a tinted copy, landscape photos ~7). Used for the default model's card:
`python scripts/compare_default_models.py OLD_MODEL NEW_MODEL --output models/default/comparison.png`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, no install needed

from pix2pix_hub import ImageTranslator
from pix2pix_hub.data.images import image_grid, pil_to_tensor
from pix2pix_hub.evaluation.metrics import checkerboard_score, region_detail

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="+", help="model folders, one column each, left to right")
    parser.add_argument("--output", required=True, help="PNG to write")
    args = parser.parse_args()
    translators = [ImageTranslator.from_pretrained(model, device="cpu") for model in args.models]
    rows = []
    for path in sorted(EXAMPLES.glob("*.png")):
        painting = Image.open(path).convert("RGB")
        outputs = [translator(painting) for translator in translators]
        scores = ", ".join(f"{model} {checkerboard_score(np.asarray(o)):.1f} dB, detail {region_detail(painting, o):.1f}"
                           for model, o in zip(args.models, outputs))
        print(f"{path.stem}: {scores}")
        rows.append([pil_to_tensor(image) for image in (painting, *outputs)])
    image_grid(rows).save(args.output)


if __name__ == "__main__":
    main()
