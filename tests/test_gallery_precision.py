"""fp16 on disk for gallery entries (pix2pix_hub/app/gallery_precision.py): stored only where the entry's examples
stay ≥ the bound from fp32, measured through the app's translator, and what then runs is what was measured."""

from __future__ import annotations

import hashlib
import json
import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from safetensors import safe_open

from pix2pix_hub import load_generator, save_model_folder
from pix2pix_hub.app.gallery_precision import decide, recorded
from pix2pix_hub.app.gallery_precision import outputs as translated
from pix2pix_hub.app.gallery_store import GallerySettings, GalleryStore
from pix2pix_hub.data.images import read_array
from pix2pix_hub.evaluation.metrics import psnr_db
from pix2pix_hub.hub.downloads import CACHE_ENV
from pix2pix_hub.inference.translator import ImageTranslator
from pix2pix_hub.models import build_generator

from download_server import FileServer, gallery_files, mirror_env


@pytest.fixture(scope="module")
def drawings(tmp_path_factory) -> list[str]:
    """Two line drawings, 256² like the edges entries' examples."""
    folder = tmp_path_factory.mktemp("examples")
    paths = []
    for index, box in enumerate([(40, 60, 200, 190), (70, 30, 180, 230)]):
        image = Image.new("RGB", (256, 256), "white")
        ImageDraw.Draw(image).ellipse(box, outline="black", width=2)
        ImageDraw.Draw(image).line((0, 250 - 30 * index, 255, 200), fill="black", width=1)
        paths.append(str(folder / f"edges2shoes{index + 1}.png"))
        image.save(paths[-1])
    return paths


@pytest.fixture
def folder(tmp_path):
    """A converted-like model folder: a small U-Net (the edges entries' kind), random weights, fp32."""
    torch.manual_seed(0)
    generator = build_generator("unet_256", 3, 3, ngf=8, norm="batch", use_dropout=True)
    return save_model_folder(tmp_path / "model", {"AtoB": generator}, {"model_type": "pix2pix", "resolution": 256})


def weight_dtypes(path) -> set[str]:
    with safe_open(str(path), framework="pt") as file:
        return {str(file.get_tensor(key).dtype) for key in file.keys() if file.get_tensor(key).is_floating_point()}


def outputs(model_folder, examples) -> list[np.ndarray]:
    translator = ImageTranslator(load_generator(model_folder), device="cpu", backend="eager", tile=None)
    return translated(translator, [read_array(Image.open(p).convert("RGB")) for p in examples])


def test_fp16_is_stored_when_every_example_stays_within_the_bound_and_what_runs_is_what_was_measured(
        folder, drawings, tmp_path):
    fp32 = tmp_path / "fp32"
    shutil.copytree(folder, fp32)
    decision = decide(folder, drawings, 45.0)

    assert decision.stored == "fp16" and set(decision.psnr_db) == {"edges2shoes1.png", "edges2shoes2.png"}
    assert weight_dtypes(folder / "model.safetensors") == {"torch.float16"}
    ratio = (folder / "model.safetensors").stat().st_size / (fp32 / "model.safetensors").stat().st_size
    assert 0.45 < ratio < 0.55, ratio  # 2 bytes a weight instead of 4; the header and int counters aside
    assert recorded(folder)["stored"] == "fp16"
    # Loading casts back to fp32: the outputs are the measured ones, and the rounding did change them (the
    # measurement is not vacuous: an unchanged copy would give inf).
    for path, before, after in zip(drawings, outputs(fp32, drawings), outputs(folder, drawings)):
        measured = decision.psnr_db[path.rsplit("/", 1)[-1]]
        assert 45.0 <= measured < math.inf and psnr_db(before, after, 1.0) == pytest.approx(measured, abs=0.01)
    assert all(p.dtype == torch.float32 for p in load_generator(folder).parameters())


def test_a_bound_the_examples_miss_keeps_fp32_byte_for_byte(folder, drawings):
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    decision = decide(folder, drawings, 200.0)  # fp16 rounding cannot stay 200 dB close
    assert decision.stored == "fp32" and "under 200 dB" in decision.reason
    assert hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest() == digest
    assert json.loads((folder / "precision.json").read_text())["psnr_db"] == decision.psnr_db


def test_no_examples_means_fp32_and_says_why(folder):
    decision = decide(folder, [], 45.0)
    assert decision.stored == "fp32" and decision.reason == "no example to measure fp16 on"
    assert weight_dtypes(folder / "model.safetensors") == {"torch.float32"}


def test_the_store_decides_once_after_the_first_download(drawings, monkeypatch, tmp_path):
    with FileServer(gallery_files(["edges2shoes"])) as running:
        for var, value in mirror_env(running.url).items():
            monkeypatch.setenv(var, value)
        monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
        settings = GallerySettings(download_bytes=50 * 2**20, download_seconds=60, cache_bytes=500 * 2**20,
                                   retry_after=300)
        store = GalleryStore(settings, examples=lambda name: drawings if name == "edges2shoes" else [])
        folder = store.folder("edges2shoes")
        assert recorded(folder)["stored"] == "fp16" and weight_dtypes(folder / "model.safetensors") == {"torch.float16"}
        (folder / "precision.json").write_text(json.dumps({**recorded(folder), "checked": "once"}))
        assert store.folder("edges2shoes") == folder and recorded(folder)["checked"] == "once"
        assert load_generator(folder).config["netG"] == "unet_256"
