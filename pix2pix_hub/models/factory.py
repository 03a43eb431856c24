"""Build generators and discriminators by the reference's names, and initialise their weights."""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn
from torch.nn import init

from ..errors import ConfigError
from .base import Generator
from .discriminators import NLayerDiscriminator, PixelDiscriminator
from .resnet import ResnetGenerator
from .unet import UnetGenerator

GENERATORS = ("unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks")
DISCRIMINATORS = ("basic", "n_layers", "pixel")


@dataclass(frozen=True)
class GeneratorName:
    """A `--netG` name read once: `unet_<side>` (a power of two from 32: log2(side) levels) or
    `resnet_<n>blocks`."""

    name: str
    kind: str  # "unet" | "resnet"
    number: int  # a U-Net's side, a ResNet's residual blocks

    @property
    def levels(self) -> int:
        """A U-Net's down/up levels (7 for unet_128, 8 for unet_256)."""
        return self.number.bit_length() - 1

    @property
    def size_multiple(self) -> int:
        """What image sides must be divisible by: a U-Net's side, 4 for a ResNet (two stride-2 convs)."""
        return self.number if self.kind == "unet" else 4

    def describe(self) -> str:
        if self.kind == "unet":
            return f"U-Net with {self.levels} levels ({self.name})"
        return f"ResNet generator with {self.number} blocks ({self.name})"


def parse_netG(netG: str) -> GeneratorName:
    """The one reader of generator names; ConfigError (one line) for any other."""
    match = re.fullmatch(r"unet_(\d+)|resnet_(\d+)blocks", netG or "")
    side = int(match.group(1)) if match and match.group(1) else None
    if side is not None and (side < 32 or side & (side - 1)):
        raise ConfigError(f"--netG {netG}: a U-Net's size must be a power of two from 32 (unet_128, unet_256)")
    if match is None or (side is None and int(match.group(2)) < 1):
        raise ConfigError(f"unknown --netG {netG!r}: use one of {', '.join(GENERATORS)} (any unet_<power of two "
                          "from 32>, resnet_<n>blocks)")
    return GeneratorName(netG, "unet", side) if side else GeneratorName(netG, "resnet", int(match.group(2)))


def build_generator(netG: str, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "batch",
                    use_dropout: bool = False, upsample: str = "transpose", antialias: bool = False,
                    antialias_up: bool = False) -> Generator:
    """`upsample` (U-Nets only): "transpose" as the reference, or resize-then-conv "nearest"/"bilinear".
    `antialias`, `antialias_up` (ResNets only): CUT's blur-pool down/upsampling."""
    name = parse_netG(netG)
    if name.kind == "unet":
        if antialias or antialias_up:
            raise ConfigError(f"--netG {netG}: anti-aliased sampling is for ResNet generators (CUT's); "
                              "use --netG resnet_9blocks, or pass --no_antialias --no_antialias_up")
        return UnetGenerator(input_nc, output_nc, name.levels, ngf, norm, use_dropout, upsample)
    if upsample != "transpose":
        raise ConfigError(f"--upsample {upsample} is for U-Nets only; {netG} keeps its ConvTranspose decoder")
    return ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, n_blocks=name.number,
                           antialias=antialias, antialias_up=antialias_up)


def build_discriminator(netD: str, input_nc: int, ndf: int = 64, n_layers_D: int = 3, norm: str = "batch",
                        antialias: bool = False) -> nn.Module:
    """`antialias`: CUT's PatchGAN, which blurs before each subsampling (the 1x1 PixelGAN never subsamples)."""
    if netD == "basic":
        return NLayerDiscriminator(input_nc, ndf, 3, norm, antialias)
    if netD == "n_layers":
        return NLayerDiscriminator(input_nc, ndf, n_layers_D, norm, antialias)
    if netD == "pixel":
        return PixelDiscriminator(input_nc, ndf, norm)
    raise ConfigError(f"unknown --netD {netD!r}: use one of {', '.join(DISCRIMINATORS)}")


def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02) -> nn.Module:
    """The reference's init: conv weights from N(0, gain) (or xavier/kaiming/orthogonal), biases 0,
    BatchNorm weight N(1, gain)."""
    weight_init = {
        "normal": lambda w: init.normal_(w, 0.0, gain),
        "xavier": lambda w: init.xavier_normal_(w, gain=gain),
        "kaiming": lambda w: init.kaiming_normal_(w, a=0, mode="fan_in"),
        "orthogonal": lambda w: init.orthogonal_(w, gain=gain),
    }
    if init_type not in weight_init:
        raise ConfigError(f"unknown --init_type {init_type!r}: use one of {', '.join(weight_init)}")
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight_init[init_type](module.weight.data)
            if module.bias is not None:
                init.constant_(module.bias.data, 0.0)
        elif isinstance(module, nn.BatchNorm2d):
            init.normal_(module.weight.data, 1.0, gain)
            init.constant_(module.bias.data, 0.0)
    return net
