from .antialias import Downsample, Upsample
from .base import Generator, WeightMismatchError, load_state_dict_checked
from .discriminators import NLayerDiscriminator, PixelDiscriminator
from .factory import DISCRIMINATORS, GENERATORS, build_discriminator, build_generator, init_weights
from .patch_sampler import PatchSampler
from .resnet import ResnetGenerator
from .unet import UnetGenerator

__all__ = [
    "DISCRIMINATORS", "GENERATORS", "Downsample", "Generator", "NLayerDiscriminator", "PatchSampler",
    "PixelDiscriminator", "ResnetGenerator", "UnetGenerator", "Upsample", "WeightMismatchError",
    "build_discriminator", "build_generator", "init_weights", "load_state_dict_checked",
]
