"""What a training recipe is: its networks, optimizers, one training step and a validation grid.

The training loop (`pix2pix_hub.training.loop`) knows nothing else about pix2pix, CycleGAN or CUT.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar, Iterator

import torch
from accelerate import Accelerator
from PIL import Image
from torch import nn

from ..config import TrainConfig
from ..data.images import image_grid
from ..models import Generator, build_discriminator, build_generator, init_weights
from .losses import ImagePool, NonFiniteLossError


class Recipe:
    paired: bool = True
    single_images: bool = False  # the data is one image per item (given as both A and B): see colorization
    model_type: str = ""
    # fields this model sets when the command line leaves them unset (TrainConfig.resolve): the reference's
    # common ones here, each recipe adds (or overrides) its own
    defaults: ClassVar[dict[str, Any]] = {"init_type": "normal", "no_antialias": True, "no_antialias_up": True,
                                          "n_epochs": 100, "n_epochs_decay": 100}
    # what the validation rows are scored by: "paired" (output vs target, columns 1 and 2), "cycle" (real vs
    # reconstructed, columns 0 and 2) or None (a grid only)
    validation_metric: str | None = "paired"

    def __init__(self, config: TrainConfig):
        self.check_config(config)
        self.config = config
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.pools: dict[str, ImagePool] = {}
        self.accelerator: Accelerator | None = None

    @classmethod
    def check_config(cls, config: TrainConfig) -> None:
        """This model's own rules for a resolved config: ConfigError, one line. The common ones are
        TrainConfig.resolve's."""

    # -- building -----------------------------------------------------------------------------
    def new_generator(self, input_nc: int, output_nc: int) -> Generator:
        m = self.config.model
        net = build_generator(m.netG, input_nc, output_nc, m.ngf, m.norm, use_dropout=not m.no_dropout,
                              upsample=m.upsample, antialias=not m.no_antialias, antialias_up=not m.no_antialias_up)
        return init_weights(net, m.init_type, m.init_gain)

    def new_discriminator(self, input_nc: int) -> nn.Module:
        m = self.config.model
        net = build_discriminator(m.netD, input_nc, m.ndf, m.n_layers_D, m.norm, antialias=not m.no_antialias)
        return init_weights(net, m.init_type, m.init_gain)

    def new_optimizer(self, *nets: nn.Module) -> torch.optim.Optimizer:
        o = self.config.optim
        params = [p for net in nets for p in net.parameters()]
        return torch.optim.Adam(params, lr=o.learning_rate, betas=(o.beta1, o.beta2), fused=o.fused_adam or None)

    def prepare(self, accelerator: Accelerator) -> None:
        """Wrap every network and optimizer for the device, precision and processes.

        --channels_last converts the weights in place (the optimizers keep the same parameters; checkpoints are
        saved contiguous); --compile compiles each network in place (`nn.Module.compile`), so state_dict keys,
        checkpoints and the saved model are the same as without it."""
        self.accelerator = accelerator
        o = self.config.optim
        if o.channels_last:
            for net in self.networks.values():
                net.to(memory_format=torch.channels_last)
        prepared = iter(accelerator.prepare(*self.networks.values(), *self.optimizers.values()))
        self.networks = {name: next(prepared) for name in self.networks}
        self.optimizers = {name: next(prepared) for name in self.optimizers}
        if o.compile:
            # a discriminator runs with and without gradients, on fp32 and (autocast) bf16 fakes: one graph each
            dynamo_config = torch._dynamo.config
            dynamo_config.recompile_limit = max(getattr(dynamo_config, "recompile_limit", 8), 32)
            for net in self.networks.values():
                accelerator.unwrap_model(net).compile()

    def plain(self, name: str) -> nn.Module:
        """The network without its DistributedDataParallel wrapper (autocast kept).

        Discriminators are called through this while training the generators: they are frozen
        then, and a DDP module whose parameters get no gradient would stall the next reduction.
        """
        return self.accelerator.unwrap_model(self.networks[name])

    @staticmethod
    @contextlib.contextmanager
    def frozen(*nets: nn.Module) -> Iterator[None]:
        flags = [[p.requires_grad for p in net.parameters()] for net in nets]
        for net in nets:
            net.requires_grad_(False)
        try:
            yield
        finally:
            for net, net_flags in zip(nets, flags):
                for p, flag in zip(net.parameters(), net_flags):
                    p.requires_grad_(flag)

    def step(self, optimizer: str | tuple[str, ...], loss: torch.Tensor) -> None:
        """Backward, then step (and clear) the named optimizer(s): CUT steps G's and netF's on one loss."""
        names = (optimizer,) if isinstance(optimizer, str) else optimizer
        # One host sync per optimizer step, so a NaN never reaches the weights.
        if not torch.isfinite(loss.detach()):
            for name in names:
                self.optimizers[name].zero_grad(set_to_none=True)
            raise NonFiniteLossError(f"the {names[0]} loss is {loss.item()}")
        self.accelerator.backward(loss)
        for name in names:
            self.optimizers[name].step()
            self.optimizers[name].zero_grad(set_to_none=True)

    # -- what each recipe defines -------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def generators(self) -> dict[str, Generator]:
        """Unwrapped generators keyed by the direction they translate (AtoB / BtoA)."""
        raise NotImplementedError

    def validation_rows(self, batch: dict[str, torch.Tensor]) -> tuple[list[str], list[list[torch.Tensor]]]:
        """Column titles and rows of CHW images for the validation grid (generators in eval mode)."""
        raise NotImplementedError

    @torch.no_grad()
    def validation_grid(self, batch: dict[str, torch.Tensor]) -> tuple[Image.Image, list[list[torch.Tensor]]]:
        generators = [self.plain(name) for name in self.networks if name.startswith("G")]
        modes = [g.training for g in generators]
        for g in generators:
            g.eval()
        try:
            titles, rows = self.validation_rows(batch)
        finally:
            for g, mode in zip(generators, modes):
                g.train(mode)
        return image_grid(rows), rows

