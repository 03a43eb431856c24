"""Downloading a model from the Hub: only the files a model folder needs, checked before a byte is fetched.

A model folder is `config.json`, `model.safetensors` and optionally `README.md`, at the top of the repo or of
one direction's folder (`AtoB/`, `BtoA/` for CycleGAN). The repo's file list, with sizes, is read first
(`list_repo_tree`, pinned to the commit `model_info` names); a repo without those files, or with files over
the caps, is refused in one line and nothing of it is downloaded; nothing else in the repo ever is. With
`HF_HUB_OFFLINE=1`, or when the Hub cannot be reached, the same files come from the local cache.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import huggingface_hub
from huggingface_hub import constants
from huggingface_hub import errors as hub_errors
from huggingface_hub.hf_api import RepoFile

from ..errors import Pix2PixHubError, first_line

CONFIG, WEIGHTS, CARD = "config.json", "model.safetensors", "README.md"
MAX_CONFIG_BYTES = 1_000_000  # a config.json is a few KB
MAX_CARD_BYTES = 1_000_000  # a larger README is left on the Hub (it is not needed to run the model)
DEFAULT_MAX_WEIGHTS_BYTES = 4 * 1024**3  # library use; a Space passes its own, lower cap


class ModelLoadError(Pix2PixHubError, ValueError):
    """A model that cannot be loaded; the message says why and what to do."""


def transport_errors() -> tuple[type[BaseException], ...]:
    """What a Hub that cannot be reached raises: OSError, offline mode, and the HTTP client's transport
    errors (huggingface_hub 2.x uses httpx2, whose errors are not OSErrors)."""
    found: list[type[BaseException]] = [OSError, hub_errors.OfflineModeIsEnabled]
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def fetch_model_files(repo_id: str, revision: str | None = None, subfolder: str | None = None, *,
                      weights: bool = True, max_weights_bytes: int | None = None,
                      local_files_only: bool = False) -> Path:
    """The local snapshot folder of `repo_id` holding [subfolder/]config.json (+ README.md, + model.safetensors
    when `weights`), after checking the repo's file list; ModelLoadError naming the problem otherwise."""
    prefix = f"{subfolder}/" if subfolder else ""
    wanted = [prefix + CONFIG, prefix + CARD] + ([prefix + WEIGHTS] if weights else [])
    if local_files_only or constants.HF_HUB_OFFLINE:
        return from_cache(repo_id, revision, wanted)
    try:
        sha, sizes = list_files(repo_id, revision, subfolder)
    except transport_errors() as error:  # connection refused, DNS, timeout (HTTP answers are handled there)
        return from_cache(repo_id, revision, wanted, reason=type(error).__name__)
    cap = DEFAULT_MAX_WEIGHTS_BYTES if max_weights_bytes is None else max_weights_bytes
    needed = check_files(repo_id, prefix, sizes, weights, cap)
    if prefix + CARD in sizes and sizes[prefix + CARD] <= MAX_CARD_BYTES:
        needed.append(prefix + CARD)
    try:
        for filename in needed:
            path = huggingface_hub.hf_hub_download(repo_id, filename, revision=revision)
            if Path(path).stat().st_size > sizes[filename]:  # replaced by a larger file since it was listed
                raise ModelLoadError(f"{repo_id}: {filename} changed on the Hub while it was downloaded; try again")
    except hub_errors.HfHubHTTPError as error:
        raise ModelLoadError(f"{repo_id}: downloading {filename} failed ({first_line(error, 160)})") from None
    except transport_errors() as error:
        return from_cache(repo_id, revision, wanted, reason=type(error).__name__)
    return Path(path).parents[len(Path(filename).parts) - 1]


def list_files(repo_id: str, revision: str | None, subfolder: str | None) -> tuple[str, dict[str, int]]:
    """(commit sha, {path: size}) of the files at the top of the repo, or of `subfolder`."""
    api = huggingface_hub.HfApi()
    try:
        sha = api.model_info(repo_id, revision=revision).sha
        entries = api.list_repo_tree(repo_id, path_in_repo=subfolder, revision=sha, recursive=False)
        return sha, {entry.path: entry.size for entry in entries if isinstance(entry, RepoFile)}
    except hub_errors.RevisionNotFoundError:
        raise ModelLoadError(f"{repo_id}: revision {revision!r} does not exist on the Hub") from None
    except hub_errors.RepositoryNotFoundError:
        raise ModelLoadError(f"{repo_id}: no such model repo on the Hub (or it is private: log in with "
                             "`hf auth login`)") from None
    except hub_errors.EntryNotFoundError:
        return sha, {}  # no such subfolder: check_files says what is missing
    except hub_errors.HfHubHTTPError as error:
        raise ModelLoadError(f"{repo_id}: the Hub could not list its files ({first_line(error, 160)})") from None
    except hub_errors.HFValidationError as error:
        raise ModelLoadError(f"{repo_id!r} is not a valid Hub id ({first_line(error, 160)})") from None


def check_files(repo_id: str, prefix: str, sizes: dict[str, int], weights: bool, cap: int) -> list[str]:
    """The files to download, or ModelLoadError: no config.json, no weights, or files over the caps."""
    listed = ", ".join(sorted(sizes)[:5]) or "no files"
    if prefix + CONFIG not in sizes:
        raise ModelLoadError(f"{repo_id}: no {prefix}{CONFIG} (it has {listed}): not a pix2pix-hub model; "
                             "nothing was downloaded")
    if sizes[prefix + CONFIG] > MAX_CONFIG_BYTES:
        raise ModelLoadError(f"{repo_id}: its {prefix}{CONFIG} is {mib(sizes[prefix + CONFIG])}, not a model's "
                             "config; nothing was downloaded")
    if not weights:
        return [prefix + CONFIG]
    if prefix + WEIGHTS not in sizes:
        other = [name for name in sizes if name.endswith((".bin", ".pth", ".pt", ".ckpt"))]
        hint = (f" ({other[0]} is a PyTorch pickle, never loaded here: convert it with `python -m pix2pix_hub "
                "convert`)") if other else ""
        raise ModelLoadError(f"{repo_id}: no {prefix}{WEIGHTS}{hint}; nothing was downloaded")
    if sizes[prefix + WEIGHTS] > cap:
        raise ModelLoadError(f"{repo_id}: {prefix}{WEIGHTS} is {mib(sizes[prefix + WEIGHTS])}, over the limit of "
                             f"{mib(cap)}; nothing was downloaded")
    return [prefix + CONFIG, prefix + WEIGHTS]


def from_cache(repo_id: str, revision: str | None, wanted: list[str], reason: str = "offline mode") -> Path:
    try:
        return Path(huggingface_hub.snapshot_download(repo_id, revision=revision, allow_patterns=wanted,
                                                      local_files_only=True))
    except (hub_errors.LocalEntryNotFoundError, hub_errors.OfflineModeIsEnabled, OSError, ValueError):
        raise ModelLoadError(
            f"{repo_id}: could not reach the Hub and it is not in the local cache ({reason}); "
            "check the network / HF_ENDPOINT, or pass a local folder") from None
