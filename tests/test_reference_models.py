"""The reference's pretrained models by name: `convert --pretrained NAME` and loading by name, against a loopback
HTTP server (tests/download_server.py) serving .pth files in the real layout and format (a plain state_dict with
the reference's key names; facades_label2photo in the legacy pre-1.6 serialization, as the 2017-18 files), made
here with ngf 8 so they are small."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
import torch
from PIL import Image

from pix2pix_hub import ImageTranslator, build_generator, load_generator
from pix2pix_hub.hub.downloads import CACHE_ENV
from pix2pix_hub.loading.convert_command import main as convert_main

from download_server import FileServer, mirror_env

FACADES = "/pix2pix/models-pytorch/facades_label2photo.pth"
HORSES = "/cyclegan/pretrained_models/horse2zebra.pth"


def state_dict_bytes(netG: str, norm: str, legacy: bool = False, seed: int = 0) -> tuple[dict, bytes]:
    torch.manual_seed(seed)
    state = build_generator(netG, 3, 3, ngf=8, norm=norm, use_dropout=netG.startswith("unet")).state_dict()
    state = {key: value + 0.01 * torch.randn_like(value) if value.is_floating_point() else value
             for key, value in state.items()}  # not the init values: the loaded weights must be these
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=not legacy)
    return state, buffer.getvalue()


@pytest.fixture(scope="module")
def served():
    facades, facades_file = state_dict_bytes("unet_256", "batch", legacy=True)
    horses, horses_file = state_dict_bytes("resnet_9blocks", "instance", seed=1)
    return {FACADES: facades, HORSES: horses}, {FACADES: facades_file, HORSES: horses_file}


@pytest.fixture
def server(served, monkeypatch, tmp_path):
    with FileServer(served[1]) as running:
        for var, value in mirror_env(running.url).items():
            monkeypatch.setenv(var, value)
        monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
        yield running


def assert_same_weights(generator, state):
    loaded = generator.state_dict()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


def test_convert_pretrained_horse2zebra_then_load_it_by_name(server, served, tmp_path, capsys):
    assert convert_main(["--pretrained", "horse2zebra"]) == 0
    folder = tmp_path / "cache" / "models" / "cyclegan" / "horse2zebra"
    assert f"wrote {folder}" in capsys.readouterr().out
    config = json.loads((folder / "config.json").read_text())
    url = f"{server.url}{HORSES}"
    assert config["converted_from"]["source"] == url and config["converted_from"]["name"] == "horse2zebra"
    assert (config["netG"], config["norm"], config["test_mode"]) == ("resnet_9blocks", "instance", "eval")
    assert (config["domain_a_name"], config["domain_b_name"]) == ("horse", "zebra")
    card = (folder / "README.md").read_text()
    assert url in card and 'ImageTranslator.from_pretrained("horse2zebra")' in card
    assert not list((tmp_path / "cache" / "downloads").rglob("*.pth")) and not list((tmp_path / "cache").rglob("*.part"))  # converted: the pickle is gone

    assert_same_weights(load_generator("horse2zebra"), served[0][HORSES])  # by name
    assert_same_weights(load_generator(folder), served[0][HORSES])  # or by the cached folder
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8))
    assert ImageTranslator.from_pretrained("horse2zebra", device="cpu", backend="eager")(photo).size == (56, 40)
    assert server.paths_requested(HORSES) == [None]  # downloaded once


def test_a_name_in_both_lists_needs_its_prefix(server, served, tmp_path, capsys):
    assert convert_main(["--pretrained", "facades_label2photo"]) == 2
    err = capsys.readouterr().err
    assert "pass pix2pix:facades_label2photo or cyclegan:facades_label2photo" in err and server.requests == []

    out = tmp_path / "facades"
    assert convert_main(["--pretrained", "pix2pix:facades_label2photo", "--output", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["netG"], config["norm"], config["use_dropout"]) == ("unet_256", "batch", True)
    assert config["test_mode"] == "reference_train"  # BatchNorm + dropout: as the reference's test.py ran it
    assert (config["domain_a_name"], config["domain_b_name"]) == ("label", "photo")
    assert_same_weights(load_generator(out), served[0][FACADES])  # the legacy-format file, read weights_only
    assert convert_main(["--pretrained", "pix2pix:facades_label2photo", "--checkpoint", "x.pth"]) == 2
    assert "--pretrained downloads its own checkpoint" in capsys.readouterr().err


def test_missing_unknown_and_corrupt_models_are_one_line(server, tmp_path, capsys):
    assert convert_main(["--pretrained", "style_monet"]) == 2
    assert "style_monet.pth is not on the server (HTTP 404)" in capsys.readouterr().err
    assert convert_main(["--pretrained", "horse2cat"]) == 2
    assert "horse2cat: not one of the reference's pretrained models:" in capsys.readouterr().err
    server.files[HORSES] = b"<html>a captive portal</html>"
    assert convert_main(["--pretrained", "horse2zebra"]) == 2
    err = capsys.readouterr().err
    assert "is not a PyTorch checkpoint" in err and "deleted: run the same command again" in err, err
    assert not (tmp_path / "cache" / "models" / "cyclegan" / "horse2zebra").exists()
    assert not list((tmp_path / "cache" / "downloads").rglob("*.pth"))


def test_the_app_uses_cached_names_and_never_downloads_for_a_visitor(server, capsys):
    import app

    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    # typed by a visitor, not converted here, and not a gallery entry (those download on first use: test_gallery)
    image, status = app.translate(photo, "cityscapes_photo2label", None)
    assert image is None and "not converted on this server" in status, status
    assert server.requests == []
    app.fetch_operator_model("horse2zebra")  # the operator's model: what build_demo fetches when the app starts
    deadline = time.monotonic() + 60  # a gallery name downloads in the background; this tiny one in well under 1 s
    while (status := app.translate(photo, "horse2zebra", None)[1]).startswith("⏳") and time.monotonic() < deadline:
        time.sleep(0.1)
    image, status = app.translate(photo, "horse2zebra", None)
    assert status.startswith("✅") and image.size == (32, 32), status
    assert server.paths_requested(HORSES) == [None]
