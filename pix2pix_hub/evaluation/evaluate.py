"""`python -m pix2pix_hub evaluate`: how good a model is on a dataset.

Paired data (pix2pix, or one CycleGAN direction with --direction): L1, PSNR and SSIM of output vs
target, and LPIPS when its weights are on this machine. Unpaired data (a CycleGAN's two generators):
the cycle reconstruction error both ways (A -> B -> A, B -> A -> B). FID and KID (output vs real
target-domain images) when torch-fidelity and its Inception weights are on this machine.

Nothing here downloads: weights that are not found locally turn into a note in metrics.json saying
where to put them. The metrics on tensors (L1, PSNR, SSIM, cycle error) and their conventions are in metrics.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import warnings
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..config import DataConfig
from ..data.images import image_grid
from ..data.lab import Colorizer
from ..errors import ConfigError, command
from ..models import Generator
from ..models.run_mode import apply_test_mode
from .metrics import per_image_metrics, to_unit_range

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
INCEPTION_ENV = "PIX2PIX_HUB_INCEPTION_WEIGHTS"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # what torchvision's AlexNet_Weights.DEFAULT caches
NUM_GRID_IMAGES = 4


# -- optional metrics, only with weights already on this machine -------------------------------------
def torch_cache_file(name: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def inception_weights_path() -> Path:
    return Path(os.environ.get(INCEPTION_ENV) or torch_cache_file(INCEPTION_FILE))


def fid_unavailable_reason() -> str | None:
    """Why FID/KID cannot run here (None if they can). Looks at files only, never the network."""
    path = inception_weights_path()
    problems = [] if path.is_file() else [f"Inception weights not found at {path}"]
    if importlib.util.find_spec("torch_fidelity") is None:
        problems.append("torch-fidelity is not installed")
    if not problems:
        return None
    return (f"FID/KID skipped: {' and '.join(problems)}; install/download them to enable "
            f"(pip install torch-fidelity; save {INCEPTION_URL} there or set {INCEPTION_ENV})")


def lpips_unavailable_reason() -> str | None:
    path = torch_cache_file(ALEXNET_FILE)
    problems = [] if path.is_file() else [f"AlexNet weights not found at {path}"]
    if importlib.util.find_spec("torchvision") is None:
        problems.append("torchvision is not installed")
    if not problems:
        return None
    return f"LPIPS skipped: {' and '.join(problems)}; install/download them to enable (torchvision's AlexNet_Weights)"


def load_inception() -> nn.Module:
    """torch-fidelity's Inception, from the local weights file only."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    return NoTrainInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(inception_weights_path()))


def load_lpips() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="sum")
    return lambda fake, real: metric(fake.float().cpu().clamp(-1, 1), real.float().cpu().clamp(-1, 1))


class DistributionMetrics:
    """FID and KID between translated images and real images of the target domain."""

    def __init__(self, feature_extractor: nn.Module):
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance

        self.fid = FrechetInceptionDistance(feature=feature_extractor)
        with warnings.catch_warnings():  # "KID keeps all features in memory": fine for an evaluation set
            warnings.simplefilter("ignore", UserWarning)
            self.kid = KernelInceptionDistance(feature=feature_extractor, subset_size=1000)
        self.count = 0

    @staticmethod
    def to_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
        images = (to_unit_range(images) * 255).round().to(torch.uint8)
        return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images

    def update(self, fake: torch.Tensor, real: torch.Tensor) -> None:
        fake, real = self.to_uint8_rgb(fake), self.to_uint8_rgb(real)
        for metric in (self.fid, self.kid):
            metric.update(real, real=True)
            metric.update(fake, real=False)
        self.count += len(fake)

    def compute(self, suffix: str = "") -> tuple[dict[str, float], list[str]]:
        if self.count < 2:
            return {}, [f"FID/KID{suffix} skipped: they need at least 2 images, got {self.count}"]
        self.kid.subset_size = min(self.kid.subset_size, self.count)
        with torch.random.fork_rng(devices=[]):  # KID draws random subsets: the same ones every time
            torch.manual_seed(0)
            kid_mean, kid_std = self.kid.compute()
        return {f"fid{suffix}": float(self.fid.compute()), f"kid{suffix}": float(kid_mean),
                f"kid_std{suffix}": float(kid_std)}, []


@dataclasses.dataclass
class Extras:
    """The optional metrics that can run here, and notes on those that cannot."""

    inception: nn.Module | None
    lpips: Callable | None
    notes: list[str]

    @classmethod
    def detect(cls, paired: bool, use_fid: bool = True) -> "Extras":
        notes = []
        fid_reason = fid_unavailable_reason() if use_fid else "FID/KID skipped: turned off"
        lpips_reason = lpips_unavailable_reason() if paired else None
        notes += [reason for reason in (fid_reason, lpips_reason) if reason]
        return cls(inception=None if fid_reason else load_inception(),
                   lpips=None if (lpips_reason or not paired) else load_lpips(), notes=notes)


# -- running a model over a dataset ------------------------------------------------------------
def batches(dataset, count: int, batch_size: int):
    """Stacked {"A", "B"} batches of the first `count` items; a batch ends where image sizes change."""
    items: list[dict] = []
    for index in range(count):
        item = dataset[index]
        if items and (len(items) == batch_size or item["A"].shape != items[0]["A"].shape
                      or item["B"].shape != items[0]["B"].shape):
            yield {key: torch.stack([it[key] for it in items]) for key in ("A", "B")}
            items = []
        items.append(item)
    if items:
        yield {key: torch.stack([it[key] for it in items]) for key in ("A", "B")}


def mean_of(per_image: dict[str, list[torch.Tensor]]) -> dict[str, float]:
    return {name: float(torch.cat(values).mean()) for name, values in per_image.items()}


@torch.no_grad()
def run_paired(generator: Generator, dataset, count: int, batch_size: int, extras: Extras):
    per_image: dict[str, list[torch.Tensor]] = {}
    distribution = DistributionMetrics(extras.inception) if extras.inception is not None else None
    rows, lpips_sum = [], 0.0
    device = next(generator.parameters()).device
    for batch in batches(dataset, count, batch_size):
        fake = generator(batch["A"].to(device)).float().cpu()
        for name, values in per_image_metrics(fake, batch["B"]).items():
            per_image.setdefault(name, []).append(values)
        if extras.lpips:
            lpips_sum += float(extras.lpips(fake, batch["B"]))
        if distribution:
            distribution.update(fake, batch["B"])
        rows += [[a, f, b] for a, f, b in zip(batch["A"], fake, batch["B"])][: NUM_GRID_IMAGES - len(rows)]
    metrics = mean_of(per_image)
    if extras.lpips:
        metrics["lpips"] = lpips_sum / count
    notes = []
    if distribution:
        values, notes = distribution.compute()
        metrics.update(values)
    return metrics, notes, rows


@torch.no_grad()
def run_cycle(generators: dict[str, Generator], dataset, count: int, batch_size: int, extras: Extras):
    g_ab, g_ba = generators["AtoB"], generators["BtoA"]
    device = next(g_ab.parameters()).device
    per_image: dict[str, list[torch.Tensor]] = {}
    distributions = {s: DistributionMetrics(extras.inception) for s in ("_AtoB", "_BtoA")} if extras.inception else {}
    rows_a, rows_b = [], []
    for batch in batches(dataset, count, batch_size):
        real_a, real_b = batch["A"].to(device), batch["B"].to(device)
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
        for name, (real, rec) in {"cycle_l1_A": (real_a, rec_a), "cycle_l1_B": (real_b, rec_b)}.items():
            values = per_image_metrics(rec, real)
            per_image.setdefault(name, []).append(values["l1"])
            per_image.setdefault(name.replace("l1", "psnr"), []).append(values["psnr"])
        if distributions:
            distributions["_AtoB"].update(fake_b, real_b)
            distributions["_BtoA"].update(fake_a, real_a)
        rows_a += [list(r) for r in zip(batch["A"], fake_b.cpu(), rec_a.cpu())][: NUM_GRID_IMAGES - len(rows_a)]
        rows_b += [list(r) for r in zip(batch["B"], fake_a.cpu(), rec_b.cpu())][: NUM_GRID_IMAGES - len(rows_b)]
    metrics, notes = mean_of(per_image), []
    for suffix, distribution in distributions.items():
        values, more = distribution.compute(suffix)
        metrics.update(values)
        notes += more
    return metrics, notes, rows_a + rows_b


def load_generators(model, direction: str | None, device: str) -> dict[str, Generator]:
    """{"AtoB": G} or {"BtoA": G} for a paired evaluation, both directions for a cycle evaluation."""
    from ..loading.load import load_generator, read_model_config
    from ..loading.resolve import resolve_model_folder

    if isinstance(model, Generator):
        trained = model.config.get("direction", "AtoB")
        return {direction or trained: model}
    if isinstance(model, dict):
        return {direction: model[direction]} if direction else dict(model)
    config = read_model_config(resolve_model_folder(model))
    if config.get("directions") and direction is None:
        return {d: load_generator(model, d, device=device) for d in ("AtoB", "BtoA")}
    generator = load_generator(model, direction, device=device)
    return {direction or generator.config.get("direction", "AtoB"): generator}


def evaluation_data(data: DataConfig | str, generators: dict[str, Generator], resolution: int, split: str,
                    single: bool = False):
    from ..data.datasets import load_image_dataset

    first_direction, first = next(iter(generators.items()))
    config = data if isinstance(data, DataConfig) else DataConfig(dataset=str(data), load_size=resolution)
    channels = (first.config.get("input_nc", 3), first.config.get("output_nc", 3))
    paired = len(generators) == 1  # for BtoA the dataset swaps A and B: its "A" is this generator's input
    config = dataclasses.replace(config, direction=first_direction if paired else "AtoB", resolution=resolution,
                                 input_nc=channels[0], output_nc=channels[1])
    return load_image_dataset(config, paired=paired, split=split, train=False, single=single), config


def evaluate(model, data: DataConfig | str, *, split: str = "test", direction: str | None = None,
             max_images: int | None = None, resolution: int | None = None, batch_size: int = 4,
             test_mode: str | None = None, output_dir: str | Path | None = None, device: str = "cpu",
             use_fid: bool = True, seed: int = 0) -> dict:
    """Evaluate a model (folder, Hub id, Generator or {"AtoB": G_A, "BtoA": G_B}) on a dataset (DataConfig,
    folder or Hub id). One generator: paired metrics; both CycleGAN directions: cycle metrics.

    Returns {"metrics", "notes", "num_images", ...}; with `output_dir`, also writes metrics.json and grid.png.
    """
    generators = load_generators(model, direction, device)
    first = next(iter(generators.values()))
    config = first.config
    colorization = config.get("model_type") == "colorization"  # photos in, colourised photos vs the photos
    resolution = resolution or config.get("resolution") or 256
    if resolution % first.size_multiple:
        raise ConfigError(f"--resolution {resolution} is not a multiple of {first.size_multiple}, which {first.netG} needs")
    modes = {d: test_mode or g.config.get("test_mode", "eval") for d, g in generators.items()}
    if "reference_train" in modes.values():
        batch_size = 1  # BatchNorm on batch statistics: one image at a time, as the reference's test.py
    dataset, data_config = evaluation_data(data, generators, resolution, split, single=colorization)
    count = min(len(dataset), max_images or len(dataset))
    extras = Extras.detect(paired=len(generators) == 1, use_fid=use_fid)
    was_training = {d: g.training for d, g in generators.items()}
    run = run_paired if len(generators) == 1 else run_cycle
    try:
        for d, g in generators.items():
            apply_test_mode(g, modes[d])
        with torch.random.fork_rng(devices=[]):  # reference_train keeps dropout on: seeded, caller's RNG untouched
            torch.manual_seed(seed)
            single = Colorizer(first) if colorization else first
            metrics, notes, rows = run(single if len(generators) == 1 else generators, dataset, count, batch_size, extras)
    finally:
        for d, g in generators.items():
            apply_test_mode(g, "eval").train(was_training[d])
    result = {"model": str(model) if isinstance(model, (str, Path)) else type(model).__name__,
              "dataset": data_config.dataset or f"{data_config.dataset_a} + {data_config.dataset_b}", "split": split,
              "kind": "paired" if len(generators) == 1 else "cycle", "directions": sorted(generators),
              "test_mode": modes, "resolution": resolution, "num_images": count, "metrics": metrics,
              "notes": extras.notes + notes}
    bad = getattr(dataset, "bad_images", [])
    if bad:
        result["notes"].append(f"left out {len(bad)} image(s) that could not be read (--on_bad_image skip), "
                               f"e.g. {bad[0][1]}")
    if output_dir:
        write_report(result, rows, Path(output_dir))
    return result


def write_report(result: dict, rows: list[list[torch.Tensor]], output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    if rows:
        image_grid(rows).save(output_dir / "grid.png")


def format_table(result: dict) -> str:
    width = max([len(name) for name in result["metrics"]] + [6])
    lines = [f"{result['kind']} evaluation of {result['model']} on {result['dataset']} [{result['split']}], "
             f"{result['num_images']} image(s), test_mode {', '.join(sorted(set(result['test_mode'].values())))}",
             f"{'metric':<{width}}  value", f"{'-' * width}  ----------"]
    lines += [f"{name:<{width}}  {value:.4f}" for name, value in result["metrics"].items()]
    return "\n".join(lines + [f"note: {note}" for note in result["notes"]])


@command
def main(argv: list[str] | None = None) -> int:
    from ..models.run_mode import TEST_MODES

    parser = argparse.ArgumentParser(prog="python -m pix2pix_hub evaluate", description=(
        "Measure a model on a dataset: L1/PSNR/SSIM on paired data, cycle error for CycleGANs, FID/KID/LPIPS when "
        "their weights are on this machine (never downloaded). Writes metrics.json and grid.png to --output."))
    parser.add_argument("--model", required=True, help="model folder or Hub id")
    parser.add_argument("--dataset", required=True, help="dataset folder or Hub id (any layout `train.py` reads)")
    parser.add_argument("--split", default="test", help="dataset split (default: test)")
    parser.add_argument("--direction", choices=("AtoB", "BtoA"),
                        help="CycleGAN: evaluate this generator alone on paired data (default: both, by cycle error)")
    parser.add_argument("--max_images", type=int, help="only the first N images")
    parser.add_argument("--resolution", type=int, help="image size (default: the model's training resolution)")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--test_mode", choices=TEST_MODES, help="default: what the model's config.json says")
    parser.add_argument("--no_fid", action="store_true", help="skip FID/KID even when their weights are here")
    parser.add_argument("--image_column_a", default="imageA", help="Hub/`datasets` data: column of domain A")
    parser.add_argument("--image_column_b", default="imageB", help="Hub/`datasets` data: column of domain B")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", type=Path, help="folder for metrics.json and grid.png")
    parser.add_argument("--on_bad_image", choices=("error", "skip"), default="error",
                        help="an image that cannot be read: stop with its name, or leave it out and count it")
    args = parser.parse_args(argv)
    if args.output is not None and args.output.exists() and not args.output.is_dir():
        raise ConfigError(f"--output {args.output} is a file: pass a folder for metrics.json and grid.png")
    for flag in ("max_images", "resolution", "batch_size"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise ConfigError(f"--{flag} {getattr(args, flag)}: must be at least 1")
    data = DataConfig(dataset=args.dataset, image_column_a=args.image_column_a, image_column_b=args.image_column_b,
                      on_bad_image=args.on_bad_image)
    result = evaluate(args.model, data, split=args.split, direction=args.direction, max_images=args.max_images,
                      resolution=args.resolution, batch_size=args.batch_size, test_mode=args.test_mode,
                      output_dir=args.output, device=args.device, use_fid=not args.no_fid)
    print(format_table(result))
    if args.output:
        print(f"wrote {args.output / 'metrics.json'} and {args.output / 'grid.png'}")
    return 0
