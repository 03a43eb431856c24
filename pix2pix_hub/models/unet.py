"""U-Net generator (pix2pix), parameter names identical to the reference's `UnetGenerator`.

`upsample="transpose"` (the default) is the reference's 4x4 stride-2 ConvTranspose2d, whose uneven kernel
overlap paints a checkerboard; "nearest" / "bilinear" resize x2 and then apply a 3x3 conv instead (Odena et al.
2016, "Deconvolution and Checkerboard Artifacts"). Those weights are not the reference's.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .base import Generator, norm_layer, uses_bias

UPSAMPLE_MODES = ("transpose", "nearest", "bilinear")


class ResizeConv(nn.Sequential):
    """x2 resize, then a 3x3 conv: every output pixel sees the same number of inputs, so no checkerboard."""

    def __init__(self, in_channels: int, out_channels: int, mode: str, bias: bool = True):
        resize = nn.Upsample(scale_factor=2, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
        super().__init__(resize, nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=bias))


def up_layer(in_channels: int, out_channels: int, upsample: str, bias: bool = True) -> nn.Module:
    if upsample == "transpose":
        return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1, bias=bias)
    if upsample in UPSAMPLE_MODES:
        return ResizeConv(in_channels, out_channels, upsample, bias)
    raise ConfigError(f"unknown upsample {upsample!r}: use one of {', '.join(UPSAMPLE_MODES)}")


class UnetSkipBlock(nn.Module):
    """One level of the U-Net: down -> inner levels -> up, concatenated with its input.

    Built from the inside out, so `model` nests: model.model.1.model.3.model... as in the reference.
    """

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None, submodule: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, norm: str = "batch", use_dropout: bool = False,
                 upsample: str = "transpose"):
        super().__init__()
        self.outermost = outermost
        make_norm, bias = norm_layer(norm), uses_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        down_conv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        if outermost:
            up_conv = up_layer(inner_nc * 2, outer_nc, upsample)
            layers = [down_conv, submodule, nn.ReLU(True), up_conv, nn.Tanh()]
        elif innermost:
            up_conv = up_layer(inner_nc, outer_nc, upsample, bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True), up_conv, make_norm(outer_nc)]
        else:
            up_conv = up_layer(inner_nc * 2, outer_nc, upsample, bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, make_norm(inner_nc), submodule,
                      nn.ReLU(True), up_conv, make_norm(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(Generator):
    """pix2pix U-Net. `num_downs` 8 = unet_256 (256 px -> 1x1 bottleneck), 7 = unet_128.

    Inputs must have sides divisible by 2**num_downs; `ImageTranslator` pads for you. `upsample` is saved in
    config.json like every constructor argument, so `from_pretrained` rebuilds the same decoder.
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = True, upsample: str = "transpose"):
        super().__init__()
        if num_downs < 5:
            raise ConfigError(f"num_downs={num_downs}: the U-Net needs at least 5 levels")
        if upsample not in UPSAMPLE_MODES:
            raise ConfigError(f"unknown upsample {upsample!r}: use one of {', '.join(UPSAMPLE_MODES)}")
        level = {"norm": norm, "upsample": upsample}
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, **level)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, use_dropout=use_dropout, **level)
        block = UnetSkipBlock(ngf * 4, ngf * 8, submodule=block, **level)
        block = UnetSkipBlock(ngf * 2, ngf * 4, submodule=block, **level)
        block = UnetSkipBlock(ngf, ngf * 2, submodule=block, **level)
        self.model = UnetSkipBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, **level)
        self.size_multiple = 2**num_downs

    @property
    def netG(self) -> str:
        return f"unet_{self.size_multiple}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
