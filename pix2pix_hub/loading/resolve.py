"""A model's name -> a local model folder: the one place that knows what a name can be.

- a local folder: as it is (a file is refused: a .pth is converted first, never unpickled);
- one of the reference's pretrained names (horse2zebra, pix2pix:facades_label2photo...): its converted folder in
  the package's cache, downloaded and converted once (`pretrained_folder`);
- a Hub id (user/name): only the files a model folder needs, checked first (hub/files.py), from the Hub's cache.
Loading (load.py), the app and the convert command all go through `resolve_model_folder`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..hub.downloads import Entry, cache_dir, file_lock, is_known, lookup, model_file, names
from ..hub.files import ModelLoadError, fetch_model_files
from ..hub.ids import hub_id_problem

PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")


def resolve_model_folder(path_or_id: str | Path, revision: str | None = None, subfolder: str | None = None,
                         local_files_only: bool = False, weights: bool = True,
                         max_weights_bytes: int | None = None) -> Path:
    """A local folder as is; a Hub id downloaded: only [subfolder/]config.json, README.md and (with `weights`)
    model.safetensors, after checking the repo's file list and sizes (hub/files.py)."""
    path = Path(path_or_id)
    if path.is_file():
        if path.suffix in PICKLE_SUFFIXES:
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
    return fetch_model_files(str(path_or_id), revision, subfolder, weights=weights,
                             max_weights_bytes=max_weights_bytes, local_files_only=local_files_only)


def is_local(path_or_id: str | Path) -> bool:
    """A folder on this machine (its files are named by their paths; a Hub model's by its id)."""
    return Path(path_or_id).is_dir()


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


def domain_names(name: str) -> tuple[str, str]:
    """horse2zebra -> (horse, zebra); facades_label2photo -> (label, photo); style_monet -> (photo, monet)."""
    if name.startswith("style_"):
        return "photo", name[len("style_"):]
    part = next((p for p in name.split("_") if "2" in p), "A2B")
    a, _, b = part.partition("2")
    return a, b


def pretrained_cache_folder(spec: str) -> tuple[Entry, Path]:
    """The name's entry and the folder its converted model has in the cache."""
    from .convert import ConvertError

    entry = lookup(spec, "model")
    if entry is None:
        raise ConvertError(f"{spec}: not one of the reference's pretrained models: {', '.join(names('model'))}")
    return entry, cache_dir() / "models" / entry.kind / entry.name


def pretrained_folder(spec: str, output: str | Path | None = None, progress=None) -> Path:
    """One of the reference's pretrained generators (scripts/download_{pix2pix,cyclegan}_model.sh), converted as
    `convert` converts a .pth, into `output` (default: the cache), once: the .pth is downloaded (resumably), the
    model written under a temporary name and renamed when complete, and the .pth then removed."""
    from .convert import ConvertError, convert  # (torch; only when a model is converted)

    entry, folder = pretrained_cache_folder(spec)
    folder = Path(output) if output else folder
    if (folder / "config.json").is_file():
        return folder
    if folder.exists() and any(folder.iterdir()):
        raise ConvertError(f"{folder} exists and is not a model folder: pass another --output")
    with file_lock(cache_dir() / "downloads" / entry.kind / f"{entry.name}.convert.lock"):
        if (folder / "config.json").is_file():  # another process converted it meanwhile
            return folder
        print(f"{entry.spec}: the reference's pretrained {entry.kind} model, downloading once from {entry.url}",
              flush=True)
        checkpoint = model_file(entry, progress)  # progress(received, total): downloads.download
        staging = folder.with_name(f".{folder.name}.converting-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        a, b = domain_names(entry.name)
        try:
            convert(staging, {"AtoB": checkpoint}, name=entry.name, source=entry.url, domain_a_name=a, domain_b_name=b,
                    repo_id=entry.short_spec)
        except ConvertError as error:
            checkpoint.unlink(missing_ok=True)
            raise ConvertError(f"{entry.url}: {error}; the download was deleted: run the same command again to "
                               "download it anew") from None
        finally:
            if not (staging / "config.json").is_file():
                shutil.rmtree(staging, ignore_errors=True)
        if folder.exists():
            folder.rmdir()  # an empty --output folder
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, folder)
        checkpoint.unlink()  # converted; the model folder holds the same weights
    return folder
