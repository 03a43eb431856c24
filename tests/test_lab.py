"""pix2pix_hub/data/lab.py against scikit-image's rgb2lab/lab2rgb (what the reference's colorization uses)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import skimage.color
import skimage.data
import torch

from pix2pix_hub.data.lab import lab_to_rgb, model_to_rgb, rgb_to_lab, rgb_to_model


def nchw(image: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(dtype)


def hwc(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].permute(1, 2, 0).double().numpy()


def test_rgb_to_lab_is_skimage():
    rng = np.random.default_rng(0)
    photo = skimage.data.astronaut()[::8, ::8] / 255.0
    # a photo, random colours, the linear/gamma and cube-root/linear branch points, black, white, primaries
    edges = np.array([0.0, 0.04045, 0.0405, 1.0, 0.5, 0.002])[None, :, None].repeat(3, 2)
    primaries = np.eye(3)[None]
    for image in (photo, rng.random((16, 16, 3)), edges, primaries):
        expected = skimage.color.rgb2lab(image)
        # float64 both: a dozen operations on values up to 100 (L) round by ~1e-13; another white point, gamma
        # or branch point moves Lab by more than 0.01
        assert np.abs(hwc(rgb_to_lab(nchw(image))) - expected).max() < 1e-10
        # float32 (on the GPU): the cube root's slope at the linear branch (~1/(3·0.2)) times Lab's scale (116, 500)
        # on a few float32 ulps: a few 1e-4
        assert np.abs(hwc(rgb_to_lab(nchw(image, torch.float32))) - expected).max() < 1e-3


def test_lab_to_rgb_is_skimage_including_out_of_gamut():
    rng = np.random.default_rng(1)
    lab = np.stack([rng.uniform(0, 100, (20, 20)), rng.uniform(-110, 110, (20, 20)), rng.uniform(-110, 110, (20, 20))], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about the negative Z it clips
        expected = skimage.color.lab2rgb(lab)
    ours = hwc(lab_to_rgb(nchw(lab)))
    assert np.abs(ours - expected).max() < 1e-10  # float64 both, RGB in [0, 1]: rounding ~1e-15 per operation
    assert (expected == 0).any() and (expected == 1).any()  # the clipping branches were exercised


def test_the_reference_scaling_and_round_trip():
    photo = skimage.data.coffee()[::16, ::16]
    rgb = nchw(photo / 127.5 - 1.0, torch.float32)  # what the data loader gives
    lightness, ab = rgb_to_model(rgb)
    lab = skimage.color.rgb2lab(photo).astype(np.float32)  # the reference's ColorizationDataset
    # our float32 Lab against skimage's float64 one rounded to float32, both scaled to [-1, 1]: a few float32
    # ulps of L (100) and ab (110) over the scale, ~1e-5; the reference's /50 and /110 wrong would be off by 0.1
    assert np.abs(hwc(lightness)[..., 0] - (lab[..., 0] / 50.0 - 1.0)).max() < 1e-4
    assert np.abs(hwc(ab) - lab[..., 1:] / 110.0).max() < 1e-4
    assert lightness.shape[1] == 1 and ab.shape[1] == 2 and lightness.min() >= -1 and lightness.max() <= 1
    back = model_to_rgb(lightness, ab)
    # in gamut: exact up to float32 - Lab -> RGB amplifies L's float32 rounding by the gamma curve's slope (12.92)
    # and ab's (scale 110) by the matrix: ~1e-4 at most; a wrong matrix or white point is off by > 0.01
    assert torch.allclose(back, rgb, atol=2e-4)
    gray = model_to_rgb(lightness, torch.zeros_like(ab))
    # a = b = 0 is grey: R, G, B from one L through three rows of the matrix, equal up to float32 rounding (as above)
    assert torch.allclose(gray[:, 0], gray[:, 1], atol=1e-4) and torch.allclose(gray[:, 1], gray[:, 2], atol=1e-4)


@pytest.mark.parametrize("device_dtype", [torch.float32, torch.bfloat16])
def test_low_precision_inputs_are_computed_in_float32(device_dtype):
    rgb = torch.rand(1, 3, 8, 8).to(device_dtype) * 2 - 1
    lightness, ab = rgb_to_model(rgb)
    assert lightness.dtype == torch.float32 and ab.dtype == torch.float32
