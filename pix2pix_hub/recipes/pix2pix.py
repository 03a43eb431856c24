"""pix2pix (Isola et al. 2017): conditional GAN on (input, target) pairs, plus L1 to the target."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import TrainConfig
from .base import Recipe
from .losses import GANLoss, ImagePool


class Pix2PixRecipe(Recipe):
    paired = True
    model_type = "pix2pix"
    defaults = {**Recipe.defaults, "netG": "unet_256", "norm": "batch", "no_dropout": False, "gan_mode": "vanilla", "pool_size": 0}

    def __init__(self, config: TrainConfig):
        super().__init__(config)
        d = config.data
        self.networks = {"G": self.new_generator(d.input_nc, d.output_nc),
                         # D judges the pair: input and (real or generated) output, concatenated
                         "D": self.new_discriminator(d.input_nc + d.output_nc)}
        self.optimizers = {"G": self.new_optimizer(self.networks["G"]), "D": self.new_optimizer(self.networks["D"])}
        self.pools = {"fake_AB": ImagePool(config.model.pool_size, seed=config.optim.seed)}
        self.gan_loss = GANLoss(config.model.gan_mode)

    def training_step(self, batch):
        real_a, real_b = batch["A"], batch["B"]
        G, D = self.networks["G"], self.networks["D"]
        fake_b = G(real_a)

        # Discriminator: real pairs -> 1, generated pairs -> 0; halved as in the paper.
        fake_ab = self.pools["fake_AB"].query(torch.cat([real_a, fake_b], 1).detach())
        loss_d_fake = self.gan_loss(D(fake_ab), False)
        loss_d_real = self.gan_loss(D(torch.cat([real_a, real_b], 1)), True)
        loss_d = 0.5 * (loss_d_fake + loss_d_real)
        self.step("D", loss_d)

        # Generator: fool the (frozen) discriminator and stay close to the target.
        D_plain = self.plain("D")
        with self.frozen(D_plain):
            loss_g_gan = self.gan_loss(D_plain(torch.cat([real_a, fake_b], 1)), True)
        loss_g_l1 = F.l1_loss(fake_b.float(), real_b.float()) * self.config.model.lambda_l1
        self.step("G", loss_g_gan + loss_g_l1)
        return {"loss_G_GAN": loss_g_gan, "loss_G_L1": loss_g_l1, "loss_D_real": loss_d_real, "loss_D_fake": loss_d_fake}

    def generators(self):
        return {self.config.data.direction: self.plain("G")}

    def validation_rows(self, batch):
        fake_b = self.plain("G")(batch["A"])
        rows = [[a, f, b] for a, f, b in zip(batch["A"], fake_b, batch["B"])]
        return ["input", "output", "target"], rows
