"""Build generators and discriminators by the reference's names, and initialise their weights."""

from __future__ import annotations

from torch import nn
from torch.nn import init

from ..errors import ConfigError
from .base import Generator
from .discriminators import NLayerDiscriminator, PixelDiscriminator
from .resnet import ResnetGenerator
from .unet import UnetGenerator

GENERATORS = ("unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks")
DISCRIMINATORS = ("basic", "n_layers", "pixel")


def build_generator(netG: str, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "batch",
                    use_dropout: bool = False, upsample: str = "transpose", antialias: bool = False,
                    antialias_up: bool = False) -> Generator:
    """`upsample` (U-Nets only): "transpose" as the reference, or resize-then-conv "nearest"/"bilinear".
    `antialias`, `antialias_up` (ResNets only): CUT's blur-pool down/upsampling."""
    if netG.startswith("unet_") and netG[5:].isdigit():
        if antialias or antialias_up:
            raise ConfigError(f"--netG {netG}: anti-aliased sampling is for ResNet generators (CUT's); "
                             "use --netG resnet_9blocks, or pass --no_antialias --no_antialias_up")
        size = int(netG[5:])
        num_downs = size.bit_length() - 1
        if 2**num_downs != size:
            raise ConfigError(f"--netG {netG}: a U-Net size must be a power of two (unet_128, unet_256)")
        return UnetGenerator(input_nc, output_nc, num_downs, ngf, norm, use_dropout, upsample)
    if netG.startswith("resnet_") and netG.endswith("blocks") and netG[7:-6].isdigit():
        if upsample != "transpose":
            raise ConfigError(f"--upsample {upsample} is for U-Nets only; {netG} keeps its ConvTranspose decoder")
        return ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, n_blocks=int(netG[7:-6]),
                               antialias=antialias, antialias_up=antialias_up)
    raise ConfigError(f"unknown --netG {netG!r}: use one of {', '.join(GENERATORS)}")


def generator_size_multiple(netG: str) -> int:
    """What image sides must be divisible by for `netG` (its size for a U-Net, 4 for a ResNet), without
    building it; ConfigError for a name build_generator would refuse."""
    if netG.startswith("unet_") and netG[5:].isdigit() and int(netG[5:]) >= 32 and \
            2 ** (int(netG[5:]).bit_length() - 1) == int(netG[5:]):
        return int(netG[5:])
    if netG.startswith("resnet_") and netG.endswith("blocks") and netG[7:-6].isdigit():
        return 4
    raise ConfigError(f"unknown --netG {netG!r}: use one of {', '.join(GENERATORS)} (any unet_<power of two from "
                      "32>, resnet_<n>blocks)")


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
