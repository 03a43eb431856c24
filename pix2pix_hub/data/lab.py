"""sRGB <-> CIE Lab in torch, as scikit-image computes it (the reference's colorization uses skimage.color), and
the reference's scaling of L and ab for the networks.

sRGB (D65) -> linear RGB -> XYZ (the sRGB matrix) -> Lab with the D65 2° white point (0.95047, 1, 1.08883);
the inverse clips negative Z to 0 and the RGB result to [0, 1], as `skimage.color.lab2rgb`. The colorization
model sees L / 50 - 1 (in [-1, 1]) and predicts ab / 110 (about [-1, 1]), as the reference's
`ColorizationDataset` and `ColorizationModel.lab2rgb`. Tensors are NCHW; float64 inputs stay float64 (tests
compare with skimage to 1e-10), others are computed in float32.
"""

from __future__ import annotations

import torch
from torch import nn

XYZ_FROM_RGB = torch.tensor([[0.412453, 0.357580, 0.180423],
                             [0.212671, 0.715160, 0.072169],
                             [0.019334, 0.119193, 0.950227]], dtype=torch.float64)
RGB_FROM_XYZ = torch.linalg.inv(XYZ_FROM_RGB)
D65_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
L_SCALE, AB_SCALE = 50.0, 110.0  # the reference's: L / 50 - 1, ab / 110


def _float(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype == torch.float64 else x.float()


def _mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-pixel 3x3 matrix times the channel vector of NCHW `x`."""
    return torch.einsum("ij,njhw->nihw", matrix.to(x), x)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """NCHW sRGB in [0, 1] -> Lab (L in [0, 100], a and b about [-110, 110])."""
    rgb = _float(rgb)
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = _mix(XYZ_FROM_RGB, linear) / D65_WHITE.to(rgb).view(1, 3, 1, 1)
    f = torch.where(xyz > 0.008856, torch.pow(xyz.clamp_min(0), 1 / 3), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f[:, 0:1], f[:, 1:2], f[:, 2:3]
    return torch.cat([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """NCHW Lab -> sRGB in [0, 1] (out-of-gamut colours clipped, as skimage)."""
    lab = _float(lab)
    fy = (lab[:, 0:1] + 16.0) / 116.0
    fx = lab[:, 1:2] / 500.0 + fy
    fz = (fy - lab[:, 2:3] / 200.0).clamp_min(0)
    f = torch.cat([fx, fy, fz], dim=1)
    xyz = torch.where(f > 0.2068966, f ** 3, (f - 16.0 / 116.0) / 7.787) * D65_WHITE.to(lab).view(1, 3, 1, 1)
    linear = _mix(RGB_FROM_XYZ, xyz)
    rgb = torch.where(linear > 0.0031308, 1.055 * torch.pow(linear.clamp_min(0), 1 / 2.4) - 0.055, linear * 12.92)
    return rgb.clamp(0, 1)


def rgb_to_model(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """NCHW RGB in [-1, 1] (how images come out of the data loader) -> (L / 50 - 1, ab / 110)."""
    lab = rgb_to_lab((rgb + 1) / 2)
    return lab[:, :1] / L_SCALE - 1.0, lab[:, 1:] / AB_SCALE


def model_to_rgb(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """(L / 50 - 1, ab / 110) -> NCHW RGB in [-1, 1], so grids and outputs treat it as any other image."""
    lab = torch.cat([(_float(lightness) + 1.0) * L_SCALE, _float(ab) * AB_SCALE], dim=1)
    return lab_to_rgb(lab) * 2 - 1


class Colorizer(nn.Module):
    """A colorization generator (L -> ab) as an RGB -> RGB translator in [-1, 1]: a photo in, its own L with the
    predicted ab out (what evaluate compares with the photo)."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        lightness, _ = rgb_to_model(rgb)
        return model_to_rgb(lightness, self.generator(lightness))
