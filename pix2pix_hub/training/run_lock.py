"""One training run per output_dir: `output_dir/train.lock` names its holder (host, PID, start time).

The file is held with an advisory `flock` for the run's whole life, so the kernel frees it the moment the
holder dies, however it dies. Its JSON content says who holds it, for the message a second run prints, and
lets a lock be judged where `flock` does not work (some network filesystems): a holder on this host whose PID
is gone, or whose PID now belongs to a process started at another time, is dead, and its lock is taken over
with a line saying so. A holder on another host cannot be checked from here and is never taken over.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from pathlib import Path

from ..errors import Pix2PixHubError

LOCK_FILE = "train.lock"


class RunLockError(Pix2PixHubError, RuntimeError):
    """output_dir is in use by another run; the message names it and what to do."""


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch, as psutil reports it), or None if there is none."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:  # alive, someone else's: its start time cannot be read, only that it exists
        return -1.0


def holder_is_alive(holder: dict) -> bool | None:
    """True/False for a holder on this host; None when it cannot be told (another host)."""
    if holder.get("host") != socket.gethostname():
        return None
    started = process_start_time(int(holder["pid"]))
    if started is None:
        return False
    return started == -1.0 or abs(started - float(holder["start_time"])) < 1.0  # PID reused by a newer process


def describe(holder: dict) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("start_time", 0))))
    return f"PID {holder.get('pid')} on host {holder.get('host')} (started {started})"


class RunLock:
    """`with RunLock(output_dir):` or acquire()/release(). `notice` says when a dead run's lock was taken over."""

    def __init__(self, output_dir: str | Path):
        self.path = Path(output_dir) / LOCK_FILE
        self.fd: int | None = None
        self.notice: str | None = None
        self.made_folder = False

    def acquire(self) -> "RunLock":
        self.made_folder = not self.path.parent.exists()  # a run that stops at once leaves no empty folder
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):  # retried only when the file was replaced between open() and flock()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if self._lock(fd) and self._same_file(fd):
                    self._claim(fd)
                    self.fd = fd
                    return self
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise RunLockError(f"{self.path} keeps changing under this run; is another run starting in "
                           f"{self.path.parent}?")

    def _lock(self, fd: int) -> bool:
        """flock it; False when the file was swapped (retry); RunLockError when a live run holds it."""
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLockError(self._in_use(read_holder(fd))) from None
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            # no flock on this filesystem: the holder's host, PID and start time decide alone
        return True

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:  # the previous holder removed it while we waited: start again
            return False

    def _claim(self, fd: int) -> None:
        holder = read_holder(fd)
        if holder == {}:
            pass  # a fresh file
        elif holder is None:
            self.notice = f"note: replaced an unreadable {self.path} (left by a run killed while writing it)"
        elif int(holder.get("pid", -1)) == os.getpid() and holder.get("host") == socket.gethostname():
            pass  # this process already holds it
        else:
            alive = holder_is_alive(holder)
            if alive is None:
                raise RunLockError(self._in_use(holder, other_host=True))
            if alive:
                raise RunLockError(self._in_use(holder))
            self.notice = (f"note: took over {self.path} from a run that is no longer running ({describe(holder)})")
        me = {"host": socket.gethostname(), "pid": os.getpid(), "start_time": process_start_time(os.getpid()),
              "command": " ".join(sys.argv)[:500]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        os.fsync(fd)

    def _in_use(self, holder: dict | None, other_host: bool = False) -> str:
        who = describe(holder) if holder else "another process"
        if other_host:
            return (f"{self.path.parent} is in use by {who}, which cannot be checked from this host; if that run is "
                    f"gone, delete {self.path}, or pass another --output_dir")
        return (f"{self.path.parent} is in use by another training run, {who}; wait for it to finish, stop it, "
                "or pass another --output_dir")

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still holding it: a waiter re-checks the inode
        finally:
            os.close(self.fd)
            self.fd = None
        if self.made_folder:
            with contextlib.suppress(OSError):  # not empty: the run wrote something
                self.path.parent.rmdir()

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def read_holder(fd: int) -> dict | None:
    """The lock file's JSON ({} when empty, None when unreadable)."""
    raw = os.pread(fd, 4096, 0)
    if not raw.strip():
        return {}
    try:
        holder = json.loads(raw)
        return holder if isinstance(holder, dict) and {"host", "pid", "start_time"} <= set(holder) else None
    except ValueError:
        return None
