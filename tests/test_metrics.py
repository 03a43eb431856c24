"""pix2pix_hub.evaluation.metrics: the spectral checkerboard score and region detail (the paired metrics: test_evaluate)."""
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from pix2pix_hub.evaluation.metrics import checkerboard_score, region_detail

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "meadow.png"


def test_checkerboard_score_sees_a_faint_grid_and_not_a_painting():
    painting = np.asarray(Image.open(EXAMPLE).convert("RGB").filter(ImageFilter.GaussianBlur(1)), np.float64)
    y, x = np.mgrid[:256, :256]
    grid = 3.0 * np.cos(np.pi * x / 2) * np.cos(np.pi * y / 2)  # a 4-px checkerboard, +-3 of 255: barely visible
    assert checkerboard_score(painting) < 10
    assert checkerboard_score(painting + grid[:, :, None]) > 20
    assert checkerboard_score(painting + np.cos(np.pi * x)[:, :, None] * 3) > 20  # the 2-px (Nyquist) stripe
    assert checkerboard_score(np.zeros((64, 64))) == 0  # flat: no peak, no division by zero


def test_region_detail_counts_texture_inside_regions_not_a_copy_or_a_grid():
    painting = np.asarray(Image.open(EXAMPLE).convert("RGB"), np.float64)
    rng = np.random.default_rng(0)
    clumps = np.asarray(Image.fromarray(rng.uniform(0, 255, (256, 256)).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(2)), np.float64)
    textured = painting + (clumps - clumps.mean())[:, :, None] * 1.5
    y, x = np.mgrid[:256, :256]
    gridded = painting + 6.0 * (np.cos(np.pi * x / 2) * np.cos(np.pi * y / 2))[:, :, None]
    tinted = painting * 0.8 + 20
    assert region_detail(painting, tinted) < 1.5  # the tinted copy: the failing contrast
    assert region_detail(painting, gridded) < 1.5
    assert region_detail(painting, textured) > 5
    assert region_detail(np.zeros((64, 64, 3)), np.zeros((64, 64, 3))) == 0
