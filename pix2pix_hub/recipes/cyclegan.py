"""CycleGAN (Zhu et al. 2017): two generators and two discriminators on unpaired domains A and B,
held together by cycle consistency A -> B -> A and B -> A -> B."""

from __future__ import annotations

import torch.nn.functional as F

from ..config import TrainConfig
from ..errors import ConfigError
from .base import Recipe
from .losses import GANLoss, ImagePool


class CycleGANRecipe(Recipe):
    paired = False
    model_type = "cyclegan"
    defaults = {**Recipe.defaults, "netG": "resnet_9blocks", "norm": "instance", "no_dropout": True, "gan_mode": "lsgan", "pool_size": 50}
    validation_metric = "cycle"

    @classmethod
    def check_config(cls, config: TrainConfig) -> None:
        if config.model.lambda_identity > 0 and config.data.input_nc != config.data.output_nc:
            raise ConfigError("--lambda_identity needs --input_nc == --output_nc; pass --lambda_identity 0")

    def __init__(self, config: TrainConfig):
        super().__init__(config)
        a_nc, b_nc = config.data.input_nc, config.data.output_nc
        # Names as in the reference: G_A maps A -> B and D_A judges domain B; G_B and D_B the reverse.
        self.networks = {"G_A": self.new_generator(a_nc, b_nc), "G_B": self.new_generator(b_nc, a_nc),
                         "D_A": self.new_discriminator(b_nc), "D_B": self.new_discriminator(a_nc)}
        self.optimizers = {"G": self.new_optimizer(self.networks["G_A"], self.networks["G_B"]),
                           "D": self.new_optimizer(self.networks["D_A"], self.networks["D_B"])}
        seed = config.optim.seed
        self.pools = {"fake_A": ImagePool(config.model.pool_size, seed), "fake_B": ImagePool(config.model.pool_size, seed + 1)}
        self.gan_loss = GANLoss(config.model.gan_mode)

    def training_step(self, batch):
        m = self.config.model
        real_a, real_b = batch["A"], batch["B"]
        G_A, G_B = self.networks["G_A"], self.networks["G_B"]
        fake_b, fake_a = G_A(real_a), G_B(real_b)
        rec_a, rec_b = G_B(fake_b), G_A(fake_a)
        losses = {}

        # Generators: fool both (frozen) discriminators, reconstruct, and leave the target domain alone.
        D_A, D_B = self.plain("D_A"), self.plain("D_B")
        with self.frozen(D_A, D_B):
            losses["loss_G_A"] = self.gan_loss(D_A(fake_b), True)
            losses["loss_G_B"] = self.gan_loss(D_B(fake_a), True)
        losses["loss_cycle_A"] = F.l1_loss(rec_a.float(), real_a.float()) * m.lambda_a
        losses["loss_cycle_B"] = F.l1_loss(rec_b.float(), real_b.float()) * m.lambda_b
        if m.lambda_identity > 0:
            losses["loss_idt_A"] = F.l1_loss(G_A(real_b).float(), real_b.float()) * m.lambda_b * m.lambda_identity
            losses["loss_idt_B"] = F.l1_loss(G_B(real_a).float(), real_a.float()) * m.lambda_a * m.lambda_identity
        self.step("G", sum(losses.values()))

        # Discriminators, on a history of fakes: D_A real B vs fake B, D_B real A vs fake A.
        pool_b, pool_a = self.pools["fake_B"].query(fake_b), self.pools["fake_A"].query(fake_a)
        D_A, D_B = self.networks["D_A"], self.networks["D_B"]
        losses["loss_D_A"] = 0.5 * (self.gan_loss(D_A(real_b), True) + self.gan_loss(D_A(pool_b.detach()), False))
        losses["loss_D_B"] = 0.5 * (self.gan_loss(D_B(real_a), True) + self.gan_loss(D_B(pool_a.detach()), False))
        self.step("D", losses["loss_D_A"] + losses["loss_D_B"])
        return losses

    def generators(self):
        return {"AtoB": self.plain("G_A"), "BtoA": self.plain("G_B")}

    def validation_rows(self, batch):
        G_A, G_B = self.plain("G_A"), self.plain("G_B")
        fake_b, fake_a = G_A(batch["A"]), G_B(batch["B"])
        rec_a, rec_b = G_B(fake_b), G_A(fake_a)
        rows = [[a, fb, ra] for a, fb, ra in zip(batch["A"], fake_b, rec_a)]
        rows += [[b, fa, rb] for b, fa, rb in zip(batch["B"], fake_a, rec_b)]
        return ["real", "translated", "reconstructed"], rows
