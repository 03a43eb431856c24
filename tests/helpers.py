"""What the tests share: the checkout's ROOT, train.py runs, tiny datasets with learnable structure (in every
supported layout), hand-made PNGs, stream helpers, and `python app.py` served on loopback.

The datasets: B is a "photo" (coloured shapes on a gradient), A its "sketch" (flat label colours of the same
shapes). The Hub-protocol server the Hub tests use is tests/hub_server.py (conftest.py's `local_hub` fixture).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from pix2pix_hub.config import DataConfig

from hub_server import free_port

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--netG", "unet_128", "--ngf", "8", "--ndf", "8", "--load_size", "136", "--resolution", "128",
        "--report_to", "none", "--validation_steps", "1000", "--logging_steps", "1", "--num_validation_images", "2"]


def run_train(*args, env=None, launcher=None, expect: int = 0, timeout: float = 600, **popen):
    """Run train.py ARGS (offline, one thread) in a subprocess; assert it exits with `expect`."""
    command = (launcher or [sys.executable]) + [str(ROOT / "train.py"), *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, **popen)
    assert result.returncode == expect, result.stdout[-3000:] + result.stderr[-3000:]
    return result



def names(folder: Path) -> list[str]:
    """The files a command wrote in `folder`, without the list of them it keeps (output_files.MANIFEST)."""
    from pix2pix_hub.output_files import MANIFEST
    return sorted(p.name for p in folder.iterdir() if p.name != MANIFEST)


# -- tiny datasets ---------------------------------------------------------------------------------
def scalars(logs: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # logs/<tracker_project_name>/ holds the run's events (a subfolder the hyperparameters)
    accumulator = EventAccumulator(str(logs / "pix2pix-hub"), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    values = {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}
    values["images"] = {tag: [e.step for e in accumulator.Images(tag)] for tag in accumulator.Tags()["images"]}
    return values


LABEL_COLOURS = [(255, 0, 0), (0, 160, 0), (0, 0, 255), (255, 200, 0)]


def make_pair(index: int, size: int = 64) -> tuple[Image.Image, Image.Image]:
    rng = np.random.default_rng(index)
    gradient = np.linspace(60, 200, size, dtype=np.float32)[:, None, None] * np.ones((1, size, 3), np.float32)
    photo = Image.fromarray((gradient + rng.normal(0, 8, (size, size, 3))).clip(0, 255).astype(np.uint8))
    sketch = Image.new("RGB", (size, size), (255, 255, 255))
    for _ in range(3):
        x0, y0 = rng.integers(0, size // 2, 2)
        box = [int(x0), int(y0), int(x0 + rng.integers(size // 6, size // 2)), int(y0 + rng.integers(size // 6, size // 2))]
        label = LABEL_COLOURS[int(rng.integers(len(LABEL_COLOURS)))]
        ImageDraw.Draw(sketch).rectangle(box, fill=label)
        ImageDraw.Draw(photo).rectangle(box, fill=tuple(int(c * 0.7 + 40) for c in label))
    return sketch, photo


def side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    joined = Image.new("RGB", (a.width + b.width, a.height))
    joined.paste(a, (0, 0))
    joined.paste(b, (a.width, 0))
    return joined


def make_aligned_folder(root: Path, n: int = 8, size: int = 64, splits=("train", "val")) -> Path:
    """The reference's aligned layout: root/{train,val}/*.jpg, each A|B side by side."""
    for s, split in enumerate(splits):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n if split == "train" else max(2, n // 4)):
            side_by_side(*make_pair(1000 * s + i, size)).save(root / split / f"{i:03d}.png")
    return root


def make_ab_folders(root: Path, n: int = 8, size: int = 64) -> Path:
    for sub in ("A", "B"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a, b = make_pair(i, size)
        a.save(root / "A" / f"{i:03d}.png")
        b.save(root / "B" / f"{i:03d}.jpg")
    return root


def make_unpaired_folders(root: Path, n_a: int = 6, n_b: int = 9, size: int = 64) -> Path:
    """The reference's unpaired layout: trainA/ trainB/ testA/ testB/ of different sizes."""
    for split, count_a, count_b in (("train", n_a, n_b), ("test", 2, 3)):
        for domain, count in (("A", count_a), ("B", count_b)):
            folder = root / f"{split}{domain}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                make_pair(i + (0 if domain == "A" else 500), size)[0 if domain == "A" else 1].save(folder / f"{i:03d}.png")
    return root


def make_metadata_folder(root: Path, n: int = 8, size: int = 64, columns=("imageA", "imageB")) -> Path:
    """A `datasets` imagefolder whose metadata.csv names two image columns."""
    (root / "train").mkdir(parents=True, exist_ok=True)
    lines = [f"{columns[0]}_file_name,{columns[1]}_file_name"]  # datasets' imagefolder convention
    for i in range(n):
        a, b = make_pair(i, size)
        a.save(root / "train" / f"a{i:03d}.png")
        b.save(root / "train" / f"b{i:03d}.png")
        lines.append(f"a{i:03d}.png,b{i:03d}.png")
    (root / "train" / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def make_parquet_dataset(root: Path, n: int = 8, size: int = 64) -> Path:
    """A Hub-style dataset repo: data/train-00000-of-00001.parquet with Image columns imageA, imageB."""
    import datasets

    pairs = [make_pair(i, size) for i in range(n)]
    dataset = datasets.Dataset.from_dict({"imageA": [a for a, _ in pairs], "imageB": [b for _, b in pairs]})
    dataset = dataset.cast_column("imageA", datasets.Image()).cast_column("imageB", datasets.Image())
    (root / "data").mkdir(parents=True, exist_ok=True)
    dataset.to_parquet(str(root / "data" / "train-00000-of-00001.parquet"))
    return root


# -- hand-made PNGs --------------------------------------------------------------------------------
def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG written by hand: any size in the header, whatever pixel data follows (PIL cannot write 16-bit RGB)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def bomb(path: Path, width: int = 20_000, height: int = 20_000) -> Path:
    """A 20000x20000 PNG of a few hundred bytes: the header claims the size, the data is one row. Decoding
    it would need 1.2 GB (and fail as truncated); it must be refused from the header."""
    path.write_bytes(png_bytes(width, height, 8, 2, b"\x00" + bytes(3 * width)))
    return path


# -- streams ---------------------------------------------------------------------------------------
def key(tensor: torch.Tensor) -> str:
    return hashlib.sha1(tensor.numpy().tobytes()).hexdigest()


def take(dataset, n: int) -> list[dict]:
    items = []
    for item in dataset:
        items.append(item)
        if len(items) == n:
            return items
    return items


def stream_config(repo_id: str, **overrides) -> DataConfig:
    return DataConfig(dataset=repo_id, streaming=True, load_size=40, resolution=32, shuffle_buffer_size=4, **overrides)


# -- the app on loopback ---------------------------------------------------------------------------
@contextlib.contextmanager
def served_app(args: list[str], log_path: Path, env: dict[str, str] | None = None, timeout: float = 90):
    """Run `python app.py ARGS --port P` offline; yield (url, process) once it answers; always shut it down.
    Its output goes to a file, not a pipe: a chatty server can never block on a full pipe."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_SERVER_NAME": "127.0.0.1", **(env or {})}  # (env may turn the Hub back on)
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
                    raise AssertionError(f"app.py exited with {process.returncode}:\n{log_path.read_text()[-3000:]}") from None
                if time.monotonic() > deadline:
                    raise AssertionError(f"app.py did not answer on {url} within {timeout:.0f} s:\n"
                                         f"{log_path.read_text()[-3000:]}") from None
                time.sleep(0.25)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# -- the app in headless Chromium ------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"


def launch_chromium(playwright, timeout: float = 30000, webgpu: bool = False):
    """The system Chromium, headless, with nothing reaching out of the machine. `webgpu`: WebGPU on, which headless
    gets only as SwiftShader's fallback adapter (a CPU emulating a GPU)."""
    gpu = ["--enable-unsafe-webgpu"] if webgpu else ["--disable-gpu"]
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, timeout=timeout, args=[
        "--headless", "--no-sandbox", *gpu, "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"])


def stroke(page, points):
    """One brush stroke through `points` (page coordinates), in small steps like a real pointer."""
    page.mouse.move(*points[0], steps=2)
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=6)
    page.mouse.up()


def canvas_status(page) -> str:
    return page.locator("#canvas .p2p-status").inner_text(timeout=5000)


def decode_data_url(data_url: str) -> np.ndarray:
    import base64
    import io
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB"))


def hex_rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


class LivePage:
    """The page, with what the canvas sends: each live request's sketch (decoded from the request body)."""

    def __init__(self, page):
        self.page, self.sent, self.joins = page, [], []
        page.on("request", self._request)
        # These tests are about the server path: the visitor's switch for browser inference (test_browser_inference)
        page.add_init_script("localStorage.setItem('pix2pix-hub-browser-inference', 'off')")

    def _request(self, request):
        if "/component_server" in request.url:
            body = request.post_data_json
            self.sent.append(decode_data_url(body["data"]["sketch"]) if body["data"]["sketch"] else None)
        elif "/queue/join" in request.url:
            self.joins.append(request.url)

    def results(self) -> int:
        return int(self.page.eval_on_selector("#canvas .p2p-canvas", "e => +(e.dataset.results || 0)"))

    def until_result(self, before: int):
        self.page.wait_for_function("(n) => +document.querySelector('#canvas .p2p-canvas').dataset.results > n",
                                    arg=before)

    def edit(self, action):
        """Run `action` (a stroke, a click) and wait for the canvas's answer; -> (sketch sent, output shown)."""
        before, sent = self.results(), len(self.sent)
        action()
        self.until_result(before)
        assert len(self.sent) == sent + 1, "one live request per edit"
        return self.sent[-1], self.output()

    def output(self):
        src = self.page.get_attribute("#canvas img.p2p-output", "src")
        return decode_data_url(src) if src and not self.page.locator("#canvas img.p2p-output").is_hidden() else None
