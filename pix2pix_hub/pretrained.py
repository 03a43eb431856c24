"""The layout of a saved model, on disk and on the Hub, and `load_generator`.

pix2pix:   config.json + model.safetensors at the root (one generator).
CycleGAN:  config.json at the root saying which domain is which, and one folder per direction,
           AtoB/ and BtoA/, each a complete `from_pretrained` folder of its own.
config.json holds the generator's constructor arguments (what `from_pretrained` needs) plus
`model_type`, `generator`, `netG`, `direction`, domain names and how to run it (`test_mode`).
"""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub
from huggingface_hub import errors as hub_errors

from .convert import pretrained_cache_folder, pretrained_folder
from .downloads import is_known
from .errors import Pix2PixHubError, first_line
from .hub import hub_id_problem
from .model_folder import DIRECTIONS, GENERATOR_CLASSES, generator_kind, save_model_folder  # noqa: F401 (old home)
from .models import Generator
from .models.base import WeightMismatchError


class ModelLoadError(Pix2PixHubError, ValueError):
    """A model that cannot be loaded; the message says why and what to do."""



def resolve_model_folder(path_or_id: str | Path, revision: str | None = None, subfolder: str | None = None,
                         local_files_only: bool = False) -> Path:
    """A local folder as is; a Hub id downloaded (only config, weights and the wanted subfolder)."""
    path = Path(path_or_id)
    if path.is_file():
        if path.suffix in (".pth", ".pt", ".ckpt", ".bin"):
            raise ModelLoadError(
                f"{path} is a PyTorch pickle, which is never loaded as a model here: convert it once with "
                f"`python -m pix2pix_hub convert --checkpoint {path} --output DIR`, then load DIR")
        raise ModelLoadError(f"{path} is a file: pass the folder holding config.json and model.safetensors")
    if path.is_dir():
        return path
    if is_known(str(path_or_id), "model"):  # horse2zebra, pix2pix:facades_label2photo...
        return reference_model(str(path_or_id), local_files_only)
    if hub_id_problem(str(path_or_id)):
        raise ModelLoadError(f"{path_or_id!r} is neither a local folder nor a Hub id of the form user/name, nor one of the "
                             "reference's pretrained models (horse2zebra, pix2pix:facades_label2photo...: `python -m pix2pix_hub "
                             "convert --help`)")
    patterns = ["config.json", "*.safetensors", "README.md"]
    if subfolder:
        patterns = ["config.json", f"{subfolder}/config.json", f"{subfolder}/*.safetensors"]
    try:
        return Path(huggingface_hub.snapshot_download(
            str(path_or_id), revision=revision, allow_patterns=patterns, local_files_only=local_files_only))
    except hub_errors.RevisionNotFoundError as error:
        raise ModelLoadError(f"{path_or_id}: revision {revision!r} does not exist on the Hub") from error
    except hub_errors.RepositoryNotFoundError as error:
        raise ModelLoadError(
            f"{path_or_id}: no such model repo on the Hub (or it is private: log in with `hf auth login`)") from error
    except (hub_errors.LocalEntryNotFoundError, hub_errors.OfflineModeIsEnabled, OSError) as error:
        raise ModelLoadError(
            f"{path_or_id}: could not reach the Hub and it is not in the local cache ({type(error).__name__}); "
            "check the network / HF_ENDPOINT, or pass a local folder") from error


def reference_model(name: str, local_files_only: bool = False) -> Path:
    """One of the reference's pretrained generators by name: its converted folder in the cache, downloaded and
    converted on first use (`local_files_only`: only if it is there already)."""
    entry, folder = pretrained_cache_folder(name)
    if (folder / "config.json").is_file():
        return folder
    if local_files_only:
        raise ModelLoadError(f"{entry.spec}: the reference's pretrained model is not converted on this server yet "
                             f"(its operator can run `python -m pix2pix_hub convert --pretrained {entry.spec}`)")
    return pretrained_folder(entry.spec)


def read_model_config(folder: Path) -> dict:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"{folder} has no config.json: it is not a pix2pix-hub model folder "
                             "(a reference .pth checkpoint? use `python -m pix2pix_hub convert`)")
    try:
        return json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise ModelLoadError(f"{config_path} is not valid JSON ({error})") from error


def pick_direction(config: dict, direction: str | None) -> str | None:
    """The subfolder to load: None for a single-generator repo."""
    directions = config.get("directions")
    if not directions:
        trained = config.get("direction", "AtoB")
        if direction not in (None, trained):
            raise ModelLoadError(
                f"this {config.get('model_type', 'pix2pix')} model has one generator, trained {trained}; "
                f"it cannot translate {direction}. Leave direction unset")
        return None
    if direction is None:
        return "AtoB"
    if direction not in directions:
        raise ModelLoadError(f"direction must be one of {directions}, got {direction!r}")
    return direction


def load_generator(path_or_id: str | Path, direction: str | None = None, *, revision: str | None = None,
                   device: str = "cpu", local_files_only: bool = False) -> Generator:
    """The generator of a saved model (local folder or Hub id), in eval mode, on `device`.

    For CycleGAN repos `direction` picks AtoB (default) or BtoA.
    """
    root = resolve_model_folder(path_or_id, revision, local_files_only=local_files_only)
    config = read_model_config(root)
    subfolder = pick_direction(config, direction)
    if subfolder and not (root / subfolder / "config.json").is_file():
        root = resolve_model_folder(path_or_id, revision, subfolder=subfolder, local_files_only=local_files_only)
    folder = root / subfolder if subfolder else root
    config = read_model_config(folder)
    kind = config.get("generator")
    if kind not in GENERATOR_CLASSES:
        raise ModelLoadError(f"{folder}/config.json: unknown generator {kind!r} (expected one of {sorted(GENERATOR_CLASSES)})")
    if not any(folder.glob("*.safetensors")):
        raise ModelLoadError(f"{folder} has no model.safetensors")
    try:
        return GENERATOR_CLASSES[kind].from_pretrained(folder, map_location=device)  # its .config: config.json
    except (WeightMismatchError, TypeError):  # weights or config.json arguments that do not fit: already clear
        raise
    except Exception as error:  # noqa: BLE001 -- safetensors raises its own error types for a truncated file
        raise ModelLoadError(f"{folder}/model.safetensors cannot be read ({type(error).__name__}: "
                             f"{first_line(error, 160, 'empty')}); download or save "
                             "the model again") from error
