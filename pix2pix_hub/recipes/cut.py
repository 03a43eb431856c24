"""CUT and FastCUT (Park, Efros, Zhang, Zhu 2020): one generator A -> B, no inverse network. A GAN loss makes
G(A) look like B; PatchNCE keeps each output patch closer to the input patch at the same place than to the
input's other patches, contrasting the generator's own encoder features through a small MLP head (netF).

`--model cut` and `--model fastcut` are CUT's `--CUT_mode` CUT and FastCUT: the same networks and step, with
CUT's defaults per mode (`defaults` below, from its options/*.py and CUTModel.modify_commandline_options): CUT adds the identity term PatchNCE(B, G(B)) with lambda_NCE 1;
FastCUT drops it, raises lambda_NCE to 10 and flips inputs at random (flip equivariance), for fewer epochs.

netF's MLPs are sized by the channels of the tapped layers. CUT learns those from a dry forward/backward
pass on the first batch (`data_dependent_initialize`), which changes no weight; they depend only on the
generator, so here a dry run of the encoder on a small blank image sizes them when the recipe is built, and
netF is then initialised (`--init_type`, `--init_gain`) and given its own Adam as CUT does after that pass.
Being an ordinary network from the start, netF and its optimizer are checkpointed, resumed and
DDP-wrapped by the loop like G and D.
"""

from __future__ import annotations

import torch

from ..config import TrainConfig
from ..errors import ConfigError
from ..models import PatchSampler, init_weights
from .base import Recipe
from .losses import GANLoss, patch_nce_loss


class CUTRecipe(Recipe):
    paired = False
    model_type = "cut"
    validation_metric = None  # no target to score against: `python -m pix2pix_hub evaluate` on paired test data
    defaults = {"netG": "resnet_9blocks", "norm": "instance", "no_dropout": True, "gan_mode": "lsgan", "pool_size": 0,
                "init_type": "xavier", "no_antialias": False, "no_antialias_up": False, "lambda_NCE": 1.0,
                "nce_idt": True, "flip_equivariance": False, "n_epochs": 200, "n_epochs_decay": 200}

    @classmethod
    def check_config(cls, config: TrainConfig) -> None:
        from ..models.factory import parse_netG

        model, cut = config.model.model, config.cut
        if parse_netG(config.model.netG).kind != "resnet":
            raise ConfigError(f"--model {model} taps a ResNet generator's encoder: pass --netG resnet_9blocks (or resnet_Nblocks)")
        if config.data.input_nc != config.data.output_nc:
            raise ConfigError(f"--model {model} runs the generator on its own output (PatchNCE): it needs --input_nc == --output_nc")
        try:
            layers = [int(layer) for layer in cut.nce_layers.split(",")]
        except ValueError:
            raise ConfigError(f"--nce_layers {cut.nce_layers!r}: give comma-separated layer indices, e.g. 0,4,8,12,16") from None
        if not layers or min(layers) < 0:
            raise ConfigError(f"--nce_layers {cut.nce_layers!r}: give layer indices from 0, e.g. 0,4,8,12,16")
        if cut.num_patches < 1 or cut.nce_T <= 0 or cut.netF_nc < 1:
            raise ConfigError("--num_patches and --netF_nc must be at least 1 and --nce_T above 0")

    def __init__(self, config: TrainConfig):
        super().__init__(config)
        self.nce_layers = [int(layer) for layer in config.cut.nce_layers.split(",")]
        generator = self.new_generator(config.data.input_nc, config.data.output_nc)
        sampler = PatchSampler(self.feature_channels(generator), use_mlp=config.cut.netF == "mlp_sample",
                               nc=config.cut.netF_nc)
        self.networks = {"G": generator, "D": self.new_discriminator(config.data.output_nc),
                         "F": init_weights(sampler, config.model.init_type, config.model.init_gain)}
        self.optimizers = {"G": self.new_optimizer(generator), "D": self.new_optimizer(self.networks["D"])}
        if any(True for _ in sampler.parameters()):  # (--netF sample has nothing to learn)
            self.optimizers["F"] = self.new_optimizer(sampler)
        self.generator_optimizers = tuple(name for name in ("G", "F") if name in self.optimizers)
        self.gan_loss = GANLoss(config.model.gan_mode)

    def feature_channels(self, generator) -> list[int]:
        """Channels of the tapped layers, from a dry run (the shapes do not depend on the data)."""
        size = 4 * generator.size_multiple
        with torch.no_grad():
            try:
                features = generator(torch.zeros(1, self.config.data.input_nc, size, size), self.nce_layers)
            except ConfigError as error:  # a layer index past the end
                raise ConfigError(f"--nce_layers {self.config.cut.nce_layers}: {error}") from None
        return [feature.shape[1] for feature in features]

    def training_step(self, batch):
        c = self.config.cut
        real_a, real_b = batch["A"], batch["B"]  # (--direction BtoA: the dataset has swapped them)
        real = torch.cat([real_a, real_b]) if c.nce_idt else real_a
        # FastCUT: G sees a mirrored input half of the time; its features are mirrored back for PatchNCE
        flipped = bool(c.flip_equivariance and torch.rand(()) < 0.5)
        fake = self.networks["G"](real.flip(3) if flipped else real)
        fake_b, idt_b = fake[:len(real_a)], fake[len(real_a):]
        losses = {}

        # Discriminator: real B -> 1, G(A) -> 0 (no image pool: CUT's pool_size is 0)
        if c.lambda_GAN > 0:
            D = self.networks["D"]
            losses["loss_D_fake"] = self.gan_loss(D(fake_b.detach()), False)
            losses["loss_D_real"] = self.gan_loss(D(real_b), True)
            self.step("D", 0.5 * (losses["loss_D_fake"] + losses["loss_D_real"]))

        # Generator and netF: fool the (frozen) discriminator, keep the input's patches
        loss_g = torch.zeros((), device=real_a.device)
        if c.lambda_GAN > 0:
            D_plain = self.plain("D")
            with self.frozen(D_plain):
                losses["loss_G_GAN"] = self.gan_loss(D_plain(fake_b), True) * c.lambda_GAN
            loss_g = loss_g + losses["loss_G_GAN"]
        if c.lambda_NCE > 0:
            losses["loss_NCE"] = self.patch_nce(real_a, fake_b, flipped)
            if c.nce_idt:
                losses["loss_NCE_Y"] = self.patch_nce(real_b, idt_b, flipped)
                loss_g = loss_g + 0.5 * (losses["loss_NCE"] + losses["loss_NCE_Y"])
            else:
                loss_g = loss_g + losses["loss_NCE"]
        self.step(self.generator_optimizers, loss_g)
        return losses

    def patch_nce(self, source: torch.Tensor, output: torch.Tensor, flipped: bool) -> torch.Tensor:
        """lambda_NCE x PatchNCE of the output's patches (queries) against the source's (keys), averaged over layers."""
        c = self.config.cut
        G, F = self.plain("G"), self.networks["F"]  # (G's DDP reduction is armed by the forward above)
        queries = G(output, self.nce_layers)
        if flipped:
            queries = [q.flip(3) for q in queries]
        with torch.no_grad():  # the keys are constants of the loss (detached, as in CUT)
            keys, patch_ids = F(G(source, self.nce_layers), c.num_patches)
        queries, _ = F(queries, c.num_patches, patch_ids)
        num_images = 1 if c.nce_includes_all_negatives_from_minibatch else len(source)
        per_layer = [patch_nce_loss(q, k, c.nce_T, num_images).mean() for q, k in zip(queries, keys)]
        return sum(per_layer) * c.lambda_NCE / len(per_layer)

    def generators(self):
        return {self.config.data.direction: self.plain("G")}

    def validation_rows(self, batch):
        a, b, G = batch["A"], batch["B"], self.plain("G")
        fake_b, idt_b = G(a), G(b)
        rows = [[ra, fb, rb, ib] for ra, fb, rb, ib in zip(a, fake_b, b, idt_b)]
        return ["real A", "translated", "real B", "G(B)"], rows


class FastCUTRecipe(CUTRecipe):
    model_type = "fastcut"
    defaults = {**CUTRecipe.defaults, "lambda_NCE": 10.0, "nce_idt": False, "flip_equivariance": True,
                "n_epochs": 150, "n_epochs_decay": 50}
