"""Ctrl-C (SIGINT) and SIGTERM sent to a real train.py: a checkpoint at the current step, one line saying how to
resume, and a resume that ends on the uninterrupted run's weights; a second Ctrl-C leaves no half-written folder."""

import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_checkpoints import ENV, assert_same, command, train_tiny, weights

from pix2pix_hub.training.loop import list_checkpoints

from helpers import ROOT, make_aligned_folder

STEPS = 8
NO_PERIODIC = ["--max_steps", STEPS, "--checkpointing_steps", 1000]  # only the interrupt saves


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_aligned_folder(tmp_path_factory.mktemp("pairs"), n=4, size=64)


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory):
    """The uninterrupted run, in the background: the first interrupted run (signalled once its log shows 2 steps,
    however long that takes) goes on beside it on the other core; call it for the folder once the run is done."""
    out = tmp_path_factory.mktemp("straight") / "run"
    with ThreadPoolExecutor(max_workers=1) as pool:
        run = pool.submit(train_tiny, data, out, *NO_PERIODIC)

        def done() -> Path:
            run.result()  # its assertion, should it have failed
            return out
        yield done


def steps_done(log) -> int:
    found = re.findall(rf"(\d+)/{STEPS} \[", log.read_text(errors="replace"))
    return int(found[-1]) if found else 0


def interrupt(data, out, log, sig, at_step: int, *, second_when=None):
    """Start train.py; send `sig` once `at_step` steps are done (and a second one when `second_when()`)."""
    with open(log, "w") as sink:
        process = subprocess.Popen(command(data, out, *NO_PERIODIC), cwd=ROOT, env=ENV, stdout=sink,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while steps_done(log) < at_step:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(sig)
        if second_when is not None:
            while not second_when() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.0002)
            process.send_signal(sig)
        process.wait(120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    return process.returncode, log.read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_saves_the_current_step_and_resumes_to_the_same_weights(data, straight, tmp_path, sig):
    """SIGINT is resumed to the end; SIGTERM (what `kill`, a scheduler or a Space's restart sends) only saves."""
    out = tmp_path / "run"
    code, log = interrupt(data, out, tmp_path / "run.log", sig, at_step=2)
    assert code == 128 + sig, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    saved = list_checkpoints(out)
    assert len(saved) == 1 and not list(out.glob("*.partial")), sorted(p.name for p in out.iterdir())
    step = int(saved[0].name.split("-")[1])
    assert 2 <= step < STEPS
    lines = [line for line in log.splitlines() if "interrupted" in line]
    assert lines == [f"interrupted by {sig.name} at step {step}: saved {saved[0]}; resume with the same command "
                     "and --resume_from_checkpoint latest"], log[-2000:]
    assert not (out / "model.safetensors").exists()  # not a finished model
    if sig == signal.SIGTERM:
        return
    resumed = train_tiny(data, out, *NO_PERIODIC, "--resume_from_checkpoint", "latest")
    assert f"at step {step}" in resumed
    assert_same(weights(out / "model.safetensors"), weights(straight() / "model.safetensors"))


def test_a_second_ctrl_c_aborts_without_a_half_written_checkpoint(data, tmp_path):
    out = tmp_path / "run"
    for _attempt in range(3):  # the second Ctrl-C must land while the checkpoint is written (tens of ms)
        code, log = interrupt(data, out, tmp_path / "run.log", signal.SIGINT, at_step=2,
                              second_when=lambda: bool(list(out.glob("checkpoint-*.partial"))))
        if "aborted" in log:
            break
    assert code == 130, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert not list(out.glob("checkpoint-*")), sorted(p.name for p in out.iterdir())  # neither half nor whole
    lines = [line for line in log.splitlines() if "aborted" in line]
    assert len(lines) == 1 and lines[0].startswith("aborted by a second SIGINT at step "), log[-2000:]
    assert "no checkpoint was saved" in lines[0]


def test_ctrl_c_to_two_accelerate_processes_saves_one_checkpoint_both_resume(data, straight, tmp_path):
    """Ctrl-C in a terminal signals the launcher and both workers (one process group); the launcher forwards it
    again. Both processes stop at the same step and save one checkpoint together; one line; the resume runs."""
    import os
    import sys

    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    out, log = tmp_path / "ddp", tmp_path / "ddp.log"
    # (without the interpreter: the launcher runs train.py); 2 steps an epoch with 2 processes: 4 epochs = 8 steps
    args = command(data, out, *NO_PERIODIC, "--n_epochs", 3)[1:]
    env = {**ENV, "ACCELERATE_USE_CPU": "1"}
    with open(log, "w") as sink:
        process = subprocess.Popen(launcher + args, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its own group, as a terminal's foreground job
    try:
        deadline = time.monotonic() + 240
        while steps_done(log) < 2:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does
        process.wait(120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
    text = log.read_text()
    saved = list_checkpoints(out)
    assert len(saved) == 1 and not list(out.glob("*.partial")), text[-3000:]
    assert len(list(saved[0].glob("random_states_*.pkl"))) == 2  # both processes wrote their part
    lines = [line for line in text.splitlines() if line.startswith("interrupted by")]
    assert len(lines) == 1 and lines[0].startswith("interrupted by SIGINT at step "), text[-3000:]
    assert "aborted" not in text  # the forwarded copy of the one keypress did not count as a second one
    result = subprocess.run(launcher + args + ["--resume_from_checkpoint", "latest"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "model.safetensors").is_file() and not (out / "train.lock").exists()


def test_the_first_sigterm_stops_a_run_that_waits_for_its_data(tmp_path):
    """Issue 30 (3): a run waiting before its first step (here: a Hub dataset on a server that accepts and never
    answers) ignored the first SIGTERM, for as long as the wait lasted (seen: still running 60 s later). A single
    process now stops at the first signal wherever it is outside a step: exit 143 at once, one line."""
    import sys

    from download_server import SilentServer

    with SilentServer() as url:
        env = {**ENV, "HF_ENDPOINT": url, "HF_HOME": str(tmp_path / "hf")}
        env.pop("HF_HUB_OFFLINE")
        out = tmp_path / "run"
        process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "--dataset", "someone/pairs",
                                    "--output_dir", str(out), "--max_steps", "2"], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            while not (out / "train.lock").exists() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)  # the lock is taken just before the data is loaded: the wait has begun
            time.sleep(1.0)
            assert process.poll() is None, process.stdout.read()
            sent = time.monotonic()
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
            waited = time.monotonic() - sent
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)
    assert process.returncode == 128 + signal.SIGTERM, output[-3000:]
    assert waited < 15, f"{waited:.1f} s after the signal"  # (the server never answers: any exit is the signal's)
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines[-1] == "interrupted by SIGTERM at step 0: nothing half-written is kept; no checkpoint was saved"
    assert "Traceback" not in output and not out.exists()  # (the lock gone with the empty folder it made)
