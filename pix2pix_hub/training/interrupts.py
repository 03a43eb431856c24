"""Ctrl-C and SIGTERM during training: finish the step, save a checkpoint, exit with how to resume.

The first SIGINT/SIGTERM during a step (or a checkpoint, a validation) only raises a flag; the loop looks at it
after each optimizer step, where the state is whole, saves `checkpoint-{step}` the usual way (written as
`.partial`, then renamed) and stops. Outside a step (waiting for data that does not come, loading the dataset,
building the networks) a single process stops at the first signal (`Interrupted`): there is nothing half-done
to finish, and a wait may never end. A second signal aborts at once (KeyboardInterrupt), and the checkpoint being
written, if any, is removed (`save_checkpoint` cleans up its `.partial` folder on any exception).

Several processes (accelerate launch / torchrun): Ctrl-C in a terminal signals every process of the group,
and the launcher forwards the signal it got to each worker as well, so one keypress can arrive twice within
milliseconds: under a launcher, a second signal counts only after GRACE_SECONDS. The processes agree on the step to stop at by
an all-reduce of the flag after each step, so they all save the same checkpoint, even when only one of them
was signalled; so with several processes the first signal is always only a flag (a process leaving on its own
would leave the others waiting in their next collective).
"""

from __future__ import annotations

import contextlib
import signal
import time

import torch

GRACE_SECONDS = 1.0  # a repeat within this time is the same interrupt, forwarded by the launcher


class TrainingInterrupted(Exception):
    """Raised once the checkpoint of an interrupted run is saved; the message says where and how to resume."""

    def __init__(self, message: str, signum: int, main_process: bool = True):
        super().__init__(message)
        self.exit_code = 128 + signum
        self.main_process = main_process  # only the main process prints the line


class Interrupted(BaseException):  # (not Exception: no `except Exception` on the way may take it for an error)
    """The first signal, outside a step, in a single process: raised where the process was (a wait, a load)."""


class InterruptFlag:
    """Install with `with InterruptFlag(stop_outside_steps) as flag:`; `flag.signum` is the first signal received
    (or None). With `stop_outside_steps`, a first signal outside `with flag.deferred():` raises Interrupted."""

    def __init__(self, stop_outside_steps: bool = False, signals=(signal.SIGINT, signal.SIGTERM)):
        self.signals = signals
        self.stop_outside_steps = stop_outside_steps
        self.signum: int | None = None
        self.first_at = 0.0
        self.step = 0  # the last completed step, for the line a second signal prints
        self.in_step = False
        self.previous: dict = {}

    @contextlib.contextmanager
    def deferred(self):
        """A step (and its checkpoint): a first signal here waits for its end (`requested`)."""
        self.in_step = True
        try:
            yield
        finally:
            self.in_step = False

    def handle(self, signum, frame) -> None:
        now = time.monotonic()
        if self.signum is None:
            self.signum, self.first_at = signum, now
            if self.stop_outside_steps and not self.in_step:
                raise Interrupted(signal_name(signum))
        elif now - self.first_at > GRACE_SECONDS or not launched():
            self.restore()  # a third one gets the default behaviour
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}")

    def __enter__(self) -> "InterruptFlag":
        import threading

        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
            for sig in self.signals:
                self.previous[sig] = signal.signal(sig, self.handle)
        return self

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def __exit__(self, *exc) -> None:
        self.restore()

    def requested(self, accelerator) -> int | None:
        """The signal to stop for, agreed by every process (the largest signal number any of them got)."""
        mine = self.signum or 0
        if accelerator.num_processes > 1:
            flag = torch.tensor([mine], device=accelerator.device)
            mine = int(accelerator.reduce(flag, reduction="max").item())
            if mine and self.signum is None:
                self.signum, self.first_at = mine, time.monotonic()
        return mine or None


def launched() -> bool:
    """Whether a launcher (accelerate launch, torchrun) started this process, and may forward it a signal that
    the terminal also sent it."""
    import os

    return "LOCAL_RANK" in os.environ or "TORCHELASTIC_RUN_ID" in os.environ


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name
