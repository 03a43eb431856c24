"""PatchGAN discriminators, parameter names identical to the reference's."""

from __future__ import annotations

import torch
from torch import nn

from .antialias import Downsample
from .base import norm_layer, uses_bias


class NLayerDiscriminator(nn.Module):
    """PatchGAN: `n_layers=3` classifies overlapping 70x70 patches as real or fake (logits map).

    `antialias` (CUT's default discriminator) replaces each stride-2 conv by a stride-1 conv and a blur-and-subsample.
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch", antialias: bool = False):
        super().__init__()
        make_norm, bias = norm_layer(norm), uses_bias(norm)

        def conv(c_in: int, c_out: int, downsample: bool, **kwargs) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 4, stride=2 if downsample and not antialias else 1, padding=1, **kwargs)]

        def after(channels: int, downsample: bool) -> list[nn.Module]:
            return [nn.LeakyReLU(0.2, True)] + ([Downsample(channels)] if downsample and antialias else [])

        layers: list[nn.Module] = [*conv(input_nc, ndf, True), *after(ndf, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            down = n < n_layers  # the last feature layer keeps the resolution
            layers += [*conv(ndf * prev, ndf * mult, down, bias=bias), make_norm(ndf * mult), *after(ndf * mult, down)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PixelGAN: judges each pixel's colour alone."""

    def __init__(self, input_nc: int, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), make_norm(ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
