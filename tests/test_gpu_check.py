"""benchmarks/gpu_check.py: its dry run goes through every step on the CPU (real `accelerate launch` runs, a resume,
two gloo processes, translate), and its checks fail where a run went wrong (a NaN loss, no checkpoint)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from benchmarks.gpu_check import finished, same_sizes
from pix2pix_hub.training.loop import shares_a_gpu

from helpers import ROOT


def test_dry_run_goes_through_every_step(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--dry-run", "--output", str(tmp_path)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    steps = {r["step"]: r for r in report["results"]}
    trains = [f"train {m} {p}" for m in ("pix2pix", "cyclegan", "cut") for p in ("fp32", "bf16", "fp16")]
    assert list(steps) == trains + ["resume pix2pix fp32", "ddp pix2pix bf16, 2 processes", "translate a folder",
                                    "translate one 256² image", "speed"]
    for name, step in steps.items():
        if name.endswith("fp16"):  # no CUDA: said, not silently run in fp32
            assert step["ok"] is None and "needs CUDA" in step["skipped"]
        else:
            assert step["ok"] is True, step
    assert "--num_processes 2" in steps["ddp pix2pix bf16, 2 processes"]["command"]
    measures = [row["measure"] for row in steps["speed"]["rows"]]
    assert measures[:2] == ["pix2pix img/s", "cyclegan img/s"] and len(measures) == 6
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| resume pix2pix fp32 | ok |" in table and "| train cut fp16 | skipped: " in table
    assert "| train-gpu | pix2pix img/s | fp32 batch 1:" in table


def test_the_checks_fail_where_a_run_went_wrong(tmp_path):
    """The contrast: what the dry run passes is what a NaN loss, a missing checkpoint or a lost output fails."""
    from PIL import Image
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "run"
    (run / "checkpoint-4").mkdir(parents=True)
    assert finished(run, 4) == "no model folder (config.json) written"
    (run / "config.json").write_text("{}")
    writer = SummaryWriter(str(run / "logs" / "pix2pix-hub"))
    for step, value in ((1, 0.9), (2, 0.8), (3, float("nan")), (4, 0.7)):
        writer.add_scalar("loss_G_L1", value, step)
    writer.close()
    assert finished(run, 4).startswith("1 non-finite loss value(s), first loss_G_L1 = nan at step 3")
    assert finished(run, 4, after=3) is None  # only what was logged after the resume point counts
    assert finished(run, 8) == "no checkpoint-8"
    Image.new("RGB", (20, 10)).save(tmp_path / "a.png")
    (tmp_path / "out").mkdir()
    assert same_sizes([tmp_path / "a.png"], tmp_path / "out").startswith("1 of 1 outputs missing")
    Image.new("RGB", (10, 10)).save(tmp_path / "out" / "a.png")
    assert same_sizes([tmp_path / "a.png"], tmp_path / "out").startswith("1 output(s) not at the input's size")


def test_processes_sharing_one_gpu_use_gloo():
    assert shares_a_gpu(local_processes=2, gpus=1)  # NCCL would refuse two ranks on one device
    assert not shares_a_gpu(local_processes=2, gpus=2) and not shares_a_gpu(local_processes=1, gpus=1)
    assert not shares_a_gpu(local_processes=2, gpus=0)  # a CPU run: gloo anyway, through Accelerate


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here: the check would run")
def test_without_cuda_and_without_dry_run_it_says_how(tmp_path):
    result = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--output", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no CUDA device here" in result.stderr and "--dry-run" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "gpu_check.json").exists()
