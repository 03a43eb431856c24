"""The one training loop, shared by every recipe (pix2pix, CycleGAN, CUT/FastCUT).

Accelerate handles devices, processes, mixed precision and gradient accumulation. Checkpoints are
`checkpoint-{step}` folders written under a temporary name and renamed when complete, so a killed run
never leaves a half-written "latest". Resuming restores weights, optimizers, RNG states, image pools
and the step, and the data order is a pure function of (seed, epoch, index): the resumed run continues
exactly as if it had never stopped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs, ProjectConfiguration, set_seed
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..config import TrainConfig
from ..data.datasets import load_image_dataset
from ..errors import ConfigError
from ..output_files import WrittenFiles, check_writable_folder
from ..recipes import Recipe, recipe_for
from ..recipes.losses import NonFiniteLossError
from .checkpoints import find_checkpoint, list_checkpoints, load_checkpoint, remove_partial_checkpoints, save_checkpoint
from .interrupts import Interrupted, InterruptFlag, TrainingInterrupted, signal_name

logger = logging.getLogger("pix2pix_hub")
SAMPLES_FILE = "samples.png"  # the final validation grid, shown in the model card
MODEL_FILES = ("README.md", "config.json", "model.safetensors", SAMPLES_FILE)  # what finish() writes, also in AtoB/ BtoA/


def model_files(output_dir: Path) -> list[Path]:
    return [folder / name for folder in (output_dir, output_dir / "AtoB", output_dir / "BtoA") for name in MODEL_FILES]


# -- learning rate ------------------------------------------------------------------------------
def lr_factor(config: TrainConfig, epoch: int) -> float:
    """The reference's schedules, per epoch: `linear` keeps the rate for n_epochs, then decays it to 0."""
    o = config.optim
    if o.lr_policy == "linear":
        return 1.0 - max(0, epoch + 1 - o.n_epochs) / float(o.n_epochs_decay + 1)
    if o.lr_policy == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(epoch, o.n_epochs) / o.n_epochs))
    if o.lr_policy == "step":
        return 0.1 ** (epoch // o.lr_decay_epochs)
    return 1.0


def stretched_epoch(config: TrainConfig, step: int) -> int:
    """--streaming: the schedule's epoch at `step`, its n_epochs + n_epochs_decay epochs spread over --max_steps."""
    return step * (config.optim.n_epochs + config.optim.n_epochs_decay) // config.optim.max_steps


def set_learning_rate(recipe: Recipe, lr: float) -> None:
    for optimizer in recipe.optimizers.values():
        for group in optimizer.param_groups:
            group["lr"] = lr


# -- validation ---------------------------------------------------------------------------------
def load_validation_batch(config: TrainConfig, recipe: Recipe) -> dict[str, torch.Tensor]:
    """The first images of the validation split (val, then test, then the training images), fixed
    for the whole run so grids are comparable from step to step."""
    data = config.data
    candidates = [data.validation_split] if data.validation_split else ["val", "test", data.split]
    last_error = None
    for split in candidates:
        try:
            dataset = load_image_dataset(data, paired=recipe.paired, single=recipe.single_images, split=split, train=False, seed=config.optim.seed,
                                         domain_names=(config.model.domain_a_name, config.model.domain_b_name))
            break
        except (ValueError, FileNotFoundError) as error:
            last_error = error
    else:
        raise last_error
    dataset.size_multiple = size_multiple(recipe)
    count = config.output.num_validation_images
    items = [dataset[i] for i in range(min(count, len(dataset)))] if hasattr(dataset, "__len__") else [
        item for item, _ in zip(dataset, range(count))]
    return {key: torch.stack([item[key] for item in items]) for key in ("A", "B")}


def size_multiple(recipe: Recipe) -> int:
    """What image sides must be divisible by for the recipe's generators (256 for unet_256, 4 for ResNets)."""
    return max(getattr(net, "size_multiple", 1) for net in recipe.networks.values())


def log_validation(accelerator: Accelerator, recipe: Recipe, batch: dict[str, torch.Tensor], step: int,
                   image_path: Path) -> dict[str, float]:
    batch = {key: value.to(accelerator.device) for key, value in batch.items()}
    grid, rows = recipe.validation_grid(batch)
    image_path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(image_path)
    metrics = validation_metrics(recipe, rows)
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            import numpy as np
            tracker.writer.add_image("validation", np.asarray(grid), step, dataformats="HWC")
        elif tracker.name == "wandb":
            import wandb
            tracker.log({"validation": wandb.Image(grid)}, step=step)
    if metrics:
        accelerator.log({f"val/{name}": value for name, value in metrics.items()}, step=step)
    return metrics


def validation_metrics(recipe: Recipe, rows: list[list[torch.Tensor]]) -> dict[str, float]:
    """Paired: output vs target (PSNR, SSIM, L1). Cycle: reconstruction error. None (CUT): no metrics."""
    if recipe.validation_metric is None:
        return {}
    try:
        from ..evaluation.metrics import cycle_metrics, paired_metrics
    except ImportError:  # evaluation extras missing: grids still work
        return {}
    outputs = torch.stack([row[1] for row in rows]).float()
    if recipe.validation_metric == "paired":
        return paired_metrics(outputs, torch.stack([row[2] for row in rows]).float())
    reals, reconstructed = torch.stack([row[0] for row in rows]).float(), torch.stack([row[2] for row in rows]).float()
    return cycle_metrics(reals, reconstructed)


# -- the loop -----------------------------------------------------------------------------------
def make_accelerator(config: TrainConfig) -> Accelerator:
    out = config.output
    accelerator = Accelerator(
        gradient_accumulation_steps=config.optim.gradient_accumulation_steps,
        mixed_precision=config.optim.mixed_precision,
        log_with=None if out.report_to == "none" else out.report_to,
        project_config=ProjectConfiguration(project_dir=out.output_dir, logging_dir=str(Path(out.output_dir) / "logs")),
        # A BatchNorm discriminator is called twice (real, fake) before backward; broadcasting its
        # buffers at the second call would overwrite tensors autograd still needs.
        kwargs_handlers=[DistributedDataParallelKwargs(broadcast_buffers=False)]
        + ([InitProcessGroupKwargs(backend="gloo")] if shares_a_gpu() else []),
    )
    if accelerator.mixed_precision == "fp16" and not accelerator.native_amp:  # Accelerate would quietly run fp32
        raise ConfigError(f"--mixed_precision fp16 needs a GPU (this run is on {accelerator.device.type}); "
                         "use --mixed_precision bf16 (autocast on the CPU) or no")
    return accelerator


def shares_a_gpu(local_processes: int | None = None, gpus: int | None = None) -> bool:
    """More processes on this machine than GPUs (`accelerate launch --num_processes 2` with one GPU): Accelerate
    puts them on the same devices, where NCCL refuses two ranks on one device; gloo runs them (slower, but a
    multi-process run can be checked on a one-GPU machine)."""
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", 1)) if local_processes is None else local_processes
    gpus = (torch.cuda.device_count() if torch.cuda.is_available() else 0) if gpus is None else gpus
    return 0 < gpus < local_processes


def tracker_config(config: TrainConfig) -> dict:
    """Flat, scalar-only hyperparameters for TensorBoard/W&B."""
    return {f"{group}.{key}": value if isinstance(value, (int, float, str, bool)) else str(value)
            for group, values in config.to_dict().items() for key, value in values.items()}


@dataclass
class Run:
    """The state of one training run, shared by the loop and the end of training."""

    accelerator: Accelerator
    recipe: Recipe
    config: TrainConfig
    dataset: Dataset  # an ImageDataset, or a StreamingImageDataset with --streaming
    loader: DataLoader
    validation_batch: dict[str, torch.Tensor]  # fixed for the whole run, so grids compare from step to step
    total_steps: int
    steps_per_epoch: int
    step: int = 0  # optimizer steps done
    metrics: dict[str, float] = field(default_factory=dict)  # the latest validation metrics
    skipped_steps: int = 0  # steps skipped for a non-finite loss (--on_nonfinite_loss skip)
    interrupts: InterruptFlag | None = None  # SIGINT/SIGTERM seen (interrupts.py)


def train(config: TrainConfig) -> Path:
    """Train, checkpoint, validate; write the final model folder (and push it). Returns output_dir.

    output_dir is locked for the run (run_lock.py); SIGINT/SIGTERM save a checkpoint at the current step and
    raise TrainingInterrupted, a second one aborts (interrupts.py)."""
    recipe_class = recipe_for(config.model.model)
    config.resolve(recipe_class.defaults)
    recipe_class.check_config(config)  # before any folder, lock or process group
    output_dir = Path(config.output.output_dir)
    check_writable_folder(output_dir, "--output_dir")
    # the final model folder would replace these: the user's own README.md (say) stops the run now, not at its end
    WrittenFiles(output_dir).refuse_others(model_files(output_dir), config.output.overwrite, flag="--output_dir")
    accelerator = make_accelerator(config)
    lock = acquire_run_lock(accelerator, output_dir)
    try:
        with InterruptFlag(stop_outside_steps=accelerator.num_processes == 1) as interrupts:
            try:
                return train_locked(config, accelerator, interrupts)
            except KeyboardInterrupt:
                raise aborted(interrupts, output_dir, accelerator) from None
            except Interrupted:  # a single process, before its first step (loading data, building networks)
                raise aborted(interrupts, output_dir, accelerator, "interrupted by ") from None
    finally:
        if lock is not None:
            lock.release()


def acquire_run_lock(accelerator: Accelerator, output_dir: Path):
    """The main process locks output_dir; the others learn whether it could (a refusal ends them quietly:
    the main process prints the one line)."""
    from accelerate.utils import broadcast_object_list

    from .run_lock import RunLock, RunLockError

    lock, refusal = None, None
    if accelerator.is_main_process:
        try:
            lock = RunLock(output_dir).acquire()
        except RunLockError as error:
            refusal = error
        if lock is not None and lock.notice:
            accelerator.print(lock.notice)
    if accelerator.num_processes > 1:
        refused = broadcast_object_list([refusal is not None])[0]
        if refused and refusal is None:
            raise SystemExit(2)
    if refusal is not None:
        raise refusal
    return lock


def aborted(interrupts: InterruptFlag, output_dir: Path, accelerator: Accelerator,
            how: str = "aborted by a second ") -> TrainingInterrupted:
    good = list_checkpoints(output_dir)
    kept = (f"{good[-1].name} is the latest complete checkpoint (--resume_from_checkpoint latest)" if good
            else "no checkpoint was saved")
    name = signal_name(interrupts.signum or 2)
    return TrainingInterrupted(f"{how}{name} at step {interrupts.step}: nothing half-written is "
                               f"kept; {kept}", interrupts.signum or 2, accelerator.is_main_process)


def train_locked(config: TrainConfig, accelerator: Accelerator, interrupts: InterruptFlag) -> Path:
    output_dir = Path(config.output.output_dir)
    set_seed(config.optim.seed)  # the same initial weights on every process
    recipe = recipe_for(config.model.model)(config)
    domains = (config.model.domain_a_name, config.model.domain_b_name)
    dataset = load_image_dataset(config.data, paired=recipe.paired, single=recipe.single_images, seed=config.optim.seed, domain_names=domains,
                                 rank=accelerator.process_index, world_size=accelerator.num_processes)
    dataset.size_multiple = size_multiple(recipe)  # --preprocess none/scale_width: sizes rounded to it
    validation_batch = load_validation_batch(config, recipe)
    loader = DataLoader(dataset, batch_size=config.optim.batch_size, shuffle=False, drop_last=True,
                        num_workers=config.data.dataloader_num_workers,
                        # its own generator: making an iterator must not draw from the global RNG
                        generator=torch.Generator().manual_seed(config.optim.seed))
    recipe.prepare(accelerator)
    if config.data.streaming:  # already split per process (streaming.py): Accelerate only places batches
        from ..data.streaming import prepare_stream_loader
        loader = prepare_stream_loader(accelerator, loader)
    else:
        loader = accelerator.prepare(loader)
        if len(loader) == 0:  # drop_last with fewer images than a batch: an epoch without a step
            share = len(dataset) // accelerator.num_processes
            raise ConfigError(f"--batch_size {config.optim.batch_size} is larger than the {len(dataset)} training "
                              "image(s)" + (f" ({share} per process)" if accelerator.num_processes > 1 else "")
                              + f": use --batch_size {max(1, share)} or less, or add images")
    run = Run(accelerator, recipe, config, dataset, loader, validation_batch, *count_steps(config, loader),
              interrupts=interrupts)
    resume(run)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        per_epoch = ("passes over the stream count as epochs" if config.data.streaming
                     else f"{run.steps_per_epoch} steps/epoch")
        accelerator.print(f"{dataset.description}; {per_epoch}, {run.total_steps} steps, "
                          f"{accelerator.num_processes} process(es), {accelerator.mixed_precision} precision")
    if config.output.report_to != "none":
        accelerator.init_trackers(config.output.tracker_project_name, config=tracker_config(config))
    run_loop(run)
    with deferred(run):  # the trained model is written whole; a second signal still aborts
        finish(run)
    return output_dir


def count_steps(config: TrainConfig, loader: DataLoader) -> tuple[int, int]:
    """(total steps, steps per epoch), in optimizer steps."""
    if config.data.streaming:  # an endless stream of unknown length: one loop "epoch" spans the run
        return config.optim.max_steps, config.optim.max_steps
    # Accelerate also steps on the last batches of an epoch when fewer than `accum` are left
    steps_per_epoch = max(1, math.ceil(len(loader) / config.optim.gradient_accumulation_steps))
    total_steps = (config.optim.n_epochs + config.optim.n_epochs_decay) * steps_per_epoch
    if config.optim.max_steps is not None:
        total_steps = min(total_steps, config.optim.max_steps)
    return total_steps, steps_per_epoch


def resume(run: Run) -> None:
    """Drop half-written checkpoints; with --resume_from_checkpoint, restore the run's state and step."""
    accelerator, config = run.accelerator, run.config
    output_dir = Path(config.output.output_dir)
    if accelerator.is_main_process:
        remove_partial_checkpoints(output_dir)
    if not config.output.resume_from_checkpoint:
        return
    checkpoint = find_checkpoint(output_dir, config.output.resume_from_checkpoint)
    if checkpoint is None:
        accelerator.print(f"no checkpoint in {output_dir}: starting from scratch")
        return
    run.step = load_checkpoint(accelerator, run.recipe, checkpoint)
    accelerator.print(f"resumed from {checkpoint} at step {run.step}")
    if config.data.streaming and not config.data.dataloader_num_workers:  # the stream passes over them itself
        run.dataset.resume_items = run.step * config.optim.gradient_accumulation_steps * config.optim.batch_size


def run_loop(run: Run) -> None:
    """Train from run.step to run.total_steps, epoch after epoch."""
    accelerator, config = run.accelerator, run.config
    accum = config.optim.gradient_accumulation_steps
    epoch = run.step // run.steps_per_epoch
    # `with`: the bar ends its line before an error is printed, whatever stops the loop
    with tqdm(total=run.total_steps, initial=run.step, disable=not accelerator.is_local_main_process,
              desc="steps") as progress:
        while run.step < run.total_steps:
            # Accelerate's loader passes its own epoch counter to dataset.set_epoch; set it, then skip,
            # so that a resumed run (whose loader counter restarted at 0) reads the same data order.
            run.loader.set_epoch(epoch)
            batches = run.loader
            done_in_epoch = run.step - epoch * run.steps_per_epoch
            # resumed mid-epoch: skip what was already trained on, without loading it (a stream told where it
            # resumes, `resume_items`, passes over that by itself, undecoded)
            if done_in_epoch and not getattr(run.dataset, "resume_items", 0):
                batches = accelerator.skip_first_batches(run.loader, done_in_epoch * accum)
            lr = config.optim.learning_rate * lr_factor(config, epoch)
            step_before = run.step
            try:
                for batch in batches:  # (a single process's first signal while waiting here: Interrupted)
                    with deferred(run):
                        if config.data.streaming:  # no epochs known in advance: the schedule spans --max_steps
                            lr = config.optim.learning_rate * lr_factor(config, stretched_epoch(config, run.step))
                        with accelerator.accumulate(*run.recipe.networks.values()):
                            losses = training_step(run, batch, lr)
                        if not accelerator.sync_gradients:
                            continue
                        run.step += 1
                        progress.update(1)
                        if run.interrupts is not None:
                            run.interrupts.step = run.step
                            if run.interrupts.requested(accelerator):  # every process stops at the same step
                                stop_for_interrupt(run)
                        after_step(run, losses, lr, progress)
                    if run.step >= run.total_steps:
                        break
            except Interrupted:  # between steps, the state whole: saved as at a step's end
                stop_for_interrupt(run)
            if run.step == step_before:  # (train() refuses a batch larger than the data: this is a bug)
                raise RuntimeError(f"epoch {epoch} gave no training step; the loader holds {len(run.loader)} batches")
            epoch += 1
    if run.skipped_steps:
        accelerator.print(f"skipped {run.skipped_steps} step(s) with a non-finite loss")


def deferred(run: Run):
    """A step, during which a first signal waits for the step's end."""
    return run.interrupts.deferred() if run.interrupts is not None else contextlib.nullcontext()


def training_step(run: Run, batch: dict[str, torch.Tensor], lr: float) -> dict[str, torch.Tensor] | None:
    """The recipe's step at learning rate `lr`; None for a step skipped for a non-finite loss."""
    set_learning_rate(run.recipe, lr)
    try:
        return run.recipe.training_step(batch)
    except NonFiniteLossError as error:
        if run.config.optim.on_nonfinite_loss == "stop":
            good = list_checkpoints(Path(run.config.output.output_dir))
            kept = f"{good[-1].name} is the last good checkpoint" if good else "no checkpoint was saved yet"
            raise NonFiniteLossError(f"{error} at step {run.step + 1}: stopped; {kept}. Lower --learning_rate, "
                                     "or pass --on_nonfinite_loss skip") from None
        run.skipped_steps += 1
        return None


def after_step(run: Run, losses: dict[str, torch.Tensor] | None, lr: float, progress: tqdm) -> None:
    """Log, checkpoint and validate as often as the options say."""
    accelerator, out, step = run.accelerator, run.config.output, run.step
    output_dir = Path(out.output_dir)
    if losses is not None and (step % out.logging_steps == 0 or step == run.total_steps):
        logs = {name: value.detach().item() for name, value in losses.items()} | {"lr": lr}
        progress.set_postfix({k: f"{v:.3g}" for k, v in logs.items() if k.startswith("loss")})
        accelerator.log(logs | {"skipped_steps": run.skipped_steps}, step=step)
    if step % out.checkpointing_steps == 0:
        checkpoint = save_checkpoint(accelerator, run.recipe, output_dir, step, out.checkpoints_total_limit)
        if out.push_to_hub and out.push_checkpoints and accelerator.is_main_process:
            from ..hub.training_output import push_output_dir
            push_output_dir(checkpoint, run.config, branch="checkpoints", path_in_repo=checkpoint.name)
    if step % out.validation_steps == 0 and accelerator.is_main_process:
        run.metrics = log_validation(accelerator, run.recipe, run.validation_batch, step,
                                     output_dir / "samples" / f"step-{step:07d}.png")


def stop_for_interrupt(run: Run) -> None:
    """Save checkpoint-{step} as every checkpoint is written, then raise the line saying how to resume."""
    config, signum = run.config, run.interrupts.signum
    output_dir = Path(config.output.output_dir)
    if run.step == 0 or (output_dir / f"checkpoint-{run.step}").is_dir():  # nothing trained since
        kept = list_checkpoints(output_dir)
        raise TrainingInterrupted(f"interrupted by {signal_name(signum)} at step {run.step}: nothing trained since "
                                  + (f"{kept[-1].name}, kept" if kept else "the start, nothing saved"), signum,
                                  run.accelerator.is_main_process)
    with run.interrupts.deferred():  # (a second signal still aborts)
        checkpoint = save_checkpoint(run.accelerator, run.recipe, output_dir, run.step,
                                     config.output.checkpoints_total_limit)
    raise TrainingInterrupted(f"interrupted by {signal_name(signum)} at step {run.step}: saved {checkpoint}; "
                              "resume with the same command and --resume_from_checkpoint latest", signum,
                              run.accelerator.is_main_process)


def finish(run: Run) -> None:
    """Final samples, metrics, model folder and card; upload from the main process only."""
    from ..hub.training_output import push_output_dir, write_model_card

    accelerator, config, recipe, dataset = run.accelerator, run.config, run.recipe, run.dataset
    output_dir = Path(config.output.output_dir)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        metrics = log_validation(accelerator, recipe, run.validation_batch, run.step,
                                 output_dir / SAMPLES_FILE) or run.metrics
        from ..models.folder import save_model_folder
        metadata = {"model_type": recipe.model_type, "domain_a_name": config.model.domain_a_name,
                    "domain_b_name": config.model.domain_b_name, "resolution": config.data.resolution,
                    "test_mode": "eval", "training": config.to_dict(), "metrics": metrics}
        save_model_folder(output_dir, recipe.generators(), metadata)
        bad = getattr(dataset, "bad_images", [])
        if bad:
            accelerator.print(f"skipped {len(bad)} unreadable image(s), e.g. {bad[0][0]}: {bad[0][1]}")
        if getattr(dataset, "streaming", False) and not config.data.dataloader_num_workers:  # (workers count their own)
            accelerator.print(f"streamed {dataset.passes} complete pass(es) over the data in {run.step} steps"
                              + dataset.orientation.summary())
        write_model_card(output_dir, config, metrics, skipped_images=len(bad))
        written = WrittenFiles(output_dir)
        for file in model_files(output_dir):
            if file.is_file():
                written.record(file)
        if config.output.push_to_hub:
            push_output_dir(output_dir, config)
    accelerator.end_training()
