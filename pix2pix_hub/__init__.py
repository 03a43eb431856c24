"""pix2pix-hub: pix2pix and CycleGAN image-to-image translation for the Hugging Face ecosystem."""

from .hub.files import ModelLoadError
from .inference.translator import ImageTranslator
from .loading.load import load_generator
from .models import ResnetGenerator, UnetGenerator, build_discriminator, build_generator
from .models.folder import save_model_folder

__version__ = "0.1.0"
__all__ = [
    "ImageTranslator", "ModelLoadError", "ResnetGenerator", "UnetGenerator", "build_discriminator",
    "build_generator", "load_generator", "save_model_folder",
]
