"""--model colorization (recipes/colorization.py): trained through train.py on the reference's mini_colorization
(served as mini_colorization.zip by a loopback HTTP server, as the real one: mini_colorization/train|test/*.jpg of
colour photos), then used through ImageTranslator, translate, the app; and a reference colorization checkpoint
(unet_256, 1 -> 2 channels) converted."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from pix2pix_hub import ImageTranslator, build_generator, load_generator
from pix2pix_hub.config import TrainConfig
from pix2pix_hub.data.lab import model_to_rgb, rgb_to_lab, rgb_to_model
from pix2pix_hub.errors import ConfigError
from pix2pix_hub.recipes import ColorizationRecipe

from download_server import FileServer, mirror_env, zip_bytes
from helpers import run_train

TINY_COLOUR = ["--netG", "unet_64", "--ngf", "8", "--ndf", "8", "--load_size", "72", "--resolution", "64",
               "--report_to", "none", "--max_steps", "6", "--num_validation_images", "2", "--validation_steps", "100",
               "--learning_rate", "2e-3"]


def colour_photo(index: int, size: int = 64) -> Image.Image:
    """Red things on a blue sky over green ground: colours a model can tie to brightness and place."""
    rng = np.random.default_rng(index)
    image = Image.new("RGB", (size, size), (70, 130, 220))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, size * 2 // 3, size, size], fill=(40, 160, 60))
    x, y = (int(v) for v in rng.integers(4, size // 2, 2))
    draw.ellipse([x, y, x + size // 3, y + size // 3], fill=(220, 40, 30))
    return image


def lab_of(image: Image.Image) -> np.ndarray:
    rgb = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float64) / 255).permute(2, 0, 1)[None]
    return rgb_to_lab(rgb)[0].numpy()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("colour")
    photos = root / "mini_colorization"
    for split, count in (("train", 6), ("test", 2)):
        (photos / split).mkdir(parents=True)
        for i in range(count):
            colour_photo(100 * len(split) + i).save(photos / split / f"{i}.jpg", quality=95)
    with FileServer({"/cyclegan/datasets/mini_colorization.zip": zip_bytes(photos, "mini_colorization")}) as server:
        env = {**mirror_env(server.url), "PIX2PIX_HUB_CACHE": str(root / "cache")}
        result = run_train("--model", "colorization", "--dataset", "mini_colorization", "--output_dir", root / "out",
                           *TINY_COLOUR, env=env)
    return root / "out", result.stdout.splitlines()


def test_train_py_colorization_on_mini_colorization(trained):
    out, lines = trained
    assert lines[0].startswith("cyclegan:mini_colorization: the reference's cyclegan dataset, downloading once"), lines[:2]
    assert lines[1].startswith("photos in ") and "mini_colorization/train (the reference's" in lines[1], lines[1]
    assert ": 6 photo items" in lines[1]
    config = json.loads((out / "config.json").read_text())
    assert (config["model_type"], config["input_nc"], config["output_nc"], config["netG"]) == ("colorization", 1, 2, "unet_64")
    grid = Image.open(out / "samples.png")
    assert grid.size == (3 * 64 + 4, 2 * 64 + 2)  # input (L) | colourised | photo, two rows
    photo_column = np.asarray(grid.convert("RGB"))[:64, 2 * 66:]
    assert np.abs(lab_of(Image.fromarray(photo_column))[1:]).mean() > 10  # the target column is in colour
    card = (out / "README.md").read_text()
    assert "colorization model (the reference's `--model colorization`)" in card


def test_recipe_is_the_reference_one():
    config = TrainConfig()
    config.model.model, config.data.dataset = "colorization", "unused"
    config.resolve(ColorizationRecipe.defaults)
    config.model.ngf = config.model.ndf = 8
    recipe = ColorizationRecipe(config)
    g, d = recipe.networks["G"], recipe.networks["D"]
    assert (g.config["input_nc"], g.config["output_nc"]) == (1, 2)  # L in, ab out
    assert next(d.parameters()).shape[1] == 3  # D judges (L, ab) pairs, as the reference's input_nc + output_nc
    assert (config.model.netG, config.model.norm, config.model.gan_mode) == ("unet_256", "batch", "vanilla")
    config.data.direction = "BtoA"
    with pytest.raises(ConfigError, match="L channel"):
        ColorizationRecipe(config)


def test_translator_and_translate_colourise_grey_and_colour_photos(trained, tmp_path):
    out, _ = trained
    translator = ImageTranslator.from_pretrained(out, device="cpu")
    grey = colour_photo(7, 96).convert("L").resize((90, 70))
    for photo in (grey, colour_photo(8, 80)):
        result = translator(photo)
        assert result.mode == "RGB" and result.size == photo.size
        lab_in, lab_out = lab_of(photo), lab_of(result)
        assert np.abs(lab_in[0] - lab_out[0]).max() < 1.5  # the photo's own lightness, at full resolution
        assert np.abs(lab_out[1:]).mean() > 0.5, np.abs(lab_out[1:]).mean()  # and colour where the input had none
    # at the training size (no scaling): exactly L with G(L), as the reference's ColorizationModel.lab2rgb
    photo = colour_photo(11)
    rgb = torch.from_numpy(np.asarray(photo, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    lightness, _ = rgb_to_model(rgb)
    with torch.no_grad():
        expected = model_to_rgb(lightness, load_generator(out).eval()(lightness))[0].permute(1, 2, 0).numpy()
    expected = np.rint((expected + 1) * 127.5)
    assert np.abs(np.asarray(translator(photo), np.float64) - expected).max() <= 1
    eager = ImageTranslator.from_pretrained(out, device="cpu", backend="eager")
    diff = np.abs(np.asarray(eager(grey), np.int16) - np.asarray(translator(grey), np.int16)).max()
    assert diff <= 2, (translator.backend_name, diff)  # the fast path gives the same picture

    from pix2pix_hub.inference.translate import main
    grey.save(tmp_path / "grey.png")
    assert main(["--model", str(out), "--input", str(tmp_path / "grey.png"), "--output", str(tmp_path / "o")]) == 0
    assert Image.open(tmp_path / "o" / "grey.png").mode == "RGB"


def test_evaluate_measures_the_colourised_photos(trained, tmp_path):
    from pix2pix_hub.evaluation.evaluate import evaluate

    out, _ = trained
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        colour_photo(50 + i).save(photos / f"{i}.png")
    result = evaluate(out, str(photos), split="test", use_fid=False)
    assert result["num_images"] == 2 and 5 < result["metrics"]["psnr"] < 60, result["metrics"]


def test_the_app_colourises_an_upload(trained):
    import app

    out, _ = trained
    image, status = app.translate(colour_photo(9).convert("L"), str(out), None)
    assert status.startswith("✅") and image.mode == "RGB" and image.size == (64, 64), status
    assert np.abs(lab_of(image)[1:]).mean() > 0.5


def test_a_reference_colorization_checkpoint_converts(tmp_path, capsys):
    from pix2pix_hub.loading.convert_command import main

    torch.manual_seed(0)
    reference = build_generator("unet_256", 1, 2, ngf=8, norm="batch").state_dict()  # the reference's names
    torch.save(reference, tmp_path / "latest_net_G.pth")
    assert main(["--checkpoint", str(tmp_path / "latest_net_G.pth"), "--output", str(tmp_path / "color")]) == 0
    config = json.loads((tmp_path / "color" / "config.json").read_text())
    assert (config["model_type"], config["input_nc"], config["output_nc"]) == ("colorization", 1, 2)
    assert config["test_mode"] == "reference_train"  # BatchNorm: the reference's test.py ran it in train mode
    result = ImageTranslator.from_pretrained(tmp_path / "color", device="cpu")(colour_photo(3, 100))
    assert result.mode == "RGB" and result.size == (100, 100)
