"""What every generator shares: norm layers, Hub save/load, strict weight loading."""

from __future__ import annotations

import functools

import safetensors.torch
import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from ..errors import ConfigError, Pix2PixHubError

REPO_URL = "https://github.com/pix2pix-hub/pix2pix-hub"


def norm_layer(norm: str):
    """The reference's norm choices: BatchNorm with running stats, InstanceNorm without affine or stats."""
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda channels: nn.Identity()
    raise ConfigError(f"unknown norm {norm!r}: use batch, instance or none")


def uses_bias(norm: str) -> bool:
    # As in the reference: convs followed by BatchNorm have no bias (BN has its own shift); with
    # InstanceNorm (affine=False) they do. "none" has no bias either — kept for checkpoint compatibility.
    return norm == "instance"


class WeightMismatchError(Pix2PixHubError, ValueError):
    """Weights that do not fit the generator's config (missing, unexpected or differently shaped tensors)."""


class Generator(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="pix2pix-hub",
    pipeline_tag="image-to-image",
    tags=["pix2pix-hub", "image-to-image", "gan"],
    repo_url=REPO_URL,
):
    """Base class of the generators: NCHW tensors in [-1, 1] in and out.

    `from_pretrained` loads strictly: weights that do not fit the config raise WeightMismatchError
    instead of leaving layers at random init (huggingface_hub's default is non-strict).

    `config` is the generator's one public config (see there).
    """

    architecture: str = ""
    _saved_config: dict = {}  # the config.json it was loaded from (set by _from_pretrained only; never mutated)

    @property
    def config(self) -> dict:
        """A copy of this generator's config: its constructor arguments (input_nc, output_nc, ngf, norm, use_dropout,
        num_downs or n_blocks...), and for a generator loaded by `from_pretrained` / `load_generator`, everything
        else its config.json holds (model_type, generator, netG, direction, domain_a_name / domain_b_name,
        resolution, test_mode, training arguments, metrics)."""
        return {**self._saved_config, **self._hub_mixin_config}

    @classmethod
    def _from_pretrained(cls, *, config: dict | None = None, **kwargs):
        # huggingface_hub passes the whole config.json here because this signature names `config`
        model = super()._from_pretrained(**kwargs)
        model._saved_config = dict(config or {})
        return model

    @property
    def netG(self) -> str:
        raise NotImplementedError

    @classmethod
    def _load_as_safetensor(cls, model, model_file: str, map_location: str, strict: bool):
        state_dict = safetensors.torch.load_file(model_file, device=map_location)
        load_state_dict_checked(model, state_dict)
        return model.eval()

    @classmethod
    def _load_as_pickle(cls, model, model_file: str, map_location: str, strict: bool):
        state_dict = torch.load(model_file, map_location=map_location, weights_only=True)
        load_state_dict_checked(model, state_dict)
        return model.eval()


def load_state_dict_checked(model: nn.Module, state_dict: dict[str, torch.Tensor], check_only: bool = False) -> None:
    """load_state_dict(strict=True) with an error that names the first few differences (`check_only`: only
    compare names and shapes, e.g. of `meta` tensors)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong_shape:
            parts.append(f"{len(wrong_shape)} of another shape (e.g. {wrong_shape[0]}, file vs model)")
        raise WeightMismatchError(
            f"the weights do not fit {type(model).__name__}({model.config if isinstance(model, Generator) else ''}): " + "; ".join(parts)
            + ". Check netG/ngf/norm in config.json match the weights."
        )
    if not check_only:
        model.load_state_dict(state_dict, strict=True)
