"""`python -m benchmarks.gpu_check [--dry-run] [--output DIR]`: everything a GPU changes, checked in one command.

On one CUDA GPU (about 8 minutes on an H100 with the defaults), in order, each step on its own so that one
failure does not hide the others:

  train      pix2pix, CycleGAN and CUT, `accelerate launch train.py` for --steps steps at 256² in fp32, bf16
             and fp16: exits 0, every logged loss finite, the model folder written.
  resume     the fp32 pix2pix run continued from its checkpoint to twice the steps: it says where it resumed
             and ends at the new step with finite losses.
  ddp        pix2pix bf16 on 2 processes: 2 GPUs if there are, else both on the one GPU (the loop then uses gloo,
             as NCCL refuses two ranks on one device).
  translate  a folder, and one 4096² image (tiled by the memory budget), with `--device cuda`: every output
             written, at the input's size.
  speed      training img/s (fp32 batch 1 vs bf16 + channels_last + compile + fused Adam at batch 16, and the
             L1 loss curve of both: `benchmarks.bench --sections train-gpu`) and generator inference img/s (fp32
             vs bf16 autocast, batch 1 and 16).

It writes DIR/gpu_check.json (every figure and each step's command and output tail) and DIR/gpu_check.md (a
table ready for the README), and exits 1 if any step failed. `--dry-run` runs the same steps on the CPU with
tiny nets and images (fp16 is listed as skipped: Accelerate's fp16 needs CUDA; the speed step leaves
torch.compile out), in about a minute, so the
script is known to work before a GPU is lent (tests/test_gpu_check.py runs it).
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import median

import numpy as np
import torch
from PIL import Image, ImageDraw

from . import bench

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("pix2pix", "cyclegan", "cut")
PRECISIONS = ("no", "bf16", "fp16")  # Accelerate's names; "no" is fp32


def tiny_images(root: Path, count: int, size: int) -> Path:
    """Flat label colours (A) and their shaded "photo" (B): the aligned layout for pix2pix (train/ and val/,
    A|B side by side) and the unpaired one (trainA/ trainB/) for CycleGAN and CUT."""
    rng = np.random.default_rng(0)
    for split, n in (("train", count), ("val", 2)):
        for folder in (root / "paired" / split, root / "unpaired" / f"{split}A", root / "unpaired" / f"{split}B"):
            folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            sketch, photo = Image.new("RGB", (size, size), "white"), Image.new("RGB", (size, size), (90, 110, 140))
            for _ in range(4):
                x, y = (int(v) for v in rng.integers(0, size * 3 // 4, 2))
                box = [x, y, x + int(rng.integers(size // 8, size // 3)), y + int(rng.integers(size // 8, size // 3))]
                colour = tuple(int(c) for c in rng.integers(0, 256, 3))
                ImageDraw.Draw(sketch).rectangle(box, fill=colour)
                ImageDraw.Draw(photo).ellipse(box, fill=tuple(c * 3 // 4 + 30 for c in colour))
            pair = Image.new("RGB", (2 * size, size))
            pair.paste(sketch, (0, 0))
            pair.paste(photo, (size, 0))
            pair.save(root / "paired" / split / f"{i:03d}.png")
            sketch.save(root / "unpaired" / f"{split}A" / f"{i:03d}.png")
            photo.save(root / "unpaired" / f"{split}B" / f"{i:03d}.png")
    return root


class Check:
    """Runs the steps, keeps going past a failure, and collects one result per step."""

    def __init__(self, args: argparse.Namespace, work: Path):
        self.args, self.work, self.results = args, work, []
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
        if args.dry_run:
            # (the variable, not --cpu, which `accelerate launch` will not take beside --multi_gpu)
            self.env |= {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "ACCELERATE_USE_CPU": "1"}

    def run(self, name: str, command: list[str], timeout: float, check=None, record: bool = True, **extra) -> dict:
        start = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
            output, code = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired as expired:
            output, code = f"{expired.stdout or ''}{expired.stderr or ''}\ntimed out after {timeout:.0f} s", None
        result = {"step": name, "seconds": round(time.perf_counter() - start, 1), "command": " ".join(command),
                  "exit_code": code, **extra}
        problem = f"exit code {code}" if code != 0 else (check(output) if check else None)
        result["ok"], result["problem"] = problem is None, problem
        if problem:
            result["output_tail"] = output[-4000:]
        print(f"{'ok  ' if problem is None else 'FAIL'} {name} ({result['seconds']} s)"
              + (f": {problem}" if problem else ""), flush=True)
        if record:
            self.results.append(result)
        return result

    def skip(self, name: str, why: str) -> None:
        print(f"skip {name}: {why}", flush=True)
        self.results.append({"step": name, "ok": None, "skipped": why})

    # -- the steps ----------------------------------------------------------------------------
    def launch(self, processes: int = 1) -> list[str]:
        launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes),
                    "--num_machines", "1", "--dynamo_backend", "no"]
        if processes > 1:
            launcher.append("--multi_gpu")
        return launcher

    def train_args(self, model: str, precision: str, output: Path, steps: int) -> list[str]:
        data = self.work / "data" / ("paired" if model == "pix2pix" else "unpaired")
        size = ["--load_size", "36", "--resolution", "32"] if self.args.dry_run else []
        tiny = {"pix2pix": ["--netG", "unet_32"], "cyclegan": ["--netG", "resnet_2blocks"],
                "cut": ["--netG", "resnet_6blocks"]}[model] + ["--ngf", "8", "--ndf", "8"] if self.args.dry_run else []
        return [str(ROOT / "train.py"), "--model", model, "--dataset", str(data), "--output_dir", str(output),
                "--mixed_precision", precision, "--max_steps", str(steps), "--checkpointing_steps", str(self.args.steps),
                "--validation_steps", str(self.args.steps), "--logging_steps", "10" if steps >= 50 else "1",
                "--num_validation_images", "2", *size, *tiny]

    def train(self) -> None:
        runs = []  # (name, command, output) or (name, None, why skipped), in the report's order
        for model in MODELS:
            for precision in PRECISIONS:
                name = f"train {model} {'fp32' if precision == 'no' else precision}"
                if precision == "fp16" and self.args.dry_run:
                    runs.append((name, None, "Accelerate's fp16 needs CUDA (train.py refuses it on a CPU)"))
                    continue
                output = self.work / "runs" / f"{model}-{precision}"
                runs.append((name, self.launch() + self.train_args(model, precision, output, self.args.steps), output))

        def one(run):
            name, command, output = run
            if command is None:
                print(f"skip {name}: {output}", flush=True)
                return {"step": name, "ok": None, "skipped": output}
            return self.run(name, command, self.args.step_timeout, record=False,
                            check=lambda _: finished(output, self.args.steps))

        # --jobs runs at once (the dry run: 2, its tiny runs are mostly start-up, one thread each); the report
        # keeps the order above whatever finishes first.
        with ThreadPoolExecutor(self.args.jobs) as pool:
            self.results += list(pool.map(one, runs))

    def resume(self) -> None:
        output, steps = self.work / "runs" / "pix2pix-no", 2 * self.args.steps
        if not (output / f"checkpoint-{self.args.steps}").is_dir():
            return self.skip("resume pix2pix fp32", f"the fp32 pix2pix run left no checkpoint-{self.args.steps}")
        expected = f"at step {self.args.steps}"

        def check(log: str) -> str | None:
            if expected not in log:
                return f"it did not say it resumed {expected}"
            return finished(output, steps, after=self.args.steps)
        self.run("resume pix2pix fp32", self.launch() + self.train_args("pix2pix", "no", output, steps)
                 + ["--resume_from_checkpoint", "latest"], self.args.step_timeout, check=check)

    def ddp(self) -> None:
        gpus = torch.cuda.device_count()
        where = "CPU (gloo)" if self.args.dry_run else ("2 GPUs" if gpus >= 2 else "both on the one GPU (gloo)")
        output = self.work / "runs" / "pix2pix-ddp"
        self.run("ddp pix2pix bf16, 2 processes", self.launch(2) + self.train_args("pix2pix", "bf16", output,
                 self.args.steps), self.args.step_timeout, check=lambda log: finished(output, self.args.steps)
                 or (None if "2 process(es)" in log else "the run did not report 2 processes"), where=where)

    def translate(self) -> None:
        model = self.work / "runs" / "pix2pix-no"
        if not (model / "config.json").is_file():
            return self.skip("translate", "the fp32 pix2pix run left no model folder")
        device = "cpu" if self.args.dry_run else "cuda"
        folder = self.work / "data" / "paired" / "train"
        big_side = 256 if self.args.dry_run else 4096
        big = self.work / "big" / "big.png"
        big.parent.mkdir(exist_ok=True)
        Image.open(next(folder.iterdir())).convert("RGB").resize((big_side, big_side), Image.BICUBIC).save(big)
        for name, source, output in (("translate a folder", folder, self.work / "out-folder"),
                                     (f"translate one {big_side}² image", big, self.work / "out-big")):
            inputs = sorted(source.iterdir()) if source.is_dir() else [source]
            budget = ["--memory_budget", "0.05"] if self.args.dry_run and source == big else []  # tiles, as 4096² does
            self.run(name, [sys.executable, "-m", "pix2pix_hub", "translate", "--model", str(model), "--input",
                            str(source), "--output", str(output), "--device", device, *budget],
                     self.args.step_timeout, check=lambda _, i=inputs, o=output: same_sizes(i, o), device=device)

    def speed(self) -> None:
        start = time.perf_counter()
        try:
            # (the dry run leaves torch.compile out: on a CPU it compiles for over a minute)
            options = ["--quick", "--gpu_on_cpu", "--no_compile"] if self.args.dry_run else ["--gpu_batch_size", "16",
                                                                                           "--repeats", "3"]
            accelerator = bench.OneDevice("cpu" if self.args.dry_run else "cuda")
            rows = bench.bench_train_gpu(bench.parse_args(options + ["--curve_steps", str(self.args.curve_steps)]),
                                         accelerator) + inference_rows(accelerator.device, self.args.dry_run)
            self.results.append({"step": "speed", "ok": True, "seconds": round(time.perf_counter() - start, 1),
                                 "rows": rows})
            print(f"ok   speed ({time.perf_counter() - start:.0f} s)\n" + bench.table(rows), flush=True)
        except Exception as error:  # noqa: BLE001 - a GPU session is scarce: report it and keep the other steps
            self.results.append({"step": "speed", "ok": False, "problem": f"{type(error).__name__}: {error}"})
            print(f"FAIL speed: {type(error).__name__}: {error}", flush=True)


def finished(output: Path, steps: int, after: int = 0) -> str | None:
    """None if the run ended at `steps` with a model folder and finite losses logged after step `after`."""
    if not (output / "config.json").is_file():
        return "no model folder (config.json) written"
    if not (output / f"checkpoint-{steps}").is_dir():
        return f"no checkpoint-{steps}"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(output / "logs" / "pix2pix-hub"), size_guidance={"scalars": 0})
    events.Reload()
    losses = [(tag, e.step, e.value) for tag in events.Tags()["scalars"] if tag.startswith("loss")
              for e in events.Scalars(tag) if e.step > after]
    if not losses:
        return f"no losses logged after step {after}"
    bad = [(tag, step, value) for tag, step, value in losses if not math.isfinite(value)]
    if bad:
        return f"{len(bad)} non-finite loss value(s), first {bad[0][0]} = {bad[0][2]} at step {bad[0][1]}"
    if max(step for _, step, _ in losses) != steps:
        return f"the last logged step is {max(step for _, step, _ in losses)}, not {steps}"
    return None


def same_sizes(inputs: list[Path], output: Path) -> str | None:
    written = {p.stem: p for p in output.rglob("*.png")}
    missing = [p.name for p in inputs if p.stem not in written]
    if missing:
        return f"{len(missing)} of {len(inputs)} outputs missing, e.g. {missing[0]}"
    wrong = [p.name for p in inputs if Image.open(p).size != Image.open(written[p.stem]).size]
    return f"{len(wrong)} output(s) not at the input's size, e.g. {wrong[0]}" if wrong else None


def inference_rows(device: torch.device, quick: bool) -> list[dict]:
    """Generator img/s, fp32 vs bf16 autocast (channels_last), at batch 1 and 16."""
    from pix2pix_hub.models import build_generator

    rows, size = [], 32 if quick else 256
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for netG in ("unet_32", "resnet_2blocks") if quick else ("unet_256", "resnet_9blocks"):
        generator = build_generator(netG, ngf=8 if quick else 64).to(device).eval()
        for batch_size in (1, 2) if quick else (1, 16):
            images = torch.rand(batch_size, 3, size, size, device=device) * 2 - 1
            rates = {}
            for name, dtype in (("fp32", None), ("bf16 autocast, channels_last", torch.bfloat16)):
                net = generator.to(memory_format=torch.channels_last) if dtype else generator
                x = images.to(memory_format=torch.channels_last) if dtype else images
                times = []
                with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32,
                                                             enabled=dtype is not None):
                    for repeat in range(3 if quick else 25):
                        sync()
                        start = time.perf_counter()
                        net(x)
                        sync()
                        if repeat >= (1 if quick else 5):  # after warm-up (cuDNN picks its kernels)
                            times.append(time.perf_counter() - start)
                rates[name] = batch_size / median(times)
            (base, base_rate), (fast, fast_rate) = rates.items()
            rows.append(bench.row("inference-gpu", f"{netG} batch {batch_size} img/s", base, base_rate, fast,
                                  fast_rate, "img/s", higher_is_better=True, device=str(device)))
    return rows


def markdown(report: dict) -> str:
    lines = [f"GPU check on {report['machine'].get('gpu', 'no GPU (dry run on ' + report['machine']['cpu'] + ')')}, "
             f"torch {report['machine']['torch']}: `{report['command']}`", "",
             "| step | result | seconds |", "|---|---|---|"]
    for r in report["results"]:
        state = "skipped: " + r["skipped"] if "skipped" in r else ("ok" if r["ok"] else f"FAILED: {r['problem']}")
        lines.append(f"| {r['step']}{' (' + r['where'] + ')' if 'where' in r else ''} | {state} | {r.get('seconds', '')} |")
    for r in report["results"]:
        if r.get("rows"):
            lines += ["", bench.table(r["rows"])]
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dry-run", dest="dry_run", action="store_true",
                        help="the same steps on the CPU, tiny (about a minute): checks the script, not a GPU")
    parser.add_argument("--output", type=Path, default=Path("gpu_check"), help="folder for gpu_check.json and .md")
    parser.add_argument("--steps", type=int, default=200, help="training steps of each run (the resumed one: twice)")
    parser.add_argument("--curve_steps", type=int, default=300, help="speed: steps of the fp32-vs-bf16 loss curves")
    parser.add_argument("--step_timeout", type=float, default=300, help="seconds before one step counts as failed")
    parser.add_argument("--keep", action="store_true", help="keep the runs' folders (under --output/work)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="training runs at once (default: 2 in a dry run, one thread each; 1 on a GPU)")
    args = parser.parse_args(argv)
    args.jobs = max(1, args.jobs or (2 if args.dry_run else 1))
    if args.dry_run:
        args.steps, args.curve_steps = min(args.steps, 2), min(args.curve_steps, 4)
    elif not torch.cuda.is_available():
        parser.error("no CUDA device here (torch.cuda.is_available() is False): run it on a GPU machine, "
                     "or pass --dry-run to check the script on the CPU")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    report = {"machine": bench.machine(), "command": "python -m benchmarks.gpu_check " + " ".join(argv or sys.argv[1:])}
    print(json.dumps(report["machine"]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.output / "work" if args.keep else Path(tmp)
        tiny_images(work / "data", count=8 if args.dry_run else 64, size=32 if args.dry_run else 256)
        check = Check(args, work)
        for step in (check.train, check.resume, check.ddp, check.translate, check.speed):
            step()
    report["results"] = check.results
    failed = [r["step"] for r in check.results if r["ok"] is False]
    (args.output / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    (args.output / "gpu_check.md").write_text(markdown(report))
    print(f"\n{markdown(report)}\nwrote {args.output / 'gpu_check.json'} and gpu_check.md"
          + (f"; FAILED: {', '.join(failed)}" if failed else "; every step passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
