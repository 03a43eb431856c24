"""`highres`: translating large images in tiles (pix2pix_hub/inference/tiling.py) against the whole image.

    python -m benchmarks.highres [--quick] [--parts ...] [--json out.json]    # or: python -m benchmarks.bench --sections highres

ResNet-9, ngf 64, InstanceNorm (the CycleGAN generator), weights from the reference's init (N(0, 0.02)):
  accuracy   a 1024² photo-like input, tiles of 256 (default overlap) vs the whole image: max and mean |Δ| in
             1/255; the same tiles with per-tile statistics (the contrast), and with statistics from
             thumbnails of 512 and 256 px (what a budget too small for the whole image gives).
  seams      a smooth 512² input through a net with low-pass random weights (a smooth input gives a smooth
             output, as with a trained net): gradient energy where tiles meet over the rest (tiling.seam_ratio),
             for the whole image, blended tiles, and abutting tiles with per-tile statistics (the contrast).
  memory     each in a fresh subprocess (peak RSS = its VmHWM): 8192² in automatic tiles (`--tile_rows N`: only
             the first N rows of tiles, time projected from the steady per-tile time), with the seconds per
             megapixel of a 1024² image (whole) timed twice in the same process after it (the peak is read
             first: the 1024² shape's compiled model is not part of the 8192² translation); and the whole
             image without tiles at 2048² (eager, one pass) for contrast (8192² whole would need ~60 GB).
  16-bit     a 16-bit ramp through an identity backend (decode, tiles, blending, write): max error in 1/65535
             and the effective bits, against the same through 8-bit output.
Not a test: nothing here asserts. `--quick`: tiny sizes (a smoke run, not figures to quote).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pix2pix_hub.data.images import read_array, write_array
from pix2pix_hub.inference import tiling
from pix2pix_hub.inference.translator import ImageTranslator
from pix2pix_hub.models import build_generator, init_weights

ROOT = Path(__file__).resolve().parents[1]


def resnet9(seed: int = 0, ngf: int = 64) -> torch.nn.Module:
    """ResNet-9 (ngf 64: the CycleGAN generator); --quick: ngf 8 with 2 blocks."""
    torch.manual_seed(seed)
    netG = "resnet_9blocks" if ngf >= 64 else "resnet_2blocks"
    return init_weights(build_generator(netG, 3, 3, ngf=ngf, norm="instance")).eval()


def low_pass(generator: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights that are smooth in space (binomial kernels times random channel mixing)."""
    rng = torch.Generator().manual_seed(seed)
    for module in generator.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            out_c, in_c, kh, kw = module.weight.shape
            binomial = [torch.tensor([float(math.comb(k - 1, j)) for j in range(k)]) for k in (kh, kw)]
            spatial = torch.outer(*binomial) / (2 ** (kh - 1) * 2 ** (kw - 1))
            fan_in = out_c if isinstance(module, torch.nn.ConvTranspose2d) else in_c
            with torch.no_grad():
                module.weight.copy_(torch.randn(out_c, in_c, 1, 1, generator=rng) / math.sqrt(fan_in) * spatial)
    return generator


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 HxWx3: colour fields at four scales (a 1/f-like spectrum), hard-edged shapes and fine grain."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((3, 1.0), (9, 0.6), (27, 0.35), (81, 0.2)):
        coarse = torch.from_numpy(rng.random((1, 3, cells, cells), dtype=np.float32))
        image += weight * F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()
    image /= 2.15
    for _ in range(24):
        y, x = rng.integers(0, height), rng.integers(0, width)
        image[y:y + height // 8, x:x + width // 10] = rng.random(3)
    image += rng.normal(0, 0.02, image.shape).astype(np.float32)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def smooth_input(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    image = np.stack([0.3 + 0.4 * x, 0.5 + 0.3 * np.sin(3 * y), 0.6 - 0.3 * x * y], -1)
    return np.rint(image * 255).astype(np.uint8)


def run_plan(generator, image, plan, stats=None) -> np.ndarray:
    with torch.inference_mode():
        if stats is not None:
            return tiling.translate_tiles(tiling.FrozenStatistics(generator), image, 255, plan, 3, np.float32, stats)
        return tiling.translate_tiles(generator, image, 255, plan, 3, np.float32)


def differences(a: np.ndarray, b: np.ndarray) -> dict:
    d = np.abs(a - b) * 255
    return {"max_abs_diff_255": float(d.max()), "mean_abs_diff_255": float(d.mean()),
            "p999_abs_diff_255": float(np.percentile(d, 99.9))}


def bench_accuracy(size: int, tile: int, ngf: int) -> list[dict]:
    generator, image = resnet9(ngf=ngf), photo_like(size, size)
    start = time.perf_counter()
    whole = run_plan(generator, image, tiling.plan_tiles(size, size, 4))
    plan = tiling.plan_tiles(size, size, 4, tile)
    rows = [{"section": "highres", "measure": "whole image", "seconds": time.perf_counter() - start,
             "output_std": float(whole.std())}]
    cases = [("tiles, whole-image statistics", tiling.thumbnail_statistics(generator, image, 255, size, 4)),
             ("tiles, per-tile statistics (contrast)", None)]
    cases += [(f"tiles, statistics from a {side}-px thumbnail", tiling.thumbnail_statistics(generator, image, 255, side, 4))
              for side in (size // 2, size // 4)]
    for name, stats in cases:
        start = time.perf_counter()
        out = run_plan(generator, image, plan, stats)
        rows.append({"section": "highres", "measure": name, "tiles": plan.describe(), "overlap": tiling.default_overlap(tile),
                     "seconds": time.perf_counter() - start, **differences(out, whole),
                     "target": "max <= 4, mean <= 0.5" if "whole-image" in name else None})
    return rows


def bench_seams(size: int, tile: int, ngf: int) -> list[dict]:
    generator, image = low_pass(resnet9(ngf=ngf)), smooth_input(size)
    blended = tiling.plan_tiles(size, size, 4, tile)
    abutting = tiling.plan_tiles(size, size, 4, tile, 0)
    stats = tiling.thumbnail_statistics(generator, image, 255, size, 4)
    whole = run_plan(generator, image, tiling.plan_tiles(size, size, 4))
    rows = []
    for name, plan, out in (("whole image (no tiles: the reference)", blended, whole),
                            ("blended tiles, whole-image statistics", blended, run_plan(generator, image, blended, stats)),
                            ("abutting tiles, per-tile statistics (contrast)", abutting, run_plan(generator, image, abutting))):
        rows.append({"section": "highres", "measure": f"seam ratio: {name}", "seam_ratio": tiling.seam_ratio(out, plan),
                     "target": "<= 1.1" if name.startswith("blended") else None})
    return rows


def bench_sixteen_bit(size: int) -> list[dict]:
    identity = ImageTranslator(resnet9(ngf=8), device="cpu", backend=lambda batch: batch, tile=size // 2)
    y, x = np.mgrid[0:size, 0:size]
    ramp = np.stack([(x * 65535) // (size - 1), (y * 65535) // (size - 1), ((x + y) * 65535) // (2 * size - 2)], -1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_array(Path(tmp) / "ramp.png", ramp.astype(np.uint16))
        image = read_array(Path(tmp) / "ramp.png")
        for name, dtype, lsb in (("16-bit out", np.uint16, 1), ("8-bit out (contrast)", np.uint8, 257)):
            out, _ = identity.translate_array(image, dtype)
            error = out.astype(np.float64) * lsb - ramp
            rms = float(np.sqrt((error ** 2).mean()))
            rows.append({"section": "highres", "measure": f"16-bit PNG, identity path, {name}",
                         "max_abs_error_65535": float(np.abs(error).max()), "rms_error_65535": rms,
                         "effective_bits": 16.0 if rms == 0 else min(16.0, float(np.log2(65535 / (rms * math.sqrt(12))))),
                         "target": "> 8 bits" if dtype == np.uint16 else None})
    return rows


# -- memory: one translation per fresh process ------------------------------------------------------------
def child(size: int, tile: str, ngf: int, rows: int = 0) -> dict:
    """Runs in the subprocess: one translation, then its own peak RSS. `rows` > 0: stop after that many rows of
    tiles (every allocation is made by then; the time is projected from the steady per-tile time)."""
    generator = resnet9(ngf=ngf)
    # the whole image without tiles: eager, one pass (the fast path would compile and verify that shape first)
    translator = ImageTranslator(generator, device="cpu", tile=None if tile == "none" else "auto",
                                 backend="eager" if tile == "none" else None)
    base = photo_like(1024, 1024)
    image = np.tile(base, (size // 1024 or 1, size // 1024 or 1, 1))[:size, :size] if size > 1024 else base[:size, :size]
    plan = translator.plan(size, size)
    # warm-up: export, compile and verify the fast path for the shapes the timed runs use (verifying runs eager
    # once at that shape), so that no timed run pays for it
    if plan.count > 1:
        runner = translator._frozen_runner((1, 3, plan.tile_h, plan.tile_w))
        getattr(runner, "prepare", lambda shape: None)((1, 3, plan.tile_h, plan.tile_w))
    elif tile != "none":
        translator.translate_array(image)
    stamps = [time.perf_counter()]

    def progress(count):
        stamps.append(time.perf_counter())
        if 0 < rows < len(plan.starts_y) and len(stamps) - 1 == rows * len(plan.starts_x):
            raise EnoughTiles

    try:
        seconds, info = timed(translator, image, progress)
        measured = "all tiles"
    except EnoughTiles:
        steps = np.diff(stamps)
        tile_seconds = float(np.median(steps[1:]))
        thumbnail = float(steps[0] - tile_seconds)  # the first step also holds the thumbnail's statistics pass
        seconds, info = thumbnail + plan.count * tile_seconds, None
        measured = f"first {rows} row(s) of tiles ({len(steps)} tiles), projected: thumbnail {thumbnail:.1f} s + " \
                   f"{plan.count} x {tile_seconds:.2f} s"
    peak = peak_rss()  # before the 1024² baseline, which compiles (and keeps) a model for its own shape
    baseline = []  # 1024² whole in the same process, after it (warmed up): the time per MP to compare with
    if size > 1024:
        translator.translate_array(base)
        baseline += [timed(translator, base), timed(translator, base)]
    result = {"size": size, "tile": tile, "seconds": seconds, "megapixels": size * size / 1e6, "measured": measured,
              "seconds_per_mp": seconds / (size * size / 1e6), "peak_rss_gb": peak / 1e9, "plan": plan.describe(),
              "backend": info.backend if info else getattr(translator._tile_runners.get("frozen"), "name", "")}
    if baseline:
        per_mp = sum(s for s, _ in baseline) / len(baseline) / (1024 * 1024 / 1e6)
        result.update(baseline_1024_seconds_per_mp=per_mp, time_per_mp_ratio=result["seconds_per_mp"] / per_mp,
                      baseline_1024_plan=baseline[0][1].plan)
    return result


def peak_rss() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) * 1024


class EnoughTiles(Exception):
    pass


def timed(translator: ImageTranslator, image: np.ndarray, progress=None):
    start = time.perf_counter()
    _, info = translator.translate_array(image, progress=progress)
    return time.perf_counter() - start, info


def measure_in_subprocess(size: int, tile: str, ngf: int, rows: int = 0) -> dict:
    command = [sys.executable, "-m", "benchmarks.highres", "--child", str(size), tile, str(ngf), str(rows)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=6 * 3600)
    if result.returncode != 0:
        return {"size": size, "tile": tile, "failed": result.stderr[-500:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_memory(sizes: list[tuple[int, str]], ngf: int, tile_rows: int = 0) -> list[dict]:
    rows = [{"section": "highres", "measure": f"{size}² {'whole image' if tile == 'none' else 'auto tiles'}",
             **measure_in_subprocess(size, tile, ngf, tile_rows if tile == "auto" else 0)} for size, tile in sizes]
    for r in rows:
        if "time_per_mp_ratio" in r:
            r["target"] = "peak RSS < 3 GB, time per MP <= 1.2x that at 1024² (same process)"
    return rows


def run(args) -> list[dict]:
    quick = args.quick
    ngf = 8 if quick else 64
    rows = []
    if "accuracy" in args.parts:
        rows += bench_accuracy(96 if quick else 1024, 48 if quick else 256, ngf)
    if "seams" in args.parts:
        rows += bench_seams(96 if quick else 512, 48 if quick else 256, ngf)
    if "16bit" in args.parts:
        rows += bench_sixteen_bit(32 if quick else 512)
    if "memory" in args.parts:
        sizes = [(2048, "auto"), (512, "none")] if quick else [(8192, "auto"), (2048, "none")]
        rows += bench_memory(sizes, ngf, args.tile_rows)
    return rows


def table(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        values = {k: v for k, v in r.items() if k not in ("section", "measure")}
        text = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items() if v is not None)
        lines.append(f"| highres | {r['measure']} | {text} |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.highres", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--parts", nargs="+", default=["accuracy", "seams", "16bit", "memory"],
                        help="which measurements (memory runs 8192² in a subprocess: long on a small CPU)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--tile_rows", type=int, default=0,
                        help="memory: stop the large tiled run after this many rows of tiles and project its time "
                             "(0: run it all; on a busy 2-core machine 8192² takes hours)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1], int(args.child[2]), int(args.child[3]))))
        return 0
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    print(f"CPU: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    rows = run(args)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
