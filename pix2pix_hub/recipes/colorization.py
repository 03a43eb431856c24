"""Colorization (the reference's --model colorization; Isola et al. 2017, fig. 9): pix2pix from the L channel of a
photo in Lab colour space (1 channel in) to its ab channels (2 out), trained on any folder of colour photos.

The data loader gives each photo as RGB (A and B the same image, one crop and flip); the Lab conversion happens
here, on the batch, on the device (pix2pix_hub/data/lab.py: skimage's formulas and the reference's scaling, L / 50 - 1
and ab / 110). Validation grids, metrics and the translator show RGB: the input's L with the predicted ab.
"""

from __future__ import annotations

import torch

from ..config import TrainConfig
from ..data.lab import model_to_rgb, rgb_to_model
from ..errors import ConfigError
from .pix2pix import Pix2PixRecipe


class ColorizationRecipe(Pix2PixRecipe):
    model_type = "colorization"
    single_images = True  # a folder of photos: every item's A and B are the same RGB image
    defaults = dict(Pix2PixRecipe.defaults)  # the reference's colorization model is its pix2pix model

    def __init__(self, config: TrainConfig):
        d = config.data
        if (d.input_nc, d.output_nc) not in ((3, 3), (1, 2)) or d.direction != "AtoB":
            raise ConfigError("--model colorization maps the L channel (1) to ab (2), AtoB, as the reference: leave out "
                              "--input_nc, --output_nc and --direction")
        d.input_nc, d.output_nc = 1, 2  # the generator's channels, as config.json and the card record them
        super().__init__(config)  # G: 1 -> 2 channels; D judges (L, ab): 3 channels

    @staticmethod
    def lab_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        lightness, ab = rgb_to_model(batch["B"])
        return {**batch, "A": lightness, "B": ab}

    def training_step(self, batch):
        return super().training_step(self.lab_batch(batch))

    def validation_rows(self, batch):
        lab = self.lab_batch(batch)
        fake_ab = self.plain("G")(lab["A"])
        outputs, targets = model_to_rgb(lab["A"], fake_ab), model_to_rgb(lab["A"], lab["B"])
        rows = [[gray, out, target] for gray, out, target in zip(lab["A"], outputs, targets)]
        return ["input (L)", "colourised", "photo"], rows
