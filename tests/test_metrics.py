"""pix2pix_hub.metrics: the spectral checkerboard score (the paired metrics are covered by test_evaluate)."""
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from pix2pix_hub.metrics import checkerboard_score

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "meadow.png"


def test_checkerboard_score_sees_a_faint_grid_and_not_a_painting():
    painting = np.asarray(Image.open(EXAMPLE).convert("RGB").filter(ImageFilter.GaussianBlur(1)), np.float64)
    y, x = np.mgrid[:256, :256]
    grid = 3.0 * np.cos(np.pi * x / 2) * np.cos(np.pi * y / 2)  # a 4-px checkerboard, +-3 of 255: barely visible
    assert checkerboard_score(painting) < 10
    assert checkerboard_score(painting + grid[:, :, None]) > 20
    assert checkerboard_score(painting + np.cos(np.pi * x)[:, :, None] * 3) > 20  # the 2-px (Nyquist) stripe
    assert checkerboard_score(np.zeros((64, 64))) == 0  # flat: no peak, no division by zero
