"""ResNet generator (CycleGAN, CUT), parameter names identical to the reference's and CUT's `ResnetGenerator`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from .antialias import Downsample, Upsample
from .base import Generator, norm_layer, uses_bias

PADDING = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, padding_type: str, norm: str, use_dropout: bool):
        super().__init__()
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        pad = (lambda: [PADDING[padding_type](1)]) if padding_type in PADDING else (lambda: [])
        conv_padding = 0 if padding_type in PADDING else 1
        layers = [*pad(), nn.Conv2d(dim, dim, 3, padding=conv_padding, bias=bias), make_norm(dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [*pad(), nn.Conv2d(dim, dim, 3, padding=conv_padding, bias=bias), make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(Generator):
    """CycleGAN generator: 7x7 conv, two stride-2 downsamplings, `n_blocks` residual blocks, two
    transposed-conv upsamplings, 7x7 conv, tanh. Inputs need sides divisible by 4.

    `antialias` (CUT's default) downsamples with a stride-1 conv followed by a blur-and-subsample, and
    `antialias_up` upsamples with a fixed blur followed by a 3x3 conv, as CUT's `--no_antialias` /
    `--no_antialias_up` switch off; layer indices (and so CUT's `--nce_layers`) are those of CUT's net.
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False, n_blocks: int = 9, padding_type: str = "reflect",
                 antialias: bool = False, antialias_up: bool = False):
        super().__init__()
        if padding_type not in (*PADDING, "zero"):
            raise ConfigError(f"padding_type {padding_type!r}: use reflect, replicate or zero")
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), make_norm(ngf), nn.ReLU(True)]
        for i in range(2):
            channels = ngf * 2**i
            if antialias:
                layers += [nn.Conv2d(channels, channels * 2, 3, padding=1, bias=bias), make_norm(channels * 2),
                           nn.ReLU(True), Downsample(channels * 2)]
            else:
                layers += [nn.Conv2d(channels, channels * 2, 3, stride=2, padding=1, bias=bias),
                           make_norm(channels * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, padding_type, norm, use_dropout) for _ in range(n_blocks)]
        for i in range(2):
            channels = ngf * 2 ** (2 - i)
            if antialias_up:
                layers += [Upsample(channels), nn.Conv2d(channels, channels // 2, 3, padding=1, bias=bias)]
            else:
                layers += [nn.ConvTranspose2d(channels, channels // 2, 3, stride=2, padding=1, output_padding=1, bias=bias)]
            layers += [make_norm(channels // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.n_blocks = n_blocks
        self.size_multiple = 4

    @property
    def netG(self) -> str:
        return f"resnet_{self.n_blocks}blocks"

    def forward(self, x: torch.Tensor, feature_layers: Sequence[int] | None = None):
        """The translated image; with `feature_layers`, instead the outputs of those layers of `model`
        (CUT's encoder taps), computing no further than the last of them.

        (One `forward` for both, so that Accelerate's autocast and DDP wrapping apply to the taps too.)"""
        if feature_layers is None:
            return self.model(x)
        wanted = set(feature_layers)
        if not wanted or min(wanted) < 0 or max(wanted) >= len(self.model):
            outside = sorted(i for i in wanted if not 0 <= i < len(self.model)) or "none"
            raise ConfigError(f"this {self.netG} generator has layers 0..{len(self.model) - 1}, not {outside}")
        features = {}
        for index, layer in enumerate(self.model):
            x = layer(x)
            if index in wanted:
                features[index] = x
                if len(features) == len(wanted):
                    break
        return [features[index] for index in feature_layers]
