"""Tiled translation (tiling.py): the grid, the blending window, whole-image statistics for InstanceNorm, and
tiles against the whole image on tiny nets (the 1024² ResNet-9 figures are in the benchmark)."""


import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmarks.highres import low_pass as smooth  # low-pass random weights: a seam or colour step shows
from pix2pix_hub.inference import tiling
from pix2pix_hub.models import build_generator, init_weights

from bounds import EPS32, assert_float32_close, depth_of


def tiny(netG="resnet_2blocks", norm="instance", seed=0, channels=3):
    torch.manual_seed(seed)
    return init_weights(build_generator(netG, channels, channels, ngf=8, norm=norm, use_dropout=False)).eval()


def photo_like(height, width, seed=0):
    """Smooth colour fields at several scales plus hard-edged shapes: what tiles must agree on."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for cells in (2, 5, 13):
        coarse = torch.from_numpy(rng.random((1, 3, cells, cells), dtype=np.float32))
        image += F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()
    image /= 3
    for _ in range(6):
        y, x = rng.integers(0, height), rng.integers(0, width)
        image[y:y + height // 5, x:x + width // 6] = rng.random(3)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def whole(generator, image):
    with torch.inference_mode():
        plan = tiling.plan_tiles(*image.shape[:2], generator.size_multiple)
        return tiling.translate_tiles(generator, image, 255, plan, 3, np.float32)


def tiled(generator, image, tile, overlap=None, stats="thumbnail"):
    plan = tiling.plan_tiles(*image.shape[:2], generator.size_multiple, tile, overlap)
    with torch.inference_mode():
        if stats == "thumbnail":
            frozen = tiling.thumbnail_statistics(generator, image, 255, max(image.shape), generator.size_multiple)
            if frozen is not None:
                return tiling.translate_tiles(tiling.FrozenStatistics(generator), image, 255, plan, 3, np.float32, frozen)
        return tiling.translate_tiles(generator, image, 255, plan, 3, np.float32)


@pytest.mark.parametrize("canvas,tile,overlap,multiple", [(1024, 256, 96, 4), (1000, 256, 64, 4), (1792, 512, 96, 256),
                                                          (300, 300, 0, 4), (260, 256, 128, 4)])
def test_grid_covers_the_canvas_and_weights_sum_to_one(canvas, tile, overlap, multiple):
    size, starts = tiling.axis_starts(canvas, tile, overlap, multiple)
    assert starts[0] == 0 and starts[-1] + size == canvas
    assert all(s % multiple == 0 for s in starts)
    assert all(b - a <= size - min(overlap, size - multiple) for a, b in zip(starts, starts[1:]))
    weights = tiling.axis_weights(starts, size)
    total = tiling.axis_weight_sum(starts, size, canvas, weights)
    # a partition of unity: float32 sums of at most 3 weights in [0, 1] round by under 4 ulps of 1; a missing or
    # doubled tile would be off by a whole weight
    np.testing.assert_allclose(total, 1.0, atol=4 * EPS32)
    if len(starts) > 1:  # the outer quarter of a shared strip is not used
        assert weights[1][: (starts[0] + size - starts[1]) // 4].max() == 0


def test_ramp_is_smooth_and_symmetric():
    r = tiling.ramp(96)
    np.testing.assert_allclose(r + r[::-1], 1.0, atol=4 * EPS32)  # sin² + cos² = 1, each rounded to float32
    assert r[0] == 0 and r[-1] == 1 and np.all(np.diff(r) >= 0) and np.abs(np.diff(r)).max() < 0.04


def test_reflect_index_matches_torch_reflect_padding():
    row = torch.arange(10.0).view(1, 1, 1, 10)
    padded = F.pad(row, (0, 6, 0, 0), mode="reflect")[0, 0, 0].numpy()
    np.testing.assert_array_equal(np.arange(10.0)[tiling.reflect_index(0, 16, 10)], padded)
    assert tiling.reflect_index(0, 8, 3).tolist() == [0, 1, 2, 1, 0, 0, 0, 0]  # too short: replicated


def test_area_downscale_is_the_block_mean():
    image = np.random.default_rng(0).integers(0, 65536, (37, 50, 3)).astype(np.uint16)
    small = tiling.area_downscale(image, 4, band_rows=8)
    expected = image[:36, :48].astype(np.float64).reshape(9, 4, 12, 4, 3).mean((1, 3))
    # float32 means of 16 values: each sum step rounds by 1 ulp, so at most 16 ulps against float64's mean
    np.testing.assert_allclose(small, expected, rtol=16 * EPS32)


def test_frozen_statistics_of_the_same_input_reproduce_the_generator():
    generator = tiny()
    frozen = tiling.FrozenStatistics(generator)
    assert len(frozen.layers) == 2 + 2 + 2 * 2 + 2 - 1  # first conv, 2 downs, 2 blocks x 2, 2 ups
    x = torch.rand(1, 3, 40, 52) * 2 - 1
    with torch.inference_mode():
        assert_float32_close(frozen(x, *frozen.extra_inputs(x)), generator(x), depth_of(generator), "frozen statistics")
    assert not tiling.norm_layers(tiny("unet_32", "batch"))  # BatchNorm in eval: nothing to freeze
    assert tiling.norm_layers(tiny("unet_32", "batch").train())  # ... in the reference's train-mode test: frozen too


def test_instance_norm_tiles_match_the_whole_image_and_per_tile_statistics_do_not():
    generator = smooth(tiny())
    image = photo_like(128, 160)
    reference = whole(generator, image)
    good = np.abs(tiled(generator, image, 96, 48) - reference) * 255
    assert good.max() <= 4 and good.mean() <= 0.5, (good.max(), good.mean())
    bad = np.abs(tiled(generator, image, 96, 48, stats=None) - reference) * 255  # each tile its own statistics
    assert bad.max() > 4 and bad.mean() > 0.5, (bad.max(), bad.mean())


def test_batch_norm_tiles_need_no_statistics():
    generator = tiny("unet_32", "batch")
    with torch.no_grad():  # running statistics from inputs, as after training
        for module in generator.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = None
        generator.train()(torch.rand(4, 3, 64, 64) * 2 - 1)
    generator.eval()
    image = photo_like(96, 160)
    difference = np.abs(tiled(generator, image, 128, overlap=64) - whole(generator, image)) * 255
    assert difference.mean() <= 0.5 and difference.max() <= 4


def test_no_seam_on_a_smooth_input():
    """Gradient energy where tiles meet is within 1.1x of the rest; tiles that only abut, each with its own
    statistics, show their seams (the contrast)."""
    generator = smooth(tiny())
    y, x = np.mgrid[0:160, 0:160].astype(np.float32) / 160
    image = np.stack([0.3 + 0.4 * x, 0.5 + 0.3 * np.sin(3 * y), 0.6 - 0.3 * x * y], -1)
    image = np.rint(image * 255).astype(np.uint8)
    blended = tiled(generator, image, 64, 32)
    assert tiling.seam_ratio(blended, tiling.plan_tiles(160, 160, 4, 64, 32)) <= 1.1
    abutting = tiling.plan_tiles(160, 160, 4, 64, 0)
    assert tiling.seam_ratio(tiled(generator, image, 64, 0, stats=None), abutting) > 2


def test_auto_tile_from_a_memory_budget():
    generator = tiny("resnet_9blocks")
    per_pixel = tiling.activation_bytes_per_pixel(generator, 3)
    assert 8 * 4 * 3 <= per_pixel <= 8 * 4 * 12  # ngf 8 float32 channels at full resolution, a few held at once
    assert tiling.auto_tile(per_pixel, 256, 256, 4, budget=per_pixel * 256 * 256) is None
    side = tiling.auto_tile(per_pixel, 1024, 1024, 4, budget=per_pixel * 300 * 300)
    assert side % 4 == 0 and 296 <= side <= 300
