"""Typed training configuration and the `train.py` command line built from it.

Each dataclass is one argparse group (its docstring is the group's description in `--help`); each field is one
`--flag` with the same name. Fields whose default depends on the model (the reference's for pix2pix and
CycleGAN, CUT's for CUT and FastCUT) default to None here; each recipe declares its own values (`Recipe.defaults`), which
`TrainConfig.resolve(defaults)` fills in; another model's options stay None (unused). Each recipe checks its own
options (`Recipe.check_config`); the list of models is the recipe registry's (pix2pix_hub.recipes.RECIPES).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin, get_type_hints

from .errors import ConfigError


def _opt(default: Any, help: str, choices: tuple | None = None):
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class DataConfig:
    """Where the images come from and how they are scaled, cropped and flipped (the reference's preprocessing)."""

    dataset: str | None = _opt(None, "Hub dataset id, local folder (aligned A|B images, A/ + B/, trainA/ + trainB/, or a `datasets` folder), or a name of the reference's datasets (facades, horse2zebra, mini_colorization...: downloaded once into the cache)")
    dataset_a: str | None = _opt(None, "unpaired: folder or Hub id holding domain A (with --dataset_b)")
    dataset_b: str | None = _opt(None, "unpaired: folder or Hub id holding domain B")
    split: str = _opt("train", "dataset split to train on")
    validation_split: str | None = _opt(None, "split for validation grids and metrics (default: val/test if present, else the first training images)")
    image_column_a: str = _opt("imageA", "column holding domain-A images in a Hub/`datasets` dataset")
    image_column_b: str = _opt("imageB", "column holding domain-B images in a Hub/`datasets` dataset")
    domain_column: str | None = _opt(None, "unpaired Hub data: column naming each row's domain (values --domain_a_name/--domain_b_name or 0/1)")
    streaming: bool = _opt(False, "stream a large Hub dataset instead of downloading it (needs --max_steps; passes over the stream count as epochs)")
    shuffle_buffer_size: int = _opt(1000, "--streaming: shuffle within a buffer of this many examples (seeded by --seed)")
    direction: str = _opt("AtoB", "which way to translate", ("AtoB", "BtoA"))
    preprocess: str = _opt("resize_and_crop", "how images are scaled and cropped", ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"))
    load_size: int = _opt(286, "scale images to this size before cropping")
    resolution: int = _opt(256, "crop to this size (the reference's --crop_size)")
    no_flip: bool = _opt(False, "do not randomly flip images horizontally")
    serial_batches: bool = _opt(False, "read data in order (no shuffling; unpaired B images follow A)")
    input_nc: int = _opt(3, "channels of input images (1 = grayscale)")
    output_nc: int = _opt(3, "channels of output images (1 = grayscale)")
    max_train_samples: int | None = _opt(None, "use only the first N training images (for quick runs)")
    on_bad_image: str = _opt("error", "unreadable image: stop with its name, or skip it and count it", ("error", "skip"))
    dataloader_num_workers: int = _opt(0, "data loading worker processes")


@dataclass
class ModelConfig:
    """Which model, its generator and discriminator, and the weights of its losses. Options left unset take the
    model's own defaults (the reference's for pix2pix, CycleGAN and colorization, CUT's for cut and fastcut)."""

    model: str = _opt("pix2pix", "what to train (colorization: the reference's L -> ab model, on any folder of colour photos); the choices are the recipes' (pix2pix_hub.recipes.RECIPES)")
    netG: str | None = _opt(None, "generator: unet_256, unet_128 (any unet_<2^k>), resnet_9blocks, resnet_6blocks (any resnet_<n>blocks); default unet_256 for pix2pix, resnet_9blocks for cyclegan, cut and fastcut")
    netD: str = _opt("basic", "discriminator: 70x70 PatchGAN, n-layer PatchGAN, or 1x1 PixelGAN", ("basic", "n_layers", "pixel"))
    n_layers_D: int = _opt(3, "discriminator conv layers when --netD n_layers")
    ngf: int = _opt(64, "generator filters in the last conv layer")
    ndf: int = _opt(64, "discriminator filters in the first conv layer")
    norm: str | None = _opt(None, "normalization (default: batch for pix2pix, instance for the others)", ("batch", "instance", "none"))
    no_dropout: bool | None = _opt(None, "no dropout in the generator (default: dropout for pix2pix, none for the others)")
    upsample: str = _opt("transpose", "U-Net decoder: the reference's 4x4 ConvTranspose, or resize x2 then a 3x3 conv (no checkerboard; Odena et al. 2016)", ("transpose", "nearest", "bilinear"))
    no_antialias: bool | None = _opt(None, "cut: stride-2 convs instead of anti-aliased (blur, then subsample) downsampling in G and D (pix2pix and cyclegan never anti-alias)")
    no_antialias_up: bool | None = _opt(None, "cut: learned transposed convs instead of anti-aliased upsampling in G")
    init_type: str | None = _opt(None, "weight initialization (default: normal; xavier for cut and fastcut)", ("normal", "xavier", "kaiming", "orthogonal"))
    init_gain: float = _opt(0.02, "scale for normal/xavier/orthogonal init")
    gan_mode: str | None = _opt(None, "GAN objective (default: vanilla for pix2pix, lsgan for the others)", ("vanilla", "lsgan"))
    lambda_l1: float = _opt(100.0, "pix2pix: weight of the L1 loss")
    lambda_a: float = _opt(10.0, "cyclegan: weight of the cycle loss A->B->A")
    lambda_b: float = _opt(10.0, "cyclegan: weight of the cycle loss B->A->B")
    lambda_identity: float = _opt(0.5, "cyclegan: weight of the identity loss, relative to the cycle loss")
    pool_size: int | None = _opt(None, "fake-image history for the discriminator (default: 50 for cyclegan, else 0)")
    domain_a_name: str = _opt("A", "name of domain A (model card, config, app)")
    domain_b_name: str = _opt("B", "name of domain B")


@dataclass
class CUTConfig:
    """CUT and FastCUT (Park et al. 2020): PatchNCE between input and output patches; defaults as in CUT's code"""
    lambda_GAN: float = _opt(1.0, "weight of the GAN loss")
    lambda_NCE: float | None = _opt(None, "weight of the PatchNCE loss (default: 1 for cut, 10 for fastcut)")
    nce_idt: bool | None = _opt(None, "also PatchNCE between B and G(B), the identity (default: on for cut, off for fastcut)")
    nce_layers: str = _opt("0,4,8,12,16", "generator layers whose features PatchNCE compares (indices into its layers)")
    nce_includes_all_negatives_from_minibatch: bool = _opt(False, "take negatives from every image of the batch, not only the same image (CUT: for single-image training)")
    netF: str = _opt("mlp_sample", "projection of sampled patch features: a 2-layer MLP, or none", ("mlp_sample", "sample"))
    netF_nc: int = _opt(256, "features out of the projection MLP")
    nce_T: float = _opt(0.07, "temperature of the PatchNCE loss")
    num_patches: int = _opt(256, "patch locations sampled per layer")
    flip_equivariance: bool | None = _opt(None, "flip the input at random and the output features back, as a regulariser (default: off for cut, on for fastcut)")


@dataclass
class OptimConfig:
    """Adam, the learning-rate schedule, how long to train, precision and speed options."""

    learning_rate: float = _opt(2e-4, "Adam learning rate")
    beta1: float = _opt(0.5, "Adam beta1")
    beta2: float = _opt(0.999, "Adam beta2")
    batch_size: int = _opt(1, "images per device per step")
    n_epochs: int | None = _opt(None, "epochs at the initial learning rate (default: 100; cut 200, fastcut 150)")
    n_epochs_decay: int | None = _opt(None, "epochs of linear decay to zero after that (default: 100; cut 200, fastcut 50)")
    lr_policy: str = _opt("linear", "learning-rate schedule", ("linear", "cosine", "step", "constant"))
    lr_decay_epochs: int = _opt(50, "--lr_policy step: multiply by 0.1 every N epochs")
    max_steps: int | None = _opt(None, "stop after this many optimizer steps (overrides the epoch count for stopping, not for the schedule; with --streaming, the schedule spans these steps)")
    gradient_accumulation_steps: int = _opt(1, "batches per optimizer step")
    mixed_precision: str | None = _opt(None, "no, fp16 or bf16 (default: Accelerate's config)", ("no", "fp16", "bf16"))
    seed: int = _opt(0, "random seed (data order, crops, init, dropout)")
    on_nonfinite_loss: str = _opt("stop", "a NaN/Inf loss: stop keeping the last good checkpoint, or skip the step", ("stop", "skip"))
    channels_last: bool = _opt(False, "keep weights and activations channels-last (NHWC): faster convolutions on CPUs with AVX-512 and on GPUs")
    compile: bool = _opt(False, "torch.compile the networks (inductor): faster steps after the first ones, which compile (minutes on a CPU)")
    fused_adam: bool = _opt(False, "Adam as one fused kernel per step (GPU; same results up to rounding)")


@dataclass
class OutputConfig:
    """Checkpoints, validation grids, logging and uploading to the Hub."""

    output_dir: str = _opt("pix2pix-model", "where checkpoints, samples and the final model go")
    checkpointing_steps: int = _opt(500, "save a resumable checkpoint-{step} every N steps")
    checkpoints_total_limit: int | None = _opt(None, "keep at most N checkpoints (the newest)")
    resume_from_checkpoint: str | None = _opt(None, "'latest', a checkpoint-{step} folder, or its name in output_dir")
    validation_steps: int = _opt(500, "write a validation grid (input | output | target) and metrics every N steps")
    num_validation_images: int = _opt(4, "images in each validation grid")
    report_to: str = _opt("tensorboard", "tracker for losses, learning rate and images", ("tensorboard", "wandb", "none"))
    tracker_project_name: str = _opt("pix2pix-hub", "tracker project / run group")
    logging_steps: int = _opt(10, "log losses every N steps")
    push_to_hub: bool = _opt(False, "upload the final model to the Hub")
    hub_model_id: str | None = _opt(None, "user/name of the Hub repo (default: the output_dir name)")
    hub_private: bool = _opt(False, "create the Hub repo as private")
    hub_token: str | None = _opt(None, "Hub token (default: the cached login / HF_TOKEN)")
    push_checkpoints: bool = _opt(False, "with --push_to_hub: also upload each checkpoint to a `checkpoints` branch")
    overwrite: bool = _opt(False, "replace model files in output_dir (README.md, config.json...) that no training run wrote; by default such a file stops the run before it starts")


@dataclass
class TrainConfig:
    """Everything a training run needs: one group per dataclass."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cut: CUTConfig = field(default_factory=CUTConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def resolve(self, model_defaults: dict[str, Any] | None = None) -> "TrainConfig":
        """Fill the fields still None from `model_defaults` (the recipe's `defaults`: training.train passes them;
        a name may be a field of the model, cut or optim group) and check the combination; returns self."""
        for name, value in (model_defaults or {}).items():
            group = next(g for g in (self.model, self.cut, self.optim) if hasattr(g, name))
            if getattr(group, name) is None:
                setattr(group, name, value)
        if not self.data.dataset and not (self.data.dataset_a and self.data.dataset_b):
            raise ConfigError("no training data: pass --dataset PATH_OR_ID (or --dataset_a and --dataset_b for unpaired data)")
        if self.model.model != "cyclegan" and self.data.dataset_a:
            raise ConfigError(f"--dataset_a/--dataset_b give unpaired data, which {self.model.model} cannot use: pass --dataset, or use --model cyclegan")
        if self.data.streaming and not self.optim.max_steps:
            raise ConfigError("--streaming reads a dataset of unknown length: pass --max_steps N (the learning-rate schedule spans those steps)")
        if self.data.preprocess in ("resize_and_crop", "scale_width_and_crop") and self.data.load_size < self.data.resolution:
            raise ConfigError(f"--load_size {self.data.load_size} is smaller than --resolution {self.data.resolution}: the crop would not fit")
        from .models.factory import parse_netG  # (here: importing torch would slow `train.py --help`)

        if self.model.upsample != "transpose" and parse_netG(self.model.netG).kind != "unet":
            raise ConfigError(f"--upsample {self.model.upsample} is for U-Net generators; {self.model.netG} has its own decoder: drop --upsample")
        check_values(self)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        groups = {f.name: f.type for f in dataclasses.fields(cls)}
        hints = get_type_hints(cls)
        return cls(**{name: hints[name](**values.get(name, {})) for name in groups})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


# Flags that must be whole numbers of at least this much (None: not set, left to its default behaviour).
AT_LEAST = {"optim.max_steps": 1, "optim.batch_size": 1, "optim.gradient_accumulation_steps": 1,
            "optim.n_epochs": 0, "optim.n_epochs_decay": 0, "optim.lr_decay_epochs": 1,
            "output.checkpointing_steps": 1, "output.validation_steps": 1, "output.logging_steps": 1,
            "output.num_validation_images": 1, "output.checkpoints_total_limit": 1, "data.load_size": 1,
            "data.resolution": 1, "data.max_train_samples": 1, "data.shuffle_buffer_size": 1,
            "data.dataloader_num_workers": 0, "data.input_nc": 1, "data.output_nc": 1, "model.ngf": 1,
            "model.ndf": 1, "model.n_layers_D": 1, "model.pool_size": 0}


def check_values(config: TrainConfig) -> None:
    """Values that would fail later, or train something other than asked, refused in one line before any work."""
    from pathlib import Path

    for dotted, lowest in AT_LEAST.items():
        group, name = dotted.split(".")
        value = getattr(getattr(config, group), name)
        if value is not None and value < lowest:
            raise ConfigError(f"--{name} {value}: must be at least {lowest}")
    o = config.optim
    if o.n_epochs + o.n_epochs_decay == 0:
        raise ConfigError("--n_epochs 0 --n_epochs_decay 0: nothing to train (and no learning-rate schedule); "
                          "pass at least one epoch")
    if o.lr_policy == "cosine" and o.n_epochs == 0:
        raise ConfigError("--lr_policy cosine spans --n_epochs, which is 0: pass --n_epochs N")
    if o.learning_rate <= 0:
        raise ConfigError(f"--learning_rate {o.learning_rate}: must be above 0")
    check_resolution(config)
    out = Path(config.output.output_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--output_dir {out} is a file: pass a folder (it is created if absent)")


def check_resolution(config: TrainConfig) -> None:
    """A crop the generator cannot take whole: unet_256 needs sides divisible by 256, a ResNet by 4 (with
    --preprocess none/scale_width the image sides are rounded to that, as documented)."""
    from .models.factory import parse_netG

    if not config.model.netG:  # (resolve() without the recipe's defaults)
        return
    multiple = parse_netG(config.model.netG).size_multiple
    d = config.data
    if d.preprocess in ("resize_and_crop", "crop", "scale_width_and_crop") and d.resolution % multiple:
        hint = (f"use --resolution {max(multiple, d.resolution // multiple * multiple)}"
                + (f", or --netG unet_{2 ** (d.resolution.bit_length() - 1)}" if parse_netG(config.model.netG).kind == "unet"
                   and d.resolution >= 32 else ""))
        raise ConfigError(f"--resolution {d.resolution} is not a multiple of {multiple}, which --netG "
                          f"{config.model.netG} needs (the crop would be scaled to fit it); {hint}")


def _flag_type(annotation):
    """bool | None -> bool, int | None -> int, ..."""
    if get_origin(annotation) is not None:
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    return annotation


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds `(default: X)` to an option's help unless its help already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def str_to_bool(value: str) -> bool:
    if value.lower() in ("true", "yes", "1", "on"):
        return True
    if value.lower() in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def build_parser(models: list[str] | None = None) -> argparse.ArgumentParser:
    """The flags of TrainConfig; `models`: the choices of --model (the recipe registry's names)."""
    parser = argparse.ArgumentParser(
        description="Train pix2pix, CycleGAN, CUT or FastCUT. Run with `python train.py ...` or `accelerate launch train.py ...`.",
        formatter_class=HelpFormatter,
    )
    hints = get_type_hints(TrainConfig)
    for group_field in dataclasses.fields(TrainConfig):
        group_cls = hints[group_field.name]
        group = parser.add_argument_group(group_field.name, group_cls.__doc__)
        for f in dataclasses.fields(group_cls):
            kind = _flag_type(get_type_hints(group_cls)[f.name])
            kwargs = {"default": f.default, "help": f.metadata["help"], "dest": f"{group_field.name}.{f.name}"}
            if kind is not bool and not f.metadata.get("choices") and f.name != "model":
                kwargs["metavar"] = {int: "N", float: "X"}.get(kind, "STR")
            if kind is bool:  # `--flag` or `--flag false`: CUT's options (on by default for some models) need both
                kwargs.update(nargs="?", const=True, type=str_to_bool, metavar="true|false")
            else:
                kwargs["type"] = kind
                choices = models if (group_field.name, f.name) == ("model", "model") else f.metadata.get("choices")
                if choices:
                    kwargs["choices"] = choices
            group.add_argument(f"--{f.name}", **kwargs)
    return parser


def parse_args(argv: list[str] | None = None, models: list[str] | None = None) -> TrainConfig:
    namespace = build_parser(models).parse_args(argv)
    values: dict[str, dict] = {}
    for dest, value in vars(namespace).items():
        group, name = dest.split(".", 1)
        values.setdefault(group, {})[name] = value
    return TrainConfig.from_dict(values)


