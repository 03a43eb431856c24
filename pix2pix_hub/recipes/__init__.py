from .base import Recipe
from .cyclegan import CycleGANRecipe
from .pix2pix import Pix2PixRecipe

RECIPES: dict[str, type[Recipe]] = {"pix2pix": Pix2PixRecipe, "cyclegan": CycleGANRecipe}

__all__ = ["RECIPES", "CycleGANRecipe", "Pix2PixRecipe", "Recipe"]
