"""models/default, the demo model that ships with the project: what it holds, what its card records, and that
the app's example paintings come out as pictures (smooth, photo-coloured regions), not noise or the input."""
import json
import re
import urllib.request

import numpy as np
import pytest
from PIL import Image, ImageFilter

from pix2pix_hub import ImageTranslator
from pix2pix_hub.evaluation.metrics import checkerboard_score

from helpers import ROOT, served_app

MODEL = ROOT / "models" / "default"
# Rows of each example (256x256, scripts/make_examples.py) painted in one colour, and what a photo has there.
REGIONS = {
    "mountain_lake": {"sky": (0, 30), "water": (200, 256)},
    "meadow": {"sky": (0, 30), "grass": (150, 250)},
    "sunset_beach": {"sand": (225, 256)},
}


@pytest.fixture(scope="module")
def outputs():
    """{example name: (painting, the default model's output)}, through the app's own fast path."""
    translator = ImageTranslator.from_pretrained(str(MODEL), device="cpu")
    paintings = {name: Image.open(ROOT / "examples" / f"{name}.png").convert("RGB") for name in REGIONS}
    return {name: (painting, translator(painting)) for name, painting in paintings.items()}


def test_folder_is_what_the_hub_gets():
    names = sorted(p.name for p in MODEL.iterdir())
    assert names == ["README.md", "comparison.png", "config.json", "model.safetensors", "samples.png"]
    assert (MODEL / "model.safetensors").stat().st_size <= 30 * 2**20
    config = json.loads((MODEL / "config.json").read_text())
    assert config["model_type"] == "pix2pix" and config["resolution"] == 256 and config["upsample"] == "bilinear"


def test_card_records_the_command_and_the_sources():
    """The card holds the exact training command of scripts/build_default_model_v3.sh, the dataset's kind, every
    package the dataset script takes photos from with its licence, and the side-by-side image."""
    card = (MODEL / "README.md").read_text()
    assert "pipeline_tag: image-to-image" in card and "library_name: pix2pix-hub" in card
    assert card.endswith((ROOT / "scripts" / "default_model_v3_sources.md").read_text())
    script = (ROOT / "scripts" / "build_default_model_v3.sh").read_text()
    command = re.search(r"python train\.py (.*?)\n(?!\s)", script, re.DOTALL).group(1)
    flags = re.findall(r"--\w+(?: [^-\s\\]\S*)?", command)
    assert len(flags) > 10 and all(flag in card for flag in flags), [f for f in flags if f not in card]
    dataset_script = (ROOT / "scripts" / "build_default_dataset_v3.sh").read_text()
    assert "make-dataset --kind landscape" in dataset_script and "make-dataset --kind landscape" in card
    packages = re.search(r'^packages="(.*)"', dataset_script, re.MULTILINE).group(1).split()
    for needed in [*packages, "CC-BY-4.0", "GPL-2+", "](comparison.png)"]:
        assert needed in card, needed


def test_no_checkerboard(outputs):
    """The spectral score (4-px / 2-px peaks over their neighbourhood, dB) of each example's output: < 15 dB for
    this model (resize-then-conv); the previous bundled model's outputs (transposed convs), comparison.png's
    middle column, score > 20 dB: the failing contrast."""
    scores = {name: checkerboard_score(np.asarray(output)) for name, (_, output) in outputs.items()}
    assert max(scores.values()) < 15, scores
    comparison = np.asarray(Image.open(MODEL / "comparison.png").convert("RGB"))
    for row in range(len(REGIONS)):  # painting | previous model | this model, one row per example
        assert checkerboard_score(comparison[row * 258:row * 258 + 256, 258:514]) > 20


def test_examples_come_out_as_pictures(outputs):
    for name, (painting, output) in outputs.items():
        x = np.asarray(output, np.float32)
        assert output.size == painting.size
        assert x.std() > 20, f"{name}: nearly flat output"
        high_frequency = np.abs(x - np.asarray(output.filter(ImageFilter.GaussianBlur(2)), np.float32)).mean()
        assert high_frequency < 15, f"{name}: noisy output ({high_frequency:.1f})"  # uniform noise: ~60
        assert np.abs(x - np.asarray(painting, np.float32)).mean() > 10, f"{name}: the painting came back unchanged"


def test_regions_get_photo_colours(outputs):
    for name, regions in REGIONS.items():
        x = np.asarray(outputs[name][1], np.float32)
        for region, (top, bottom) in regions.items():
            red, green, blue = x[top:bottom].reshape(-1, 3).mean(0)
            if region in ("sky", "water"):
                assert blue > red + 5, f"{name}: {region} is not blue ({red:.0f}, {green:.0f}, {blue:.0f})"
            elif region == "grass":
                assert green > blue + 20, f"{name}: grass is not green ({red:.0f}, {green:.0f}, {blue:.0f})"
            elif region == "sand":
                assert red > blue + 20 and green > blue, f"{name}: sand is not sandy ({red:.0f}, {green:.0f}, {blue:.0f})"


def test_python_app_serves_it_offline(outputs, tmp_path):
    """`python app.py` on a fresh machine: no flags, the Hub switched off; its page defaults to models/default
    and an example uploaded through the API comes back as the model's output."""
    from gradio_client import Client, handle_file

    with served_app([], tmp_path / "server.log", {"GRADIO_TEMP_DIR": str(tmp_path / "gradio")}) as (url, _):
        config = json.loads(urllib.request.urlopen(url + "config", timeout=10).read())
        values = [c.get("props", {}).get("value") for c in config["components"]]
        assert "models/default" in values, "the model box does not default to the bundled model"
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        path, status = client.predict(handle_file(str(ROOT / "examples" / "meadow.png")), "models/default", "AtoB",
                                      api_name="/translate_upload")
    assert status.startswith("✅ 256×256 in"), status
    served = np.asarray(Image.open(path).convert("RGB"), np.int16)
    assert np.abs(served - np.asarray(outputs["meadow"][1], np.int16)).max() <= 2
