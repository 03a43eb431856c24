"""`python -m benchmarks.bench [--quick] [--json out.json]`: how fast inference, training and data loading are.

Every figure is a median over repeated runs after warm-up, and every ratio compares two settings of the same
weights measured side by side in this process (alternating, so a busy machine slows both alike):

  inference  batch 1: eager PyTorch fp32 vs the default path of `ImageTranslator` on CPU (fast_inference.py),
             U-Net-256 and ResNet-9 (ngf 64, 256²), with the max |Δ| of their outputs; `--int8` adds OpenVINO int8
             (NNCF) with its PSNR against fp32.
  train-cpu  one pix2pix training step (U-Net-256 + PatchGAN, batch 1, 256²): plain eager fp32 vs train.py's
             fast flags (--fused_adam, with --channels_last or --compile; the fastest is reported); with --bf16
             also --fused_adam + bf16 autocast, shown apart (lower precision).
  train-gpu  pix2pix and CycleGAN img/s at fp32 batch 1 vs bf16 + channels_last + compile + fused Adam + larger
             batch, peak GPU memory, and the pix2pix L1 loss over the first --curve_steps steps of both.
             Skipped with a reason without CUDA (`--gpu_on_cpu` runs it on the CPU with tiny nets: a shape check).
  train-unpaired  CycleGAN, CUT and FastCUT training steps at the same resolution, ngf and batch (1) on the CPU:
             s/iter (timed alternately) and the peak memory of each (its own child process: VmHWM, and its
             rise over the RSS before the first step), with the CUT paper's GPU ratios beside ours.
  data       images/s delivered by the training DataLoader (decode once and cache, resize, crop, flip) vs the
             images/s a training step consumes.
  live       (only when asked: `--sections live`; needs /usr/bin/chromium and playwright) the demo's stroke end ->
             new output painted in headless Chromium, median and max over --strokes strokes, requests per stroke
             and the model's own time (benchmarks/browser_latency.py, which also runs on its own).
  highres    (opt-in) tiles vs the whole image, seams, 16-bit precision, 8192² peak memory and time per MP:
             benchmarks/highres.py.
  gallery    (opt-in) the app's gallery architectures (U-Net 256, ResNet-9; ngf 64): size on disk, eager vs fast
             path (bf16, int8 with PSNR), a 512² photo, the peak RSS of touring every entry through app.py, the
             stroke in Chromium: benchmarks/gallery.py (its own Markdown table: python -m benchmarks.gallery).

Not a test: nothing here asserts a time. `--quick` uses tiny settings (a smoke run, not figures to quote).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from pix2pix_hub.config import TrainConfig
from pix2pix_hub.evaluation.metrics import psnr_db
from pix2pix_hub.models import build_generator

logger = logging.getLogger("benchmarks.bench")
TARGETS = {"inference unet_256": 3.4, "inference resnet_9blocks": 2.5, "train-cpu pix2pix step": 1.3,
           "train-gpu pix2pix img/s": 4.0, "data loader / training": 5.0}


# -- timing -------------------------------------------------------------------------------------
def interleaved(functions: dict[str, Callable[[], object]], repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each function, called in turn (A, B, A, B, ...) after `warmup` calls of each."""
    for _ in range(warmup):
        for fn in functions.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def row(section: str, measure: str, baseline: str, base_value: float, fast: str, fast_value: float, unit: str,
        higher_is_better: bool = False, **extra) -> dict:
    ratio = fast_value / base_value if higher_is_better else base_value / fast_value
    target = TARGETS.get(f"{section} {measure}")
    return {"section": section, "measure": measure, "baseline": baseline, "baseline_value": base_value, "fast": fast,
            "fast_value": fast_value, "unit": unit, "ratio": ratio, "target": target,
            "met": None if target is None else ratio >= target, **extra}


def machine() -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    with contextlib.suppress(Exception):
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        info["cpu"] = fields.get("Model name", info["cpu"]).strip()
        flags = fields.get("Flags", "").split()
        info["cpu_flags"] = [f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile") if f in flags]
    for module in ("openvino", "onnxruntime"):
        with contextlib.suppress(ImportError):
            info[module] = __import__(module).__version__
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    with contextlib.suppress(OSError):
        info["load_average"] = os.getloadavg()
    return info


# -- inference ----------------------------------------------------------------------------------
def calibrated(generator: torch.nn.Module, size: int, seed: int = 0) -> torch.nn.Module:
    """Random-init generator whose BatchNorm running statistics come from inputs (as after training), so its
    outputs spread over (-1, 1) instead of sitting near 0 (which would make any |Δ| look small)."""
    torch.manual_seed(seed)
    from pix2pix_hub.inference.fast import calibration_batches
    batches = [torch.from_numpy(b) for b in calibration_batches(3, size, size, count=2, seed=seed)]
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if norms:
        for m in norms:
            m.momentum = None
        generator.train()
        with torch.no_grad():
            for b in batches:
                generator(b)
    return generator.eval()


def conv_gflop(generator: torch.nn.Module, x: torch.Tensor) -> float:
    """Forward FLOPs of the convolutions (2 per multiply-add), which are nearly all of a generator's work."""
    total = [0]

    def hook(module, inputs, output):
        k = module.kernel_size[0] * module.kernel_size[1] // module.groups
        if isinstance(module, torch.nn.ConvTranspose2d):
            total[0] += 2 * inputs[0].numel() * module.out_channels * k
        else:
            total[0] += 2 * output.numel() * module.in_channels * k

    handles = [m.register_forward_hook(hook) for m in generator.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    with torch.inference_mode():
        generator(x)
    for h in handles:
        h.remove()
    return total[0] / 1e9


def gemm_gflops(size: int = 2048, repeats: int = 5) -> float:
    """This CPU's fp32 matrix-multiply rate (PyTorch/oneDNN, all threads): a practical ceiling for convolutions."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    times = interleaved({"mm": lambda: a @ b}, repeats, 1)["mm"]
    return 2 * size**3 / median(times) / 1e9


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr_db(a, b, 2.0)  # generator outputs: peak-to-peak 2 for [-1, 1]


def bench_inference(args) -> list[dict]:
    from pix2pix_hub.inference.fast import calibration_batches
    from pix2pix_hub.inference.translator import ImageTranslator

    size = args.size
    rows = [{"section": "inference", "measure": "fp32 GEMM rate", "fast_value": gemm_gflops(), "unit": "GFLOP/s",
             "note": "torch.mm 2048², all threads: what this CPU's convolutions can approach"}]
    nets = [("unet_256", dict(norm="batch", use_dropout=True)), ("resnet_9blocks", dict(norm="instance"))]
    for netG, kwargs in nets:
        if args.quick:  # same architectures, smaller (a smoke run)
            netG = "unet_32" if netG.startswith("unet") else "resnet_2blocks"
        generator = calibrated(build_generator(netG, 3, 3, args.ngf, **kwargs), size)
        start = time.perf_counter()
        translator = ImageTranslator(generator, device="cpu", resolution=size)
        setup = time.perf_counter() - start
        fast = translator.backend
        x = torch.from_numpy(calibration_batches(3, size, size, count=1, seed=7)[0])
        with torch.inference_mode():
            eager_out = generator(x)
        fast_out = fast(x)
        diff = float((fast_out - eager_out).abs().max())
        repeats = args.repeats if netG.startswith("unet") else max(3, args.repeats // 2)
        with torch.inference_mode():
            times = interleaved({"eager": lambda g=generator, x=x: g(x), "fast": lambda f=fast, x=x: f(x)}, repeats,
                                args.warmup)
        gflop = conv_gflop(generator, x)
        extra = {"max_abs_diff": diff, "output_std": float(eager_out.std()), "setup_seconds": setup, "gflop": gflop,
                 "fast_gflop_per_s": gflop / median(times["fast"]), "backend_reason": translator.backend_reason,
                 "times": times}
        rows.append(row("inference", netG, "eager fp32", median(times["eager"]) * 1e3,
                        translator.backend_name, median(times["fast"]) * 1e3, "ms", **extra))
        for precision in [p for p, wanted in (("bf16", args.bf16), ("int8", args.int8)) if wanted]:
            rows.append(bench_low_precision(precision, generator, netG, x, eager_out, fast, repeats, args.warmup))
        logger.info("%s", rows[-1])
    return rows


def bench_low_precision(precision, generator, netG, x, eager_out, fp32_runner, repeats, warmup) -> dict:
    """An opt-in lower-precision mode against the fp32 fast path; its PSNR against eager fp32."""
    from pix2pix_hub.inference.fast import build_backend
    runner = build_backend(generator, tuple(x.shape), "openvino", precision=precision)
    if runner.name == "eager":
        return {"section": "inference", "measure": f"{netG} {precision}", "skipped": runner.reason}
    out = runner(x)
    with torch.inference_mode():
        times = interleaved({"eager": lambda: generator(x), "fp32": lambda: fp32_runner(x),
                             precision: lambda: runner(x)}, repeats, warmup)
    return row("inference", f"{netG} {precision}", "eager fp32", median(times["eager"]) * 1e3, runner.name,
               median(times[precision]) * 1e3, "ms", psnr_vs_fp32_db=psnr(out.numpy(), eager_out.numpy()),
               max_abs_diff=float((out - eager_out).abs().max()), fp32_fast_ms=median(times["fp32"]) * 1e3, times=times)


# -- training -----------------------------------------------------------------------------------
def train_config(model: str, quick: bool, ngf: int, **optim) -> TrainConfig:
    from pix2pix_hub.recipes import RECIPES

    config = TrainConfig()
    config.data.dataset = "synthetic"
    config.model.model = model
    if quick:
        config.model.netG = "unet_32" if model == "pix2pix" else "resnet_2blocks"
        config.model.ngf = config.model.ndf = 8
    else:
        config.model.ngf = ngf
    for key, value in optim.items():
        setattr(config.optim, key, value)
    return config.resolve(RECIPES[config.model.model].defaults)


class OneDevice:
    """What a recipe needs of an Accelerator, for one process on one device (Accelerate does the same there:
    move to the device, plain backward). Accelerate allows one Accelerator state per process; the benchmark
    needs the CPU and the GPU, and bf16 autocast beside fp32, in one process."""

    def __init__(self, device: str):
        self.device = torch.device(device)

    def prepare(self, *objects):
        return tuple(o.to(self.device) if isinstance(o, torch.nn.Module) else o for o in objects)

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    @staticmethod
    def unwrap_model(model, keep_fp32_wrapper: bool = True):
        return model


def make_recipe(config: TrainConfig, accelerator, autocast: torch.dtype | None = None, seed: int = 0):
    from pix2pix_hub.recipes import RECIPES
    torch.manual_seed(seed)
    recipe = RECIPES[config.model.model](config)
    recipe.prepare(accelerator)
    if autocast is not None:  # as Accelerate's --mixed_precision bf16 (one Accelerator per process: done by hand)
        step = recipe.training_step

        def autocast_step(batch):
            with torch.autocast(accelerator.device.type, dtype=autocast):
                return step(batch)
        recipe.training_step = autocast_step
    return recipe


def synthetic_batch(batch_size: int, size: int, device, seed: int = 0) -> dict[str, torch.Tensor]:
    """A paired batch with something to learn: B is A with its colours inverted and channels reversed."""
    from pix2pix_hub.inference.fast import calibration_batches
    a = torch.from_numpy(np.concatenate(calibration_batches(3, size, size, count=batch_size, seed=seed))).to(device)
    return {"A": a, "B": -a.flip(1)}


def bench_train_cpu(args, accelerator) -> list[dict]:
    size = 32 if args.quick else args.size
    base = train_config("pix2pix", args.quick, args.ngf)
    variants = {"eager fp32": base,
                "fused Adam": train_config("pix2pix", args.quick, args.ngf, fused_adam=True),
                "fused Adam+channels_last": train_config("pix2pix", args.quick, args.ngf, fused_adam=True, channels_last=True)}
    if not args.no_compile:
        variants["fused Adam+compile"] = train_config("pix2pix", args.quick, args.ngf, fused_adam=True, compile=True)
    recipes = {name: make_recipe(config, accelerator) for name, config in variants.items()}
    if args.bf16 and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        recipes["fused Adam+bf16 autocast"] = make_recipe(variants["fused Adam"], accelerator, autocast=torch.bfloat16)
    batch = synthetic_batch(1, size, "cpu")
    start = time.perf_counter()
    for recipe in recipes.values():  # compiles here (not timed as steps)
        recipe.training_step(batch)
    warm_seconds = time.perf_counter() - start
    times = interleaved({name: (lambda r=r: r.training_step(batch)) for name, r in recipes.items()},
                        args.train_repeats, 1)
    medians = {name: median(t) for name, t in times.items()}
    fp32 = [n for n in medians if "bf16" not in n and n != "eager fp32"]
    best = min(fp32, key=medians.get)
    rows = [row("train-cpu", "pix2pix step", "eager fp32", medians["eager fp32"], best, medians[best], "s",
                flags=flag_names(variants[best]), all_medians_s=medians, first_steps_seconds=warm_seconds, times=times)]
    if "fused Adam+bf16 autocast" in medians:
        rows.append(row("train-cpu", "pix2pix step bf16", "eager fp32", medians["eager fp32"], "fused Adam+bf16 autocast",
                        medians["fused Adam+bf16 autocast"], "s", note="lower precision: --fused_adam --mixed_precision bf16"))
    return rows


# The CUT paper's training speed on a GPU, as quoted in issue 17 (not verified against the paper here).
PAPER_SECONDS_PER_ITER = {"cyclegan": 0.40, "cut": 0.24, "fastcut": 0.15}
UNPAIRED = ("cyclegan", "cut", "fastcut")


def bench_train_unpaired(args, accelerator) -> list[dict]:
    size = 32 if args.quick else args.size
    recipes = {model: make_recipe(train_config(model, args.quick, args.ngf), accelerator) for model in UNPAIRED}
    batch = synthetic_batch(1, size, "cpu")
    times = interleaved({m: (lambda r=r: r.training_step(batch)) for m, r in recipes.items()}, args.train_repeats, 1)
    seconds = {model: median(t) for model, t in times.items()}
    memory = {model: peak_memory(model, args) for model in UNPAIRED}
    rows = []
    for model in ("cut", "fastcut"):
        rows.append(row("train-unpaired", f"{model} step vs cyclegan", "cyclegan", seconds["cyclegan"], model,
                        seconds[model], "s", paper_ratio=PAPER_SECONDS_PER_ITER["cyclegan"] / PAPER_SECONDS_PER_ITER[model],
                        baseline_peak_memory_mb=memory["cyclegan"]["rise_mb"], fast_peak_memory_mb=memory[model]["rise_mb"],
                        peak_rss_mb={m: memory[m]["peak_rss_mb"] for m in UNPAIRED}, size=size, times=times))
    return rows


def peak_memory(model: str, args) -> dict:
    """Train `model` for a few steps in a child process; its peak RSS, and the rise over the RSS before step 1."""
    flags = ["--quick"] if args.quick else ["--size", str(args.size), "--ngf", str(args.ngf)]
    result = subprocess.run([sys.executable, "-m", "benchmarks.bench", "--memory_child", model, *flags],
                            capture_output=True, text=True, timeout=1800, cwd=Path(__file__).resolve().parents[1],
                            env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})
    if result.returncode != 0:
        raise RuntimeError(f"memory child for {model} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def memory_child(args) -> int:
    recipe = make_recipe(train_config(args.memory_child, args.quick, args.ngf), OneDevice("cpu"))
    batch = synthetic_batch(1, 32 if args.quick else args.size, "cpu")
    page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
    before = int(Path("/proc/self/statm").read_text().split()[1]) * page_mb
    for _ in range(3):
        recipe.training_step(batch)
    # VmHWM, this process's own high-water mark (ru_maxrss would include the parent's RSS at fork: Linux keeps it
    # across exec)
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    peak = int(status["VmHWM"].split()[0]) / 1024  # kB
    print(json.dumps({"rss_before_mb": before, "peak_rss_mb": peak, "rise_mb": peak - before}))
    return 0


def flag_names(config: TrainConfig) -> str:
    o = config.optim
    flags = [f"--{name}" for name in ("channels_last", "compile", "fused_adam") if getattr(o, name)]
    return " ".join(flags) or "(none)"


def bench_train_gpu(args, accelerator) -> list[dict]:
    device = accelerator.device
    if device.type != "cuda" and not args.gpu_on_cpu:
        return [{"section": "train-gpu", "skipped": "no CUDA device here (torch.cuda.is_available() is False); "
                                                     "run on a GPU machine, or --gpu_on_cpu for a shape check"}]
    quick = args.quick or device.type != "cuda"
    size = 32 if quick else args.size
    rows = []
    for model in ("pix2pix", "cyclegan"):
        batch_size = 2 if quick else args.gpu_batch_size
        settings = {
            "fp32 batch 1": (train_config(model, quick, args.ngf), None, 1),
            f"bf16+channels_last+compile+fused Adam, batch {batch_size}": (
                train_config(model, quick, args.ngf, channels_last=True, compile=not args.no_compile,
                             fused_adam=device.type == "cuda", batch_size=batch_size), torch.bfloat16, batch_size),
        }
        results = {}
        for name, (config, autocast, bs) in settings.items():
            results[name] = gpu_throughput(config, accelerator, autocast, bs, size, args, model == "pix2pix")
        (base_name, base), (fast_name, fast) = results.items()
        rows.append(row("train-gpu", f"{model} img/s", base_name, base["img_per_s"], fast_name, fast["img_per_s"],
                        "img/s", higher_is_better=True, baseline_peak_memory_mb=base["peak_memory_mb"],
                        fast_peak_memory_mb=fast["peak_memory_mb"], baseline_loss_curve=base.get("curve"),
                        fast_loss_curve=fast.get("curve"), device=str(device)))
    return rows


def gpu_throughput(config, accelerator, autocast, batch_size, size, args, curve: bool) -> dict:
    device = accelerator.device
    recipe = make_recipe(config, accelerator, autocast)
    batch = synthetic_batch(batch_size, size, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(args.warmup + 2):
        recipe.training_step(batch)
    sync()
    steps = 3 if args.quick else 50
    per_step = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(steps):
            recipe.training_step(batch)
        sync()
        per_step.append((time.perf_counter() - start) / steps)
    result = {"img_per_s": batch_size / median(per_step),
              "peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None}
    if curve:  # fresh weights, the same data stream, L1 of G (what pix2pix's output quality follows)
        recipe = make_recipe(config, accelerator, autocast, seed=1)
        n = args.curve_steps
        losses = []
        for step in range(n):
            losses.append(recipe.training_step(synthetic_batch(batch_size, size, device, seed=step))["loss_G_L1"].detach())
        values = torch.stack(losses).float().cpu().tolist()
        every = max(1, n // 20)
        result["curve"] = {"every": every, "mean_L1": [float(np.mean(values[i:i + every])) for i in range(0, n, every)],
                           "final_mean_L1": float(np.mean(values[-max(1, n // 10):]))}
    del recipe
    return result


# -- data ---------------------------------------------------------------------------------------
def bench_data(args, consumed: dict[str, float]) -> list[dict]:
    from PIL import Image
    from torch.utils.data import DataLoader

    from pix2pix_hub.data.datasets import load_image_dataset
    count, width = (8, 64) if args.quick else (args.data_images, 512)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "train"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(count):  # JPEG A|B pairs as in the reference's facades (256x256 halves; 512 wide)
            pixels = rng.integers(0, 256, (8, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).resize((width, width // 2), Image.BICUBIC).save(folder / f"{i}.jpg", quality=90)
        config = train_config("pix2pix", args.quick, args.ngf)
        config.data.dataset = tmp
        if args.quick:
            config.data.load_size, config.data.resolution = 36, 32
        start = time.perf_counter()
        dataset = load_image_dataset(config.data, paired=True, seed=0)
        decode_seconds = time.perf_counter() - start  # every image decoded, checked, scaled and cached once
        loader = DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0)
        epochs = 2 if args.quick else 3
        per_epoch = []
        for epoch in range(epochs):
            dataset.set_epoch(epoch)
            start = time.perf_counter()
            for _ in loader:
                pass
            per_epoch.append(time.perf_counter() - start)
    loader_rate = len(dataset) / median(per_epoch)
    for name, rate in consumed.items():
        rows.append(row("data", "loader / training", f"training consumes ({name})", rate, "DataLoader delivers",
                        loader_rate, "img/s", higher_is_better=True, images=len(dataset), workers=0,
                        first_pass_decode_img_per_s=len(dataset) / decode_seconds))
    if not consumed:
        rows.append({"section": "data", "measure": "loader img/s", "fast_value": loader_rate, "unit": "img/s",
                     "note": "no training section ran to compare with"})
    return rows


# -- report -------------------------------------------------------------------------------------
def table(rows: list[dict]) -> str:
    lines = ["| section | measure | baseline | fast | ratio | target |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["section"] == "highres":
            from .highres import table as highres_table
            lines.append(highres_table([r]))
            continue
        if "skipped" in r:
            lines.append(f"| {r['section']} | {r.get('measure', '')} | skipped: {r['skipped']} | | | |")
            continue
        if "baseline_value" not in r:
            lines.append(f"| {r['section']} | {r['measure']} | | {r['fast_value']:.3g} {r['unit']} | | |")
            continue
        target = "" if r["target"] is None else f"≥ {r['target']:g}× ({'met' if r['met'] else 'not met'})"
        detail = ""
        if "max_abs_diff" in r:
            detail = f", max abs Δ {r['max_abs_diff']:.1e}"
        if "fast_gflop_per_s" in r:
            detail += f", {r['gflop']:.1f} GFLOP at {r['fast_gflop_per_s']:.0f} GFLOP/s"
        if "psnr_vs_fp32_db" in r:
            detail += f", PSNR {r['psnr_vs_fp32_db']:.1f} dB vs fp32"
        if r.get("fast_peak_memory_mb"):
            detail += f", peak {r['baseline_peak_memory_mb']:.0f} → {r['fast_peak_memory_mb']:.0f} MB"
        if "paper_ratio" in r:
            detail += f" (paper, GPU: {r['paper_ratio']:.2f}×)"
        lines.append(f"| {r['section']} | {r['measure']} | {r['baseline']}: {r['baseline_value']:.3g} {r['unit']} | "
                     f"{r['fast']}: {r['fast_value']:.3g} {r['unit']}{detail} | {r['ratio']:.2f}× | {target} |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny nets and few repeats: checks that it runs")
    parser.add_argument("--json", type=Path, help="write every figure (and each repeat's time) here")
    parser.add_argument("--sections", nargs="+", default=["inference", "train-cpu", "train-gpu", "train-unpaired", "data"],
                        choices=["inference", "train-cpu", "train-gpu", "train-unpaired", "data", "live", "highres",
                                 "gallery"],
                        help="live, highres and gallery run only when asked; highres (tiles, seams, 16-bit, 8192² memory: "
                             "benchmarks/highres.py) takes tens of minutes on 2 cores")
    parser.add_argument("--size", type=int, default=256, help="image side")
    parser.add_argument("--ngf", type=int, default=64, help="generator/discriminator width")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per setting (inference, GPU)")
    parser.add_argument("--train_repeats", type=int, default=9, help="timed CPU training steps per setting")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument("--int8", action="store_true", help="also OpenVINO int8 inference (needs nncf), with its PSNR against fp32")
    parser.add_argument("--bf16", action="store_true", help="also bf16: OpenVINO bf16 inference and a bf16-autocast CPU training step (PSNR / shown apart)")
    parser.add_argument("--no_compile", action="store_true", help="leave torch.compile out (it compiles for minutes on a CPU)")
    parser.add_argument("--gpu_batch_size", type=int, default=8, help="batch of the fast GPU setting")
    parser.add_argument("--curve_steps", type=int, default=2000, help="GPU: steps of the loss-curve comparison")
    parser.add_argument("--gpu_on_cpu", action="store_true", help="run the GPU section on the CPU (tiny: a shape check)")
    parser.add_argument("--data_images", type=int, default=64, help="images in the data-loading benchmark")
    parser.add_argument("--strokes", type=int, default=16, help="live: strokes drawn in the browser")
    parser.add_argument("--live_model", help="live: the model app.py serves (default: its own, models/default)")
    parser.add_argument("--memory_child", choices=UNPAIRED, help=argparse.SUPPRESS)  # train-unpaired's per-model process
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.ngf, args.repeats, args.train_repeats, args.warmup, args.curve_steps = 32, 8, 3, 2, 1, 4
        args.strokes = 4
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        return memory_child(args)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    report = {"machine": machine(), "command": "python -m benchmarks.bench " + " ".join(argv or []), "rows": []}
    print(json.dumps(report["machine"]))
    consumed: dict[str, float] = {}
    for section in args.sections:
        start = time.perf_counter()
        if section == "inference":
            rows = bench_inference(args)
        elif section == "train-cpu":
            rows = bench_train_cpu(args, OneDevice("cpu"))
            consumed["CPU eager step"] = 1 / rows[0]["baseline_value"]
            consumed[f"CPU {rows[0]['fast']} step"] = 1 / rows[0]["fast_value"]
        elif section == "train-unpaired":
            rows = bench_train_unpaired(args, OneDevice("cpu"))
        elif section == "train-gpu":
            rows = bench_train_gpu(args, OneDevice("cuda" if torch.cuda.is_available() else "cpu"))
            consumed.update({f"GPU {r['measure'].split()[0]} fast": r["fast_value"] for r in rows if "fast_value" in r})
        elif section == "live":
            from .browser_latency import bench_rows
            rows = bench_rows(args.live_model, args.strokes)
        elif section == "highres":
            from .highres import parse_args as highres_args
            from .highres import run as highres_run
            rows = highres_run(highres_args(["--quick"] if args.quick else []))
        elif section == "gallery":
            from .gallery import bench_rows as gallery_rows
            rows = gallery_rows(args.quick)
        else:
            rows = bench_data(args, consumed)
        report["rows"] += rows
        print(f"[{section}: {time.perf_counter() - start:.0f} s]\n" + table(rows), flush=True)
    print("\n" + table(report["rows"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
