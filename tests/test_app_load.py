"""app.py under load, served for real on loopback and called through gradio_client: 50 concurrent
requests, a 20-megapixel upload, a blank canvas. The model is a tiny U-Net made here (unet_64, ngf 8)."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from pix2pix_hub import save_model_folder
from pix2pix_hub.models import build_generator

from helpers import served_app


def peak_memory_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python app.py --model <tiny model>` on a free loopback port; yields (url, model, pid); always shut down."""
    root = tmp_path_factory.mktemp("app-load")
    torch.manual_seed(0)
    model = str(save_model_folder(root / "model", {"AtoB": build_generator("unet_64", ngf=8)},
                                  {"model_type": "pix2pix", "resolution": 64}))
    env = {"OMP_NUM_THREADS": "1", "GRADIO_TEMP_DIR": str(root / "gradio")}
    with served_app(["--model", model], root / "server.log", env) as (url, process):
        yield url, model, process.pid


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client
    return Client(server[0], verbose=False, download_files=True)


def drawing(seed: int, size: int = 96) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x, y = rng.integers(0, size - 20, 2)
        draw.ellipse([int(x), int(y), int(x) + 20, int(y) + 20], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    return image


def sketch_value(path: str) -> dict:
    from gradio_client import handle_file
    return {"background": handle_file(path), "layers": [], "composite": handle_file(path), "id": None}


def test_50_concurrent_requests(server, tmp_path):
    """10 visitors (a Client each, as 10 browsers have a session each) sending 5 requests at once each.
    One Client shared by all 50 threads has been seen to drop an answer the server sent (gradio_client 2.7's
    reader handing a finished event a CancelledError under load), which is the client's race, not the app's."""
    from gradio_client import Client, handle_file

    url, model, _ = server
    visitors = [Client(url, verbose=False, download_files=True) for _ in range(10)]
    inputs = []
    for i in range(50):  # 10 different drawings, each sent several times: identical answers at the same moment too
        path = tmp_path / f"in{i % 10}.png"
        if not path.exists():
            drawing(i % 10, size=64 + 8 * (i % 10)).save(path)
        inputs.append(path)

    def request(i: int):
        path, client = str(inputs[i]), visitors[i % 10]
        if i % 2:
            result = client.predict(handle_file(path), model, "AtoB", api_name="/translate_upload")
        else:
            result = client.predict(sketch_value(path), model, "AtoB", api_name="/translate_sketch")
        return i, result

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        futures = [pool.submit(request, i) for i in range(50)]
        results = [future.result(timeout=120) for future in futures]  # any error is raised here
    elapsed = time.monotonic() - start
    assert elapsed < 90, f"50 requests took {elapsed:.0f} s"
    for i, (image_path, status) in results:
        side = 64 + 8 * (i % 10)
        assert status.startswith("✅") and f"{side}×{side}" in status, status
        assert Image.open(image_path).size == (side, side)


def test_20_megapixel_upload_is_downscaled(server, client, tmp_path):
    from gradio_client import handle_file

    _, model, pid = server
    big = drawing(7, size=96).resize((5472, 3648), Image.NEAREST)  # 20.0 MP, as a phone camera takes them
    big.save(tmp_path / "big.png", compress_level=1)
    image_path, status = client.predict(handle_file(str(tmp_path / "big.png")), model, "AtoB",
                                        api_name="/translate_upload")
    assert status.startswith("✅ 1024×683"), status  # scaled to app.MAX_SIDE before the model sees it
    assert Image.open(image_path).size == (1024, 683)
    assert peak_memory_mib(pid) < 2048, f"the server peaked at {peak_memory_mib(pid):.0f} MiB"
    # ... and the server is still fine afterwards.
    drawing(1).save(tmp_path / "small.png")
    assert client.predict(handle_file(str(tmp_path / "small.png")), model, "AtoB",
                          api_name="/translate_upload")[1].startswith("✅ 96×96")


def test_blank_canvas_and_nothing(server, client, tmp_path):
    _, model, _ = server
    Image.new("RGB", (256, 256), "white").save(tmp_path / "white.png")
    image_path, status = client.predict(sketch_value(str(tmp_path / "white.png")), model, "AtoB",
                                        api_name="/translate_sketch")
    assert image_path is None and status == "Draw something… (or upload a photo/sketch)"
    image_path, status = client.predict({"background": None, "layers": [], "composite": None, "id": None}, model,
                                        "AtoB", api_name="/translate_sketch")
    assert image_path is None and status.startswith("Draw something")
