"""`python -m benchmarks.gallery [--quick] [--json out.json] [--markdown out.md]`: what the app's gallery costs.

Per architecture of pix2pix_hub/app/gallery.py's ENTRIES (U-Net 256 for the pix2pix entries, ResNet-9 for the
CycleGAN ones, ngf 64, the reference's norms), with random weights of the exact architecture (the reference's
weights are not reachable offline; times do not depend on weight values, BatchNorm statistics calibrated as in
benchmarks/bench.py so outputs spread over (-1, 1)):

  size       parameters; MB of the converted model.safetensors (fp32, as the cache stores it) and of the same
             tensors in fp16 (what gallery_precision.py writes where an entry's examples allow it).
  256²       ms per image, side by side (benchmarks.bench.interleaved): eager fp32 in the test mode the converted
             folder records (the app's path: pix2pix entries are `reference_train`, batch statistics and dropout,
             which only eager reproduces), eager fp32 in eval mode, and the fast CPU path
             (pix2pix_hub/inference/fast.py) in eval mode at fp32, bf16 and int8 where OpenVINO offers them, with
             PSNR (peak-to-peak 2) against eager eval fp32. int8 counts as usable only at ≥ 40 dB.
  512²       a 512×512 photo through ResNet-9: eager vs the fast path (the same runners, a second shape).
  tour       one child process (HF_HUB_OFFLINE=1, PIX2PIX_HUB_CACHE pre-filled with a converted folder per entry,
             made by loading/resolve.pretrained_folder from a random-weight .pth in the reference's layout)
             imports app.py and sends every one of the entries the request a visitor's page sends: the canvas's
             translate_live for edges/labels entries (a 256² drawing), translate(upload) for photo entries (a
             512² photo), twice each (cold: load + compile; warm). RSS before the first request, the peak
             (VmHWM), RSS after, and the generators app.server() holds at the end, PIX2PIX_MAX_MODELS at its
             default (unset).
  browser    stroke end -> output painted in headless Chromium on the edges2shoes entry
             (benchmarks/browser_latency.py --model edges2shoes --where server), when /usr/bin/chromium and
             playwright are here.

The issue's targets (issue 26): a stroke on an edges/labels entry ≤ 150 ms model time and ≤ 400 ms end to end;
a 512-px photo through a ResNet-9 entry ≤ 2 s. Not a test: nothing here asserts a time. `--quick`: ngf 8, two
entries, few repeats, no browser (a smoke run, not figures to quote).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import gc
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from pix2pix_hub.app.gallery import ENTRIES, GalleryEntry
from pix2pix_hub.models import build_generator
from pix2pix_hub.models.run_mode import apply_test_mode

from .bench import calibrated, interleaved, machine, median, psnr

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURES = {  # netG -> (label, norm, dropout): the reference's options for the gallery's two families
    "unet_256": ("U-Net 256", "batch", True),
    "resnet_9blocks": ("ResNet-9", "instance", False),
}
TARGETS = {"stroke model ms": 150.0, "stroke end-to-end ms": 400.0, "512-px ResNet-9 ms": 2000.0}
INT8_MIN_DB = 40.0
QUICK_ENTRIES = ("edges2shoes", "horse2zebra")
MB = 2**20


# -- random-weight gallery folders ----------------------------------------------------------------
def entry_generator(item: GalleryEntry, ngf: int, seed: int) -> torch.nn.Module:
    """A generator of the entry's architecture, random weights (BatchNorm statistics from inputs)."""
    _, norm, dropout = ARCHITECTURES[item.netG]
    torch.manual_seed(seed)
    return calibrated(build_generator(item.netG, 3, 3, ngf, norm=norm, use_dropout=dropout), item.input_size, seed)


def prefill(entries: list[GalleryEntry], ngf: int) -> dict[str, Path]:
    """Each entry's converted folder in the cache (PIX2PIX_HUB_CACHE), as the gallery's first use makes it:
    pretrained_folder converting the reference's .pth, here a random-weight state_dict saved in its layout
    instead of downloaded. Folders already there are kept."""
    from pix2pix_hub.loading import resolve

    folders = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed, item in enumerate(entries):
            folder = resolve.pretrained_cache_folder(item.spec)[1]
            if not (folder / "config.json").is_file():
                pth = Path(tmp) / f"{item.name}.pth"
                torch.save(entry_generator(item, ngf, seed).state_dict(), pth)  # the reference's plain state_dict
                with mock.patch.object(resolve, "model_file", lambda entry, progress=None, p=pth: p), \
                        contextlib.redirect_stdout(io.StringIO()):
                    resolve.pretrained_folder(item.spec)
            folders[item.name] = folder
    return folders


def safetensors_mb(tensors: dict[str, torch.Tensor], dtype: torch.dtype | None = None) -> float:
    """MB of these tensors written as safetensors (floating-point ones cast to `dtype`), as gallery_precision writes."""
    from pix2pix_hub.app.gallery_precision import write_weights

    if dtype is not None:
        tensors = {k: t.to(dtype) if t.is_floating_point() else t for k, t in tensors.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        write_weights(path, tensors)
        return path.stat().st_size / MB


# -- per-architecture figures -----------------------------------------------------------------------
def bench_architecture(netG: str, entries: list[GalleryEntry], folders: dict[str, Path], args) -> dict:
    from pix2pix_hub.inference.fast import build_backend, calibration_batches
    from pix2pix_hub.loading.load import load_generator

    label, norm, dropout = ARCHITECTURES[netG]
    folder = folders[entries[0].name]
    generator = load_generator(folder)  # the converted folder: the weights and test mode the app loads
    test_mode = generator.config.get("test_mode", "eval")
    tensors = generator.state_dict()
    params = sum(p.numel() for p in generator.parameters())
    result = {"architecture": label, "netG": netG, "ngf": args.ngf, "norm": norm, "dropout": dropout,
              "entries": [e.name for e in entries], "params": params,
              "buffer_values": sum(b.numel() for b in generator.buffers()),
              "disk_mb_fp32": (folder / "model.safetensors").stat().st_size / MB,
              "disk_mb_fp16": safetensors_mb(tensors, torch.float16),
              "app_test_mode": test_mode}
    result["bytes_per_param_fp32"] = result["disk_mb_fp32"] * MB / params
    eval_g = apply_test_mode(generator, "eval")
    app_g = apply_test_mode(copy.deepcopy(generator), test_mode)
    x = torch.from_numpy(calibration_batches(3, 256, 256, count=1, seed=7)[0])
    with torch.inference_mode():
        reference = eval_g(x)
    runners = {"eager fp32 eval": lambda: eval_g(x)}
    if test_mode != "eval":
        runners = {f"eager fp32 {test_mode} (the app's)": lambda: app_g(x), **runners}
    fast = {}
    notes = {}
    for precision in args.precisions:
        start = time.perf_counter()
        runner = build_backend(eval_g, tuple(x.shape), "auto" if precision == "fp32" else "openvino", precision)
        if runner.name == "eager":
            notes[precision] = f"skipped: {runner.reason}"
            continue
        notes[f"{runner.name} setup s"] = round(time.perf_counter() - start, 1)
        fast[runner.name] = runner
        runners[runner.name] = lambda r=runner: r(x)
    with torch.inference_mode():
        times = interleaved(runners, args.repeats, args.warmup)
        result["ms_256"] = {name: median(t) * 1e3 for name, t in times.items()}
        result["psnr_db_256"] = {name: psnr(r(x).numpy(), reference.numpy()) for name, r in fast.items()}
        result["times_256"] = times
        if netG.startswith("resnet"):  # a photo at 512² (a ResNet takes any size; the app runs it natively)
            x512 = torch.from_numpy(calibration_batches(3, 512, 512, count=1, seed=8)[0])
            reference512 = eval_g(x512)
            runners512 = {"eager fp32 eval": lambda: eval_g(x512)}
            for name, runner in fast.items():
                runner(x512)  # compile this shape (untimed: once per shape)
                runners512[name] = lambda r=runner: r(x512)
            times512 = interleaved(runners512, max(2, args.repeats // 2), args.warmup)
            result["ms_512"] = {name: median(t) * 1e3 for name, t in times512.items()}
            result["psnr_db_512"] = {name: psnr(r(x512).numpy(), reference512.numpy()) for name, r in fast.items()}
            result["times_512"] = times512
    result["fast_path_notes"] = notes
    result["load_average_after"] = os.getloadavg()
    app_backend = build_backend(app_g, tuple(x.shape), "auto")  # what ImageTranslator picks for the app's mode
    result["app_backend"] = app_backend.name
    result["app_backend_reason"] = app_backend.reason
    return result


# -- the app's own path, one process ------------------------------------------------------------------
def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def peak_rss_mb() -> float:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(status["VmHWM"].split()[0]) / 1024  # kB: this process's own high-water mark


def stroke_image(item: GalleryEntry, size: int = 256):
    """What the canvas sends for an entry: black strokes on white (edges), label colours (labels)."""
    from PIL import Image, ImageDraw

    if item.input_kind == "edges":
        image = Image.new("RGB", (size, size), "white")
        draw = ImageDraw.Draw(image)
        draw.line([(40, 200), (90, 80), (200, 120), (220, 210), (40, 200)], fill="black", width=3)
        draw.line([(90, 140), (180, 150)], fill="black", width=3)
        return image
    colours = list(item.colours.values())
    image = Image.new("RGB", (size, size), colours[0])
    draw = ImageDraw.Draw(image)
    for i, colour in enumerate(colours[1:7]):
        draw.rectangle([20 + 30 * i, 30 + 20 * i, 120 + 20 * i, 220 - 10 * i], fill=colour)
    return image


def photo_file(folder: Path, size: int) -> str:
    """A smooth photo-like PNG (the upload box hands translate() a file path)."""
    from PIL import Image

    from pix2pix_hub.inference.fast import calibration_batches

    pixels = ((calibration_batches(3, size, size, count=1, seed=3)[0][0].transpose(1, 2, 0) + 1) * 127.5)
    path = folder / f"photo{size}.png"
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path)
    return str(path)


def tour_child(names: list[str], photo_size: int, requests: int = 3) -> dict:
    """In this process: import app.py and send each entry a visitor's request, once cold and `requests` times warm."""
    import app
    from pix2pix_hub.app.gallery import entry
    from pix2pix_hub.app.sketch_canvas import image_data_url

    with tempfile.TemporaryDirectory() as tmp:
        photo = photo_file(Path(tmp), photo_size)
        sketches = {name: image_data_url(stroke_image(entry(name))) for name in names
                    if entry(name).input_kind != "photo"}
        before = rss_mb()
        per_entry = []
        for name in names:
            item = entry(name)
            seconds, statuses, ok = [], [], True
            for _ in range(1 + requests):
                start = time.perf_counter()
                if item.input_kind == "photo":
                    output, status = app.translate(photo, name, source="upload")
                    ok = ok and output is not None
                else:
                    answer = app.translate_live({"sketch": sketches[name], "model": name})
                    ok, status = ok and answer["image"] is not None, answer["status"]
                seconds.append(time.perf_counter() - start)
                statuses.append(status)
            per_entry.append({"name": name, "netG": item.netG, "input": item.input_kind, "ok": ok, "status": statuses[-1],
                              "cold_ms": seconds[0] * 1e3, "warm_ms": median(seconds[1:]) * 1e3,
                              "warm_all_ms": [s * 1e3 for s in seconds[1:]], "model_ms": median([model_ms(s) or float("nan") for s in statuses[1:]]),
                              "rss_mb": rss_mb(), "load_average": os.getloadavg()})
        server = app.server()
        held = [key[0] for key in server.cache.loaded]
        after, peak = rss_mb(), peak_rss_mb()
        gc.collect()
        after_gc = rss_mb()
        with contextlib.suppress(OSError, AttributeError):  # glibc: hand freed heap pages back to the system
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        return {"rss_before_mb": before, "peak_rss_mb": peak, "rss_after_mb": after, "rss_after_gc_mb": after_gc,
                "rss_after_malloc_trim_mb": rss_mb(),
                "generators_held": len(held), "held": held, "max_models": server.settings.max_models,
                "memory_budget_mb": server.settings.memory_bytes / MB, "photo_size": photo_size,
                "per_entry": per_entry}


def model_ms(status: str) -> float | None:
    """The "in N ms" of the app's status line (the model's own time, as the page shows it)."""
    with contextlib.suppress(IndexError, ValueError):
        return float(status.split(" in ")[1].split(" ms")[0])
    return None


def tour(names: list[str], cache: Path, photo_size: int, requests: int) -> dict:
    env = {**os.environ, "PIX2PIX_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": str(torch.get_num_threads()), "PYTHONPATH": str(ROOT)}
    for name in ("PIX2PIX_MAX_MODELS", "PIX2PIX_MEMORY_MB", "SPACE_ID", "PIX2PIX_MODEL"):
        env.pop(name, None)  # the defaults
    result = subprocess.run([sys.executable, "-m", "benchmarks.gallery", "--tour_child", ",".join(names),
                             "--photo_size", str(photo_size), "--requests", str(requests)], capture_output=True, text=True, timeout=3600,
                            cwd=ROOT, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"the tour's process failed: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def browser(strokes: int) -> dict:
    """The edges2shoes entry in headless Chromium (the cache must hold its folder: PIX2PIX_HUB_CACHE)."""
    from . import browser_latency

    if not Path(browser_latency.CHROMIUM).exists():
        return {"skipped": f"no {browser_latency.CHROMIUM}"}
    try:
        import playwright  # noqa: F401
    except ImportError:
        return {"skipped": "playwright is not installed"}
    result = browser_latency.measure("edges2shoes", strokes, where="server")
    result["load_average_after"] = os.getloadavg()
    return result


# -- the run ---------------------------------------------------------------------------------------------
def run(args) -> dict:
    entries = [e for e in ENTRIES if not args.entries or e.name in args.entries]
    report = {"machine": machine(), "command": "python -m benchmarks.gallery " + " ".join(args.argv),
              "settings": {"ngf": args.ngf, "repeats": args.repeats, "entries": [e.name for e in entries],
                           "photo_size": args.photo_size, "PIX2PIX_MAX_MODELS": "unset (default)"}}
    print(json.dumps(report["machine"]), flush=True)
    own_cache = args.cache is None
    cache = Path(args.cache or tempfile.mkdtemp(prefix="gallery-bench-"))
    previous = os.environ.get("PIX2PIX_HUB_CACHE")
    os.environ["PIX2PIX_HUB_CACHE"] = str(cache)  # the converted folders and the fast path's exports
    try:
        start = time.perf_counter()
        folders = prefill(entries, args.ngf)
        report["prefill_seconds"] = time.perf_counter() - start
        report["architectures"] = []
        for netG in ARCHITECTURES:
            family = [e for e in entries if e.netG == netG]
            if family:
                start = time.perf_counter()
                report["architectures"].append(bench_architecture(netG, family, folders, args))
                print(f"[{netG}: {time.perf_counter() - start:.0f} s, load {os.getloadavg()[0]:.2f}]", flush=True)
        start = time.perf_counter()
        report["tour"] = tour([e.name for e in entries], cache, args.photo_size, args.requests)
        report["tour"]["load_average_after"] = os.getloadavg()
        print(f"[tour: {time.perf_counter() - start:.0f} s]", flush=True)
        if args.browser and "edges2shoes" in folders:
            report["browser"] = browser(args.strokes)
        else:
            report["browser"] = {"skipped": "not asked (--quick, --no_browser, or edges2shoes not among the entries)"}
    finally:
        if previous is None:
            os.environ.pop("PIX2PIX_HUB_CACHE", None)
        else:
            os.environ["PIX2PIX_HUB_CACHE"] = previous
        if own_cache and not args.keep_cache:
            shutil.rmtree(cache, ignore_errors=True)
    report["machine"]["load_average_end"] = os.getloadavg()
    report["targets"] = targets(report)
    return report


def targets(report: dict) -> list[dict]:
    """Each issue target against the figure that answers it (the app's own path where it was measured)."""
    rows = []
    strokes = [e for e in report["tour"]["per_entry"] if e["input"] != "photo" and e["netG"] == "unet_256"]
    if strokes:
        value = median([e["model_ms"] for e in strokes if e["model_ms"] is not None] or [float("nan")])
        rows.append({"target": "stroke model ms", "what": "U-Net edges/labels entries, the app's status time "
                     "(warm, median over entries)", "value": value})
    if "model_median_ms" in report.get("browser", {}):
        rows.append({"target": "stroke model ms", "what": "edges2shoes in Chromium, the app's status time (median)",
                     "value": report["browser"]["model_median_ms"]})
    if "median_ms" in report.get("browser", {}):
        rows.append({"target": "stroke end-to-end ms", "what": "edges2shoes, mouse-up -> painted in Chromium "
                     "(median)", "value": report["browser"]["median_ms"]})
    photos = [e for e in report["tour"]["per_entry"] if e["input"] == "photo" and e["netG"] == "resnet_9blocks"]
    if photos:
        value = median([e["warm_ms"] for e in photos])
        rows.append({"target": "512-px ResNet-9 ms", "what": f"{report['tour']['photo_size']}² photo upload, the "
                     "app's translate() (warm, median over entries)", "value": value})
    for r in rows:
        r["bound"] = TARGETS[r["target"]]
        r["met"] = bool(r["value"] <= r["bound"])
    return rows


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['threads']} threads), "
             f"OpenVINO {m.get('openvino', '-')}, flags {' '.join(m.get('cpu_flags', []))}; load average "
             f"{' / '.join(f'{v:.2f}' for v in m.get('load_average', ()))} at the start, "
             f"{' / '.join(f'{v:.2f}' for v in m.get('load_average_end', ()))} at the end. Random weights of the "
             f"exact architectures (ngf {report['settings']['ngf']}).", "",
             "| architecture | entries | params | MB on disk fp32 / fp16 | 256² eager fp32 (app's mode) | "
             "256² fast fp32 | 256² bf16 | 256² int8 | 512² eager / fast | app request (median over entries) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    tour = report["tour"]
    for a in report["architectures"]:
        ms = a["ms_256"]
        app_name = next((k for k in ms if "(the app's)" in k), "eager fp32 eval")
        eager = f"{ms[app_name]:.0f} ms" + (f" ({a['app_test_mode']}); eval {ms['eager fp32 eval']:.0f} ms"
                                           if app_name != "eager fp32 eval" else " (eval)")

        def fast(precision, a=a, ms=ms):
            name = next((k for k in ms if k.endswith(f"-{precision}")), None)
            if name is None:
                return a["fast_path_notes"].get(precision, "-")[:40]
            text = f"{ms[name]:.0f} ms ({name}"
            db = a["psnr_db_256"][name]
            text += f", {db:.1f} dB)" if precision != "fp32" else ")"
            if precision == "int8" and db < INT8_MIN_DB:
                text += f" < {INT8_MIN_DB:g} dB: not usable"
            return text
        if "ms_512" in a:
            m512 = a["ms_512"]
            fast512 = ", ".join(f"{k.split('-')[-1]} {v:.0f}" for k, v in m512.items() if k != "eager fp32 eval")
            photo = f"{m512['eager fp32 eval']:.0f} / {fast512} ms"
        else:
            photo = "- (U-Net: 256 px)"
        mine = [e for e in tour["per_entry"] if e["netG"] == a["netG"]]
        inputs = "/".join(sorted({e["input"] for e in mine}))
        warm = (f"{median([e['warm_ms'] for e in mine]):.0f} ms warm, {median([e['cold_ms'] for e in mine]):.0f} ms "
                f"first ({inputs}; {a['app_backend']})")
        lines.append(f"| {a['architecture']} ngf {a['ngf']} | {len(a['entries'])} | {a['params'] / 1e6:.2f} M | "
                     f"{a['disk_mb_fp32']:.1f} / {a['disk_mb_fp16']:.1f} | {eager} | {fast('fp32')} | {fast('bf16')} | "
                     f"{fast('int8')} | {photo} | {warm} |")
    lines += ["", f"Touring all {len(tour['per_entry'])} entries through app.py's own requests in one process "
              f"(PIX2PIX_MAX_MODELS unset: default {tour['max_models']}, memory budget {tour['memory_budget_mb']:.0f} MB): "
              f"RSS {tour['rss_before_mb']:.0f} MB before, peak {tour['peak_rss_mb']:.0f} MB, "
              f"{tour['rss_after_mb']:.0f} MB after ({tour['rss_after_gc_mb']:.0f} MB after gc.collect(), "
              f"{tour['rss_after_malloc_trim_mb']:.0f} MB after malloc_trim); {tour['generators_held']} generators held "
              f"at the end ({', '.join(tour['held'])})."]
    b = report.get("browser", {})
    if "median_ms" in b:
        lines.append(f"Browser (edges2shoes, {b['strokes']} strokes, server-side): stroke end -> painted median "
                     f"{b['median_ms']:.0f} ms, max {b['max_ms']:.0f} ms; model median {b['model_median_ms']} ms; "
                     f"requests per stroke {b['requests_per_stroke_median']}.")
    else:
        lines.append(f"Browser: {b.get('skipped', '-')}")
    lines += ["", "| target | figure | value | bound | met |", "|---|---|---|---|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['target']} | {t['what']} | {t['value']:.0f} ms | ≤ {t['bound']:g} ms | "
                     f"{'yes' if t['met'] else 'no'} |")
    return "\n".join(lines)


def bench_rows(quick: bool) -> list[dict]:
    """The `gallery` section of benchmarks.bench: value rows."""
    report = run(parse_args(["--quick"] if quick else []))
    rows = []
    for a in report["architectures"]:
        for size in ("256", "512"):
            for name, value in a.get(f"ms_{size}", {}).items():
                rows.append({"section": "gallery", "measure": f"{a['architecture']} {size}² {name}",
                             "fast_value": value, "unit": "ms"})
    t = report["tour"]
    rows.append({"section": "gallery", "measure": f"tour peak RSS ({t['generators_held']} held)",
                 "fast_value": t["peak_rss_mb"], "unit": "MB", "tour": t})
    rows += [{"section": "gallery", "measure": f"target {r['target']}", "fast_value": r["value"], "unit": "ms",
              "met": r["met"]} for r in report["targets"]]
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gallery", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="ngf 8, two entries, few repeats, no browser")
    parser.add_argument("--json", type=Path, help="write every figure (and each repeat's time) here")
    parser.add_argument("--markdown", type=Path, help="write the README table here")
    parser.add_argument("--ngf", type=int, default=64, help="generator width (the gallery's: 64)")
    parser.add_argument("--entries", nargs="+", help="only these entries (default: all 18)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per setting")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"], choices=["fp32", "bf16", "int8"],
                        help="fast-path precisions (bf16 and int8: OpenVINO; int8 also nncf)")
    parser.add_argument("--photo_size", type=int, default=512, help="side of the photo the tour uploads")
    parser.add_argument("--requests", type=int, default=3, help="tour: warm requests per entry (after the first)")
    parser.add_argument("--strokes", type=int, default=16, help="browser: strokes drawn")
    parser.add_argument("--no_browser", dest="browser", action="store_false", help="leave the Chromium part out")
    parser.add_argument("--cache", help="a cache folder to fill and keep (default: a temporary one, removed)")
    parser.add_argument("--keep_cache", action="store_true", help="keep the temporary cache (its path is in the JSON)")
    parser.add_argument("--tour_child", help=argparse.SUPPRESS)  # the tour's own process: entry names
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.quick:
        args.ngf, args.repeats, args.warmup, args.browser, args.requests = 8, 2, 1, False, 1
        args.entries = args.entries or list(QUICK_ENTRIES)
        if "--precisions" not in args.argv:
            args.precisions = ["fp32"]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.tour_child:
        print(json.dumps(tour_child(args.tour_child.split(","), args.photo_size, args.requests)))
        return 0
    report = run(args)
    table = markdown(report)
    print("\n" + table, flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {args.json}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table + "\n")
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
