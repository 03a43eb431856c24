"""The reference's and CUT's .pth checkpoints -> a pix2pix-hub model folder (the command: convert_command.py).

pix2pix:  --checkpoint latest_net_G.pth                              -> config.json + model.safetensors
CycleGAN: --checkpoint_a2b latest_net_G_A.pth --checkpoint_b2a latest_net_G_B.pth -> AtoB/ + BtoA/
CUT:      --checkpoint latest_net_G.pth (taesungp/contrastive-unpaired-translation; anti-aliased ResNet)

Checkpoints are read with `torch.load(weights_only=True)`: tensors only, never arbitrary pickles.
The architecture (netG, ngf, norm, channels) is read from the tensors' names and shapes; flags that
contradict them fail with a one-line hint naming the flag to fix.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import struct
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..errors import Pix2PixHubError, first_line
from ..models import Generator, WeightMismatchError, build_generator, load_state_dict_checked
from ..models.factory import parse_netG
from ..models.folder import save_model_folder
from ..models.run_mode import TEST_MODES, apply_test_mode, train_mode_differs
from .convert_card import write_converted_card

__all__ = ["ConvertError", "CheckpointSpec", "apply_test_mode", "convert", "generator_from_checkpoint",
           "infer_spec", "read_checkpoint"]

DEFAULT_SOURCE = "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix"
CUT_SOURCE = "https://github.com/taesungp/contrastive-unpaired-translation"
MODEL_TYPES = ("pix2pix", "cyclegan", "colorization", "cut", "fastcut")
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "netG", "generator", "net", "G")
NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")


class ConvertError(Pix2PixHubError, ValueError):
    """A checkpoint that cannot be converted; the message says why and what to pass instead."""


@dataclass(frozen=True)
class CheckpointSpec:
    """A reference generator's options. `use_dropout` None: not visible in the weights (U-Net). `antialias`,
    `antialias_up`: CUT's blur-pool down/upsampling (its `filt` buffers are in the weights)."""

    netG: str
    ngf: int
    norm: str
    input_nc: int
    output_nc: int
    use_dropout: bool | None
    antialias: bool = False
    antialias_up: bool = False


# -- reading ------------------------------------------------------------------------------------
def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict in a .pth (or .safetensors) file: unwrapped, without a DataParallel `module.` prefix."""
    path = Path(path)
    if not path.is_file():
        raise ConvertError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        import safetensors.torch
        try:
            return strip_module_prefix(safetensors.torch.load_file(str(path)))
        except Exception as error:  # safetensors raises its own error types
            raise ConvertError(f"{path} is not a readable safetensors file ({error})") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if not unsafe:  # e.g. "Unsupported operand": not a pickle at all
            raise ConvertError(f"{path} is not a PyTorch checkpoint (it cannot be unpickled)") from None
        raise ConvertError(f"{path} holds objects other than tensors ({unsafe.group(1)}), which are not loaded for "
                           "safety; re-save only the weights: torch.save(net.state_dict(), path)") from None
    # (text or random bytes make the weights-only unpickler trip on a missing memo key, index or struct)
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError, struct.error) as error:
        raise ConvertError(f"{path} is not a PyTorch checkpoint ({type(error).__name__}: "
                           f"{first_line(error, 120, 'empty')})") from None
    return strip_module_prefix(unwrap_state_dict(loaded, path))


def is_tensor_dict(value) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def unwrap_state_dict(loaded, path: Path) -> dict[str, torch.Tensor]:
    """A plain state_dict as is; {"state_dict": {...}} and similar training checkpoints unwrapped."""
    if is_tensor_dict(loaded):
        return dict(loaded)
    if not isinstance(loaded, dict):
        raise ConvertError(f"{path} holds a {type(loaded).__name__}, not a state_dict (a dict of tensors)")
    for key in WRAPPER_KEYS:
        if is_tensor_dict(loaded.get(key)):
            return dict(loaded[key])
    inner = [key for key, value in loaded.items() if is_tensor_dict(value)]
    if len(inner) == 1:
        return dict(loaded[inner[0]])
    described = ", ".join(f"{k!r}" for k in list(loaded)[:8])
    raise ConvertError(f"{path} is a dict without one generator state_dict in it (keys: {described}); "
                       + (f"it holds several ({', '.join(inner)}): save the generator's alone" if inner else
                          "expected a dict of tensors such as model.model.0.weight"))


def strip_module_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoints saved from a DataParallel/DDP wrapper name every key `module.<key>`."""
    if state_dict and all(key.startswith("module.") for key in state_dict):
        return {key[len("module."):]: value for key, value in state_dict.items()}
    return state_dict


# -- inferring the architecture -----------------------------------------------------------------
def infer_spec(state_dict: dict[str, torch.Tensor]) -> CheckpointSpec:
    """netG, ngf, norm and channels from key names and shapes."""
    if "model.model.0.weight" in state_dict:
        return infer_unet(state_dict)
    if "model.1.weight" in state_dict and any(".conv_block." in key for key in state_dict):
        return infer_resnet(state_dict)
    raise ConvertError("these weights are not a reference generator: expected model.model.0.weight (U-Net) or "
                       f"model.N.conv_block... (ResNet); first keys: {', '.join(list(state_dict)[:4])}")


def infer_norm(state_dict: dict[str, torch.Tensor], first_conv: str) -> str:
    """BatchNorm has 1-D affine weights; with InstanceNorm (affine=False) the convs have biases instead;
    with no norm, neither. (Old InstanceNorm running stats, which have no weight, do not count.)"""
    if any(key.endswith(".weight") and value.dim() == 1 for key, value in state_dict.items()):
        return "batch"
    return "instance" if f"{first_conv}.bias" in state_dict else "none"


def infer_unet(state_dict: dict[str, torch.Tensor]) -> CheckpointSpec:
    # Each level nests one more `model.`: the innermost down conv's key has num_downs + 1 of them.
    depth = max(key.split(".").count("model") for key in state_dict) - 1
    first, last = state_dict["model.model.0.weight"], state_dict.get("model.model.3.weight")
    if last is None or first.dim() != 4:
        raise ConvertError("a U-Net checkpoint without its outer layers (model.model.3.weight): is it complete?")
    return CheckpointSpec(f"unet_{2**depth}", first.shape[0], infer_norm(state_dict, "model.model.0"),
                         input_nc=first.shape[1], output_nc=last.shape[1], use_dropout=None)


def infer_resnet(state_dict: dict[str, torch.Tensor]) -> CheckpointSpec:
    blocks = sorted({int(key.split(".")[1]) for key in state_dict if ".conv_block." in key})
    # A block's second conv is conv_block.5, or conv_block.6 when a Dropout layer sits before it.
    second_conv = state_dict.get(f"model.{blocks[0]}.conv_block.6.weight")
    dropout = second_conv is not None and second_conv.dim() == 4  # (with BatchNorm, conv_block.6 is its norm)
    convs = [key for key, value in state_dict.items() if key.endswith(".weight") and value.dim() == 4]
    first, last = state_dict["model.1.weight"], state_dict[max(convs, key=lambda k: int(k.split(".")[1]))]
    # CUT's anti-aliased nets hold a fixed blur filter (`model.N.filt`) per down/upsampling, before/after the blocks
    filters = [int(key.split(".")[1]) for key in state_dict if key.endswith(".filt")]
    return CheckpointSpec(f"resnet_{len(blocks)}blocks", first.shape[0], infer_norm(state_dict, "model.1"),
                         input_nc=first.shape[1], output_nc=last.shape[0], use_dropout=dropout,
                         antialias=any(i < blocks[0] for i in filters), antialias_up=any(i > blocks[-1] for i in filters))


def resolve_spec(found: CheckpointSpec, netG: str | None = None, ngf: int | None = None, norm: str | None = None,
                 no_dropout: bool = False) -> CheckpointSpec:
    """The spec to build: the found one, after checking that given flags agree with it."""
    norm = "batch" if norm == "syncbatch" else norm  # same weights
    if netG and netG != found.netG:
        raise ConvertError(f"--netG {netG} but the weights are a {describe_net(found)}: pass --netG {found.netG}")
    if ngf and ngf != found.ngf:
        raise ConvertError(f"--ngf {ngf} but the first conv has {found.ngf} filters: pass --ngf {found.ngf}")
    if norm and norm != found.norm:
        raise ConvertError(f"--norm {norm} but the weights {NORM_EVIDENCE[found.norm]}: pass --norm {found.norm}")
    if found.use_dropout and no_dropout:
        raise ConvertError("--no_dropout but the ResNet blocks have a dropout layer (their second conv is "
                           "conv_block.6, not conv_block.5): leave out --no_dropout")
    if found.use_dropout is None:  # U-Net: invisible in the weights; the reference's pix2pix default is on
        return replace(found, use_dropout=not no_dropout)
    return found


NORM_EVIDENCE = {
    "batch": "have BatchNorm layers (1-D weight, bias, running_mean, running_var)",
    "instance": "have no BatchNorm layers and their convs have biases (as with InstanceNorm)",
    "none": "have neither BatchNorm layers nor conv biases (as with no norm)",
}


def describe_net(spec: CheckpointSpec) -> str:
    return parse_netG(spec.netG).describe()


# -- building ------------------------------------------------------------------------------------
def drop_stale_norm_stats(state_dict: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Old (PyTorch < 0.4) checkpoints carry InstanceNorm running stats the model has no place for."""
    expected = model.state_dict()
    return {key: value for key, value in state_dict.items()
            if key in expected or key.rsplit(".", 1)[-1] not in NORM_STATS}


def generator_from_checkpoint(checkpoint: str | Path | dict[str, torch.Tensor], *, netG: str | None = None,
                              ngf: int | None = None, norm: str | None = None,
                              no_dropout: bool = False) -> Generator:
    """A pix2pix-hub generator holding a reference checkpoint's weights (a path or a state_dict), in eval mode."""
    state_dict = strip_module_prefix(checkpoint) if isinstance(checkpoint, dict) else read_checkpoint(checkpoint)
    spec = resolve_spec(infer_spec(state_dict), netG, ngf, norm, no_dropout)
    generator = build_generator(spec.netG, spec.input_nc, spec.output_nc, spec.ngf, spec.norm, spec.use_dropout,
                                antialias=spec.antialias, antialias_up=spec.antialias_up)
    try:
        load_state_dict_checked(generator, drop_stale_norm_stats(state_dict, generator))
    except WeightMismatchError as error:
        raise ConvertError(f"{error} (inferred {spec})") from None
    return generator.eval()


def default_test_mode(generators: dict[str, Generator]) -> str:
    """reference_train when it changes the outputs (BatchNorm or dropout): that is how the reference's
    test.py produced its results; otherwise eval (the same outputs, without the surprise)."""
    return "reference_train" if any(train_mode_differs(g) for g in generators.values()) else "eval"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert(output_dir: str | Path, checkpoints: dict[str, str | Path], *, netG: str | None = None,
            ngf: int | None = None, norm: str | None = None, no_dropout: bool = False, test_mode: str | None = None,
            name: str | None = None, source: str | None = None, domain_a_name: str = "A",
            domain_b_name: str = "B", resolution: int | None = None, license: str | None = None,
            repo_id: str | None = None, model_type: str | None = None) -> Path:
    """Convert {"AtoB": path} (pix2pix, CUT / one direction) or {"AtoB": G_A, "BtoA": G_B} (CycleGAN) into a
    model folder with config.json, model.safetensors and a model card. Returns the folder.

    `model_type` defaults to cyclegan for two generators, cut for an anti-aliased one (only CUT's code makes
    those), else pix2pix; `source` to the repository that model type comes from."""
    if test_mode is not None and test_mode not in TEST_MODES:
        raise ConvertError(f"--test_mode must be one of {TEST_MODES}, got {test_mode!r}")
    generators = {direction: generator_from_checkpoint(path, netG=netG, ngf=ngf, norm=norm, no_dropout=no_dropout)
                  for direction, path in checkpoints.items()}
    first = next(iter(generators.values()))
    antialiased = first.config.get("antialias") or first.config.get("antialias_up")
    # the reference's colorization model is the only one mapping 1 channel (L) to 2 (ab)
    colorization = (first.config["input_nc"], first.config["output_nc"]) == (1, 2)
    model_type = model_type or ("cyclegan" if len(generators) == 2 else "cut" if antialiased else
                                "colorization" if colorization else "pix2pix")
    if (model_type == "cyclegan") != (len(generators) == 2):
        raise ConvertError(f"--model_type {model_type} has {'two generators' if model_type == 'cyclegan' else 'one'}: "
                           "pass --checkpoint for one, --checkpoint_a2b and --checkpoint_b2a for a CycleGAN")
    source = source or (CUT_SOURCE if model_type in ("cut", "fastcut") else DEFAULT_SOURCE)
    metadata = {
        "model_type": model_type,
        "test_mode": test_mode or default_test_mode(generators),
        "resolution": resolution or (first.size_multiple if parse_netG(first.netG).kind == "unet" else 256),
        "domain_a_name": domain_a_name, "domain_b_name": domain_b_name,
        "converted_from": {"name": name, "source": source, "checkpoints": {
            direction: {"file": Path(path).name, "sha256": sha256(Path(path))} for direction, path in checkpoints.items()}},
    }
    output_dir = save_model_folder(output_dir, generators, metadata)
    write_converted_card(output_dir, generators, metadata, repo_id=repo_id or Path(output_dir).name, license=license)
    return output_dir
