from .base import Generator, WeightMismatchError, load_state_dict_checked
from .discriminators import NLayerDiscriminator, PixelDiscriminator
from .factory import DISCRIMINATORS, GENERATORS, build_discriminator, build_generator, init_weights
from .resnet import ResnetGenerator
from .unet import UnetGenerator

__all__ = [
    "DISCRIMINATORS", "GENERATORS", "Generator", "NLayerDiscriminator", "PixelDiscriminator", "ResnetGenerator",
    "UnetGenerator", "WeightMismatchError", "build_discriminator", "build_generator", "init_weights",
    "load_state_dict_checked",
]
