"""`python app.py` served for real on a free loopback port, for the app tests (browser, gradio_client)."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served_app(args: list[str], log_path: Path, env: dict[str, str] | None = None, timeout: float = 90):
    """Run `python app.py ARGS --port P` offline; yield (url, process) once it answers; always shut it down.
    Its output goes to a file, not a pipe: a chatty server can never block on a full pipe."""
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", GRADIO_SERVER_NAME="127.0.0.1",
               **(env or {}))
    for name in ("SPACE_ID", "PIX2PIX_MODEL"):
        env.pop(name, None)
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), *args, "--port", str(port)],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if process.poll() is not None:
                    raise AssertionError(f"app.py exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"app.py did not answer on {url} within {timeout:.0f} s:\n"
                                         f"{log_path.read_text()[-3000:]}")
                time.sleep(0.25)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
