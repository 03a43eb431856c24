"""One run per output_dir: two train.py processes at once, a lock left by a killed run, PID reuse, another host."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from test_checkpoints import ENV, command, error_line, weights

from pix2pix_hub.training.run_lock import LOCK_FILE, RunLock, RunLockError, process_start_time

from helpers import ROOT, make_aligned_folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_aligned_folder(tmp_path_factory.mktemp("pairs"), n=4, size=64)


def start(data, out, log, *args):
    with open(log, "w") as sink:
        return subprocess.Popen(command(data, out, *args), cwd=ROOT, env=ENV, stdout=sink, stderr=subprocess.STDOUT)


def wait_for(predicate, process, log, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, f"train.py ended before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


def test_two_runs_at_once_then_a_killed_runs_lock_is_taken_over(data, tmp_path):
    out = tmp_path / "run"
    first = start(data, out, tmp_path / "first.log", "--n_epochs", 500, "--checkpointing_steps", 2)  # runs on
    try:
        wait_for(lambda: (out / "checkpoint-2").is_dir(), first, tmp_path / "first.log", "checkpoint-2")
        holder = json.loads((out / LOCK_FILE).read_text())
        assert holder["pid"] == first.pid and holder["host"] == socket.gethostname()

        # A second run on the same output_dir: one line naming the holder, exit 2, nothing touched.
        before = sorted(p.name for p in out.iterdir())
        second = subprocess.run(command(data, out, "--max_steps", 4, "--resume_from_checkpoint", "latest"),
                                cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=240)
        assert second.returncode == 2, second.stderr[-3000:]
        line = error_line(second.stdout + second.stderr)
        assert line.startswith(f"error: {out} is in use by another training run, PID {first.pid} on host "
                               f"{socket.gethostname()} (started "), line
        assert "pass another --output_dir" in line
        assert first.poll() is None  # the first run goes on
        assert set(before) <= {p.name for p in out.iterdir()} and "resumed" not in second.stdout + second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)

    # The killed run's lock names a PID that is gone: the next run takes it over, says so, and trains.
    assert json.loads((out / LOCK_FILE).read_text())["pid"] == first.pid
    result = subprocess.run(command(data, out, "--max_steps", 4, "--resume_from_checkpoint", "latest"),
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=240)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert f"note: took over {out / LOCK_FILE} from a run that is no longer running (PID {first.pid} on host" in log
    assert not (out / LOCK_FILE).exists()  # released at the end
    assert weights(out / "model.safetensors")


def test_pid_reuse_and_another_host(tmp_path):
    # A live PID (this test's parent) whose start time is not the one recorded: a new process reusing the
    # number of a dead run; its lock is stale.
    parent = os.getppid()
    (tmp_path / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": parent,
                                                  "start_time": process_start_time(parent) - 3600}))
    with RunLock(tmp_path) as lock:
        assert lock.notice and f"PID {parent}" in lock.notice and "no longer running" in lock.notice
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
        # Held by this process: a second RunLock in another process refuses (flock), naming it.
        result = subprocess.run([sys.executable, "-c", "import sys; from pix2pix_hub.training.run_lock import RunLock\n"
                                 "RunLock(sys.argv[1]).acquire()", str(tmp_path)], cwd=ROOT, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 1 and f"PID {os.getpid()} on host" in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / LOCK_FILE).exists()

    # The same PID with its true start time is alive: refused (no flock needed to tell).
    (tmp_path / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": parent,
                                                  "start_time": process_start_time(parent)}))
    with pytest.raises(RunLockError, match=f"in use by another training run, PID {parent} on host"):
        RunLock(tmp_path).acquire()
    # Another host cannot be checked from here: refused, with what to do.
    (tmp_path / LOCK_FILE).write_text(json.dumps({"host": "elsewhere.invalid", "pid": 1, "start_time": 0}))
    with pytest.raises(RunLockError, match=r"cannot be checked from this host; if that run is gone, delete"):
        RunLock(tmp_path).acquire()
    # A lock file cut short by a crash while it was written: replaced, with a note.
    (tmp_path / LOCK_FILE).write_text('{"host": "x", "pi')
    with RunLock(tmp_path) as lock:
        assert lock.notice and "unreadable" in lock.notice
