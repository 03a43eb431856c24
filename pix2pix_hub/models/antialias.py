"""Anti-aliased down- and upsampling (Zhang, "Making Convolutional Networks Shift-Invariant Again", 2019).

CUT's generator and discriminator blur before subsampling (a stride-1 conv, then `Downsample`) and upsample
with a fixed blur instead of a learned transposed conv (`Upsample`, then a 3x3 conv). The filters are buffers
named `filt`, so state_dicts have CUT's keys (`model.7.filt`, ...) and its checkpoints load as they are.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def binomial_filter(size: int) -> torch.Tensor:
    """The normalised outer product of a row of Pascal's triangle: [1, 2, 1] for 3, [1, 3, 3, 1] for 4."""
    row = torch.tensor([math.comb(size - 1, k) for k in range(size)], dtype=torch.float32)
    kernel = row[:, None] * row[None, :]
    return kernel / kernel.sum()


class Downsample(nn.Module):
    """Halve the resolution: reflect-pad by 1, blur with the 3x3 binomial filter per channel, keep every second pixel."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", binomial_filter(3).expand(channels, 1, 3, 3).clone())
        self.pad = nn.ReflectionPad2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.pad(x), self.filt.to(x.dtype), stride=2, groups=x.shape[1])


class Upsample(nn.Module):
    """Double the resolution: replicate-pad by 1, then a stride-2 transposed conv with the 4x4 binomial filter
    (x4, so a constant image stays constant), cropped back to exactly twice the input size."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("filt", (binomial_filter(4) * 4).expand(channels, 1, 4, 4).clone())
        self.pad = nn.ReplicationPad2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.conv_transpose2d(self.pad(x), self.filt.to(x.dtype), stride=2, padding=2, groups=x.shape[1])
        return up[:, :, 1:-1, 1:-1]  # (2H + 2) -> 2H: the padding's extra rows and columns
