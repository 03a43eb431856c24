"""Resumable checkpoints: `checkpoint-{step}` folders, written whole or not at all.

A checkpoint is written under `checkpoint-{step}.partial` and renamed when complete; STATE_FILE is written last,
so its presence marks a complete checkpoint and a killed run never leaves a half-written "latest". It holds
Accelerate's state (weights, optimizers, RNG states) and each process's image pools, as safetensors + JSON.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import safetensors.torch
from accelerate import Accelerator

from ..config import TrainConfig
from ..errors import ConfigError, Pix2PixHubError, first_line
from ..recipes import Recipe

logger = logging.getLogger("pix2pix_hub")
CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "training_state.json"  # written last: its presence marks a complete checkpoint
# The flags that shape the networks' tensors: a checkpoint records them, and a resume must use the same.
ARCHITECTURE_FLAGS = {"model": ("model", "model"), "netG": ("model", "netG"), "ngf": ("model", "ngf"),
                      "netD": ("model", "netD"), "ndf": ("model", "ndf"), "n_layers_D": ("model", "n_layers_D"),
                      "norm": ("model", "norm"), "no_dropout": ("model", "no_dropout"),
                      "input_nc": ("data", "input_nc"), "output_nc": ("data", "output_nc")}


class CheckpointError(Pix2PixHubError, RuntimeError):
    """A checkpoint could not be written (disk full, quota...); the previous one is intact."""


class MissingCheckpointError(Pix2PixHubError, FileNotFoundError):
    """--resume_from_checkpoint names a folder that is not a complete checkpoint."""


def list_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    found = []
    for path in output_dir.glob("checkpoint-*"):
        match = CHECKPOINT_PATTERN.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def remove_partial_checkpoints(output_dir: Path) -> None:
    """Half-written `checkpoint-N.partial` folders left by a killed run: never resumed from, removed."""
    for path in output_dir.glob("checkpoint-*.partial"):
        shutil.rmtree(path, ignore_errors=True)


def save_checkpoint(accelerator: Accelerator, recipe: Recipe, output_dir: Path, step: int, limit: int | None) -> Path:
    final, partial = output_dir / f"checkpoint-{step}", output_dir / f"checkpoint-{step}.partial"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
    accelerator.wait_for_everyone()
    try:
        write_checkpoint(accelerator, recipe, partial, step)
    except KeyboardInterrupt:  # a second Ctrl-C while writing: no half-written folder stays behind
        shutil.rmtree(partial, ignore_errors=True)
        raise
    except Exception as error:  # noqa: BLE001 -- a failed write (ENOSPC, EFBIG, quota) surfaces as OSError,
        # RuntimeError (torch.save) or SafetensorError: drop the half-written folder, keep the last good one
        shutil.rmtree(partial, ignore_errors=True)
        previous = list_checkpoints(output_dir)
        kept = f"{previous[-1].name} is kept and resumable" if previous else "there is no earlier checkpoint"
        reason = first_line(error, 160)
        raise CheckpointError(f"could not write {final.name} ({type(error).__name__}: {reason}); is the disk full? "
                              f"{kept}: free space, then rerun with --resume_from_checkpoint latest") from None
    if accelerator.is_main_process:
        if final.exists():  # the same step saved again (e.g. after a resume): replace it
            shutil.rmtree(final)
        partial.rename(final)
        if limit is not None:
            for old in list_checkpoints(output_dir)[:-max(limit, 1)]:  # never the newest
                # renamed first: a run killed halfway through the removal leaves a .partial folder, which
                # the next run removes, not a checkpoint-N that is neither complete nor ever pruned
                doomed = old.with_name(old.name + ".partial")
                old.rename(doomed)
                shutil.rmtree(doomed, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def write_checkpoint(accelerator: Accelerator, recipe: Recipe, partial: Path, step: int) -> None:
    accelerator.save_state(str(partial))
    # Image pools differ per process (each sees its own fakes), so each writes its own.
    rank = accelerator.process_index
    for name, pool in recipe.pools.items():
        state = pool.state_dict()
        safetensors.torch.save_file(state["tensors"], partial / f"pool_{name}_{rank}.safetensors")
        (partial / f"pool_{name}_{rank}.json").write_text(json.dumps(state["rng"]))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (partial / STATE_FILE).write_text(json.dumps({"step": step, "architecture": architecture(recipe.config)}))


def architecture(config: TrainConfig) -> dict:
    return {flag: getattr(getattr(config, group), name) for flag, (group, name) in ARCHITECTURE_FLAGS.items()}


def check_architecture(config: TrainConfig, path: Path) -> None:
    """The checkpoint's architecture flags against this run's: a difference is one line naming them."""
    try:
        saved = json.loads((path / STATE_FILE).read_text()).get("architecture")
    except (OSError, ValueError, AttributeError):
        return  # load_checkpoint says what is wrong with the folder
    if not isinstance(saved, dict):
        return  # saved before the flags were recorded: the tensors are compared when loading
    ours = architecture(config)
    different = [flag for flag in ours if flag in saved and saved[flag] != ours[flag]]
    if different:
        flags = ", ".join(f"--{flag} {saved[flag]} (this run: {ours[flag]})" for flag in different)
        raise ConfigError(f"{path} was saved with other architecture flags: {flags}; resume with the checkpoint's "
                          "flags, or start a new --output_dir")


def find_checkpoint(output_dir: Path, resume_from: str) -> Path | None:
    if resume_from != "latest":
        path = Path(resume_from)
        if not path.is_dir() and (output_dir / resume_from).is_dir():  # a bare name: checkpoint-N in output_dir
            path = output_dir / resume_from
        if not (path / STATE_FILE).is_file():
            raise MissingCheckpointError(f"--resume_from_checkpoint {resume_from}: not a complete checkpoint folder "
                                    f"(no {STATE_FILE}); pass 'latest' or a checkpoint-N folder")
        return path
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def load_checkpoint(accelerator: Accelerator, recipe: Recipe, path: Path) -> int:
    from accelerate.utils import load as accelerate_load  # torch.load(weights_only=True) + numpy's RNG types

    check_architecture(recipe.config, path)
    rank = accelerator.process_index
    rng_file = path / f"random_states_{rank}.pkl"
    if not rng_file.is_file():  # e.g. saved by fewer processes
        logger.warning("%s has no random states for process %d: the resumed run will not be exact", path, rank)
    try:
        if rng_file.is_file():  # Accelerate skips an unreadable one with an info log: the resume would not be exact
            accelerate_load(rng_file)
        accelerator.load_state(str(path))
    except Exception as error:  # noqa: BLE001 -- UnpicklingError (more than tensors), EOFError, zip errors...
        reason = first_line(error, 160)
        if isinstance(error, RuntimeError) and any(
                text in str(error) for text in ("size mismatch", "Missing key", "Unexpected key")):
            raise CheckpointError(f"{path}: its networks do not fit this run's ({reason}); it was saved with other "
                                  "--netG/--ngf/--ndf/--netD/--norm/--input_nc/--output_nc flags: resume with the "
                                  "flags it was trained with, or start a new --output_dir") from None
        raise CheckpointError(f"{path} cannot be resumed from ({type(error).__name__}: {reason}): a file in it is "
                              "damaged or holds objects other than tensors, which are never unpickled; resume from "
                              "another checkpoint-N folder") from None
    for name, pool in recipe.pools.items():
        tensors_file = path / f"pool_{name}_{rank}.safetensors"
        if tensors_file.is_file():
            tensors = safetensors.torch.load_file(tensors_file)
            rng = json.loads((path / f"pool_{name}_{rank}.json").read_text())
            pool.load_state_dict({"tensors": tensors, "rng": rng}, device=accelerator.device)
        else:
            logger.warning("%s has no image pool for process %d: it starts empty", path, rank)
    return json.loads((path / STATE_FILE).read_text())["step"]
