from ..errors import ConfigError
from .base import Recipe
from .colorization import ColorizationRecipe
from .cut import CUTRecipe, FastCUTRecipe
from .cyclegan import CycleGANRecipe
from .pix2pix import Pix2PixRecipe

RECIPES: dict[str, type[Recipe]] = {"pix2pix": Pix2PixRecipe, "cyclegan": CycleGANRecipe,
                                    "colorization": ColorizationRecipe, "cut": CUTRecipe, "fastcut": FastCUTRecipe}



def recipe_for(model: str) -> type[Recipe]:
    """The recipe training `--model model`; ConfigError (one line) for a name no recipe has."""
    if model not in RECIPES:
        raise ConfigError(f"unknown --model {model!r}: use one of {', '.join(RECIPES)}")
    return RECIPES[model]


__all__ = ["RECIPES", "recipe_for", "CUTRecipe", "ColorizationRecipe", "CycleGANRecipe", "FastCUTRecipe", "Pix2PixRecipe", "Recipe"]
