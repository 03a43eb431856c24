"""What survives what, through train.py for real: SIGKILL (also in the middle of writing a checkpoint),
a full disk while saving, and NaN/Inf losses. Every run is the same tiny pix2pix (unet_64, ngf 8, 64 px)."""

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import safetensors.torch
import torch

from helpers import ROOT, make_aligned_folder

INTERVAL = 2  # --checkpointing_steps
TINY_CHECKPOINTED = ["--model", "pix2pix", "--netG", "unet_64", "--ngf", "8", "--ndf", "8", "--load_size", "72",
        "--resolution", "64", "--report_to", "none", "--validation_steps", "1000", "--logging_steps", "1",
        "--num_validation_images", "1", "--n_epochs", "1", "--n_epochs_decay", "1",  # the LR decays in epoch 2
        "--checkpointing_steps", str(INTERVAL)]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def command(data, out, *args):
    return [sys.executable, str(ROOT / "train.py"), "--dataset", str(data), "--output_dir", str(out), *TINY_CHECKPOINTED, *map(str, args)]


def train_tiny(data, out, *args, expect=0, **popen) -> str:
    """train.py on `data` with TINY_CHECKPOINTED and ARGS; asserts its exit code, returns its output."""
    result = subprocess.run(command(data, out, *args), cwd=ROOT, env=ENV, capture_output=True, text=True,
                            timeout=300, **popen)
    assert result.returncode == expect, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def kill_when(data, out, *args, appears: str, log: Path) -> None:
    """Start train.py and SIGKILL it the moment `out/appears` exists (polled every 0.2 ms)."""
    with open(log, "w") as sink:
        process = subprocess.Popen(command(data, out, *args), cwd=ROOT, env=ENV, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    try:
        while not (out / appears).exists():
            assert process.poll() is None, f"train.py ended before {appears} appeared:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{appears} never appeared"
            time.sleep(0.0002)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(30)
    assert process.returncode == -signal.SIGKILL


def resumed_step(log: str) -> int:
    return int(re.search(r"resumed from \S+ at step (\d+)", log).group(1))


def weights(path: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(path)


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def error_line(log: str) -> str:
    lines = [line for line in log.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_aligned_folder(tmp_path_factory.mktemp("pairs"), n=4, size=64)


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory):
    """The uninterrupted run: 6 steps, checkpoints 2, 4, 6 kept."""
    out = tmp_path_factory.mktemp("straight") / "run"
    train_tiny(data, out, "--max_steps", 6)
    return out


def resume_copy(straight: Path, tmp_path: Path) -> Path:
    """A new output_dir holding only the uninterrupted run's checkpoint-2, as if it had stopped there."""
    out = tmp_path / "run"
    shutil.copytree(straight / "checkpoint-2", out / "checkpoint-2")
    return out


def test_sigkill_mid_checkpoint_and_mid_training_then_resume_is_exact(data, straight, tmp_path):
    out = tmp_path / "killed"
    limited = ["--max_steps", 6, "--checkpoints_total_limit", 1]

    # 1. Killed while checkpoint-4 is being written: it is never taken for "latest", checkpoint-2 (the only
    #    good one, despite --checkpoints_total_limit 1) is, and at most one interval of steps is lost.
    for _attempt in range(3):  # the write takes tens of ms: should this busy machine stall the watcher past the
        shutil.rmtree(out, ignore_errors=True)  # rename, it was not a kill mid-write; start over
        kill_when(data, out, *limited, appears="checkpoint-4.partial", log=tmp_path / "1.log")
        if not (out / "checkpoint-4").exists():
            break
    assert (out / "checkpoint-4.partial").is_dir() and not (out / "checkpoint-4").exists()
    assert (out / "checkpoint-2" / "training_state.json").is_file()
    # Leftovers that must never be resumed from: another half-written folder (complete-looking inside), and a
    # checkpoint folder without its training_state.json (the file that is written last).
    shutil.copytree(out / "checkpoint-2", out / "checkpoint-99.partial")
    (out / "checkpoint-99.partial" / "training_state.json").write_text('{"step": 99}')
    shutil.copytree(out / "checkpoint-2", out / "checkpoint-98")
    (out / "checkpoint-98" / "training_state.json").unlink()

    # 2. Resumed, and killed again at another moment: as soon as checkpoint-4 is complete (pruning, step 5...).
    kill_when(data, out, *limited, "--resume_from_checkpoint", "latest", appears="checkpoint-4", log=tmp_path / "2.log")
    log = (tmp_path / "2.log").read_text()
    assert resumed_step(log) == 2 and 4 - resumed_step(log) <= INTERVAL
    # A .partial left now is checkpoint-6 being written, or checkpoint-2 being pruned (renamed before removal).
    assert {p.name for p in out.glob("*.partial")} <= {"checkpoint-2.partial", "checkpoint-6.partial"}
    assert not (out / "checkpoint-2").exists() or not (out / "checkpoint-2.partial").exists()

    # 3. Resumed to the end: the same weights as the run that was never stopped.
    log = train_tiny(data, out, *limited, "--resume_from_checkpoint", "latest")
    assert resumed_step(log) == 4
    assert_same(weights(out / "model.safetensors"), weights(straight / "model.safetensors"))
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-6", "checkpoint-98"]  # limit 1; 98 is no checkpoint


def test_state_file_is_written_last(straight):
    for checkpoint in straight.glob("checkpoint-*"):
        files = [p for p in checkpoint.iterdir() if p.name != "training_state.json"]
        state = (checkpoint / "training_state.json").stat().st_mtime_ns
        assert len(files) >= 6 and all(p.stat().st_mtime_ns <= state for p in files)


def limit_file_size(max_bytes: int):
    """For the subprocess: writes past `max_bytes` into any file fail for real (EFBIG, like ENOSPC)."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the writer instead of failing the write
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


class RunsCode:
    """Unpickling this object calls Path(marker).touch(): what a tampered checkpoint file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path(self.marker).touch, ()



TAMPERED = ["random_states_0.pkl", "optimizer.bin"]


@pytest.fixture(scope="module")
def resumed_runs(data, straight, tmp_path_factory):
    """The runs the tests below check, each from its own copy of the straight run's checkpoint-2 (resume_copy),
    two at a time on the suite's 2 cores: all started when the first of those tests asks (after the SIGKILL test,
    whose watcher must not be slowed). `resumed_runs(name)` is (out, log) of that run, or its failure."""
    root = tmp_path_factory.mktemp("resumed")
    # first, alone: no other thread may be about while preexec_fn runs in the forked child
    full_disk = resume_copy(straight, root / "full-disk")
    try:
        full = (train_tiny(data, full_disk, "--max_steps", 6, "--checkpoints_total_limit", 1, "--resume_from_checkpoint",
                           "latest", expect=2, preexec_fn=limit_file_size(100_000)),
                sorted(p.name for p in full_disk.iterdir()),
                {file.name: (full_disk / "checkpoint-2" / file.name).read_bytes() for file in (straight / "checkpoint-2").iterdir()})
    except AssertionError as error:
        full = error

    def resumed_after_full_disk():
        if isinstance(full, AssertionError):
            raise full
        return full_disk, (*full, train_tiny(data, full_disk, "--max_steps", 6, "--resume_from_checkpoint", "latest"))

    def nonfinite_stop():
        out = resume_copy(straight, root / "nonfinite-stop")
        # 1e39 overflows float32: the L1 term, hence the generator loss, is inf at the first resumed step.
        return out, train_tiny(data, out, "--max_steps", 6, "--lambda_l1", "1e39", "--resume_from_checkpoint", "latest",
                               expect=2)

    def nonfinite_skip():
        out = resume_copy(straight, root / "nonfinite-skip")
        return out, train_tiny(data, out, "--max_steps", 4, "--lambda_l1", "1e39", "--resume_from_checkpoint", "latest",
                               "--on_nonfinite_loss", "skip")

    def tampered(name):
        def run():
            out = resume_copy(straight, root / f"tampered-{name}")
            torch.save({"random_state": RunsCode(out.parent / "ran")}, out / "checkpoint-2" / name)
            return out, train_tiny(data, out, "--max_steps", 4, "--resume_from_checkpoint", "latest", expect=2)
        return run

    runs = {"full disk": resumed_after_full_disk, "nonfinite stop": nonfinite_stop, "nonfinite skip": nonfinite_skip,
            **{f"tampered {name}": tampered(name) for name in TAMPERED}}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run) for name, run in runs.items()}
        yield lambda name: futures[name].result()


def test_full_disk_while_saving_keeps_the_previous_checkpoint(straight, resumed_runs):
    out, (log, listed, copied, resumed_log) = resumed_runs("full disk")
    line = error_line(log)
    assert "could not write checkpoint-4" in line and "File too large" in line and "disk full" in line, line
    assert "checkpoint-2 is kept" in line and "--resume_from_checkpoint latest" in line, line
    assert listed == ["checkpoint-2"]  # no half-written folder, nothing pruned
    for file in (straight / "checkpoint-2").iterdir():
        assert copied[file.name] == file.read_bytes()

    assert resumed_step(resumed_log) == 2
    assert_same(weights(out / "model.safetensors"), weights(straight / "model.safetensors"))


def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(straight, resumed_runs):
    out, log = resumed_runs("nonfinite stop")
    line = error_line(log)
    assert line == ("error: the G loss is inf at step 3: stopped; checkpoint-2 is the last good checkpoint. "
                    "Lower --learning_rate, or pass --on_nonfinite_loss skip"), line
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-2"]
    for file in (straight / "checkpoint-2").iterdir():
        assert (out / "checkpoint-2" / file.name).read_bytes() == file.read_bytes()


def test_nonfinite_loss_skip_counts_and_never_touches_the_weights(resumed_runs):
    out, log = resumed_runs("nonfinite skip")
    assert "skipped 2 step(s) with a non-finite loss" in log
    final = weights(out / "model.safetensors")
    assert all(torch.isfinite(t).all() for t in final.values() if t.is_floating_point())
    # The generator's steps were all skipped: its parameters are checkpoint-2's, bit for bit (BatchNorm's
    # running statistics, updated by the forward pass, did see the two batches, and are finite).
    before = weights(out / "checkpoint-2" / "model.safetensors")
    is_parameter = lambda key: not key.endswith(("running_mean", "running_var", "num_batches_tracked"))  # noqa: E731
    assert_same({k: v for k, v in final.items() if is_parameter(k)}, {k: v for k, v in before.items() if is_parameter(k)})
    assert (out / "checkpoint-4" / "training_state.json").is_file()  # skipped steps still count as steps


@pytest.mark.parametrize("name", TAMPERED)
def test_tampered_checkpoint_never_runs_code(resumed_runs, name):
    """A checkpoint file that would run code when unpickled: refused (weights_only), one line, nothing runs.
    Accelerate alone skips an unreadable random_states file quietly, and the resume would not be exact."""
    out, log = resumed_runs(f"tampered {name}")
    line = error_line(log)
    assert "checkpoint-2 cannot be resumed from (UnpicklingError" in line and "never unpickled" in line, line
    assert not (out.parent / "ran").exists()
