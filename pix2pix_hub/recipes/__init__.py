from .base import Recipe
from .colorization import ColorizationRecipe
from .cut import CUTRecipe, FastCUTRecipe
from .cyclegan import CycleGANRecipe
from .pix2pix import Pix2PixRecipe

RECIPES: dict[str, type[Recipe]] = {"pix2pix": Pix2PixRecipe, "cyclegan": CycleGANRecipe,
                                    "colorization": ColorizationRecipe, "cut": CUTRecipe, "fastcut": FastCUTRecipe}

__all__ = ["RECIPES", "CUTRecipe", "ColorizationRecipe", "CycleGANRecipe", "FastCUTRecipe", "Pix2PixRecipe", "Recipe"]
