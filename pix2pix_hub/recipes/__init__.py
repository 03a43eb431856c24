from .base import Recipe
from .colorization import ColorizationRecipe
from .cyclegan import CycleGANRecipe
from .pix2pix import Pix2PixRecipe

RECIPES: dict[str, type[Recipe]] = {"pix2pix": Pix2PixRecipe, "cyclegan": CycleGANRecipe,
                                    "colorization": ColorizationRecipe}

__all__ = ["RECIPES", "ColorizationRecipe", "CycleGANRecipe", "Pix2PixRecipe", "Recipe"]
