"""Real training runs through train.py on tiny data: save, load, resume, two processes."""

import json
import os
import subprocess
import sys
from functools import partial

import pytest
import safetensors.torch
import torch
from PIL import Image

from pix2pix_hub import ImageTranslator, UnetGenerator, load_generator

from helpers import ROOT, TINY, make_aligned_folder, run_train


@pytest.fixture(scope="module")
def facades(tmp_path_factory):
    return make_aligned_folder(tmp_path_factory.mktemp("facades"), n=6, size=64)


@pytest.fixture(scope="module")
def trained(facades, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny-facades"
    run_train("--model", "pix2pix", "--dataset", facades, "--output_dir", out, "--max_steps", 4,
              "--checkpointing_steps", 2, "--checkpoints_total_limit", 1, *TINY)
    return out


def test_output_dir_holds_what_goes_to_the_hub(trained):
    files = {p.name for p in trained.iterdir()}
    assert {"model.safetensors", "config.json", "README.md", "samples.png"} <= files
    assert [p.name for p in trained.glob("checkpoint-*")] == ["checkpoint-4"]  # total limit 1
    config = json.loads((trained / "config.json").read_text())
    assert config["model_type"] == "pix2pix" and config["netG"] == "unet_128" and config["ngf"] == 8
    assert config["training"]["model"]["lambda_l1"] == 100.0 and config["training"]["model"]["gan_mode"] == "vanilla"
    assert Image.open(trained / "samples.png").size == (3 * 128 + 4, 2 * 128 + 2)


def test_model_card_is_real(trained):
    card = (trained / "README.md").read_text()
    header = card.split("---")[1]
    assert "library_name: pix2pix-hub" in header and "pipeline_tag: image-to-image" in header
    assert "model-index" in header and "psnr" in header  # validation metrics reach the Hub's metadata
    assert "![validation samples](samples.png)" in card
    assert '"lambda_l1": 100.0' in card and "python train.py --model pix2pix" in card
    assert "load_generator(" in card and "ImageTranslator.from_pretrained(" in card


def test_load_generator_and_translate(trained):
    generator = load_generator(trained)
    assert isinstance(generator, UnetGenerator) and not generator.training
    weights = safetensors.torch.load_file(trained / "model.safetensors")
    assert all(torch.equal(weights[k], v) for k, v in generator.state_dict().items())
    translator = ImageTranslator.from_pretrained(trained, device="cpu")
    photo = Image.new("RGB", (200, 90), (200, 30, 30))
    out = translator(photo)
    assert out.size == (200, 90) and out.mode == "RGB"
    outs = translator([photo, Image.new("L", (64, 64), 255)])
    assert [o.size for o in outs] == [(200, 90), (64, 64)]
    tensor = generator(torch.zeros(1, 3, 128, 128))
    assert torch.isfinite(tensor).all()


def test_translate_cli(trained, facades, tmp_path):
    result = subprocess.run([sys.executable, "-m", "pix2pix_hub", "translate", "--model", str(trained),
                             "--input", str(facades / "val"), "--output", str(tmp_path / "out")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    written = sorted((tmp_path / "out").glob("*.png"))
    assert len(written) == len(list((facades / "val").iterdir()))
    assert Image.open(written[0]).size == Image.open(sorted((facades / "val").iterdir())[0]).size  # same as the A|B input


def test_resume_is_exact(facades, tmp_path, concurrently):
    common = ["--model", "pix2pix", "--dataset", facades, "--checkpointing_steps", 3, *TINY,
              "--n_epochs", 1, "--n_epochs_decay", 1]  # 12 steps: the LR decays during the second epoch
    def stopped_then_resumed():  # beside the straight run: the two take the time of one on 2 cores
        run_train(*common, "--output_dir", tmp_path / "resumed", "--max_steps", 3)
        return run_train(*common, "--output_dir", tmp_path / "resumed", "--max_steps", 9, "--resume_from_checkpoint", "latest")
    _, log = concurrently(partial(run_train, *common, "--output_dir", tmp_path / "straight", "--max_steps", 9),
                          stopped_then_resumed)
    assert "resumed from" in log.stdout + log.stderr
    straight = safetensors.torch.load_file(tmp_path / "straight" / "model.safetensors")
    resumed = safetensors.torch.load_file(tmp_path / "resumed" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    different = [k for k in straight if not torch.equal(straight[k], resumed[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def test_clear_error_for_a_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--dataset", str(tmp_path / "empty"),
                             "--output_dir", str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: ")


def test_help_reads_well():
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--help"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "200"})
    for group in ("data:", "model:", "optim:", "output:"):
        assert group in result.stdout
    assert "(default: 286)" in result.stdout and "--resume_from_checkpoint" in result.stdout


def test_load_generator_by_hub_id_from_a_real_hub_server(trained, local_hub, tmp_path):
    from huggingface_hub import ModelCard

    from pix2pix_hub import ModelLoadError
    local_hub.add_repo("pix2pix-hub/tiny-facades", trained, branches={"v1": trained})
    generator = load_generator("pix2pix-hub/tiny-facades")
    expected = safetensors.torch.load_file(trained / "model.safetensors")
    assert all(torch.equal(expected[k], v) for k, v in generator.state_dict().items())
    assert load_generator("pix2pix-hub/tiny-facades", revision="v1").netG == "unet_128"
    translator = ImageTranslator.from_pretrained("pix2pix-hub/tiny-facades", device="cpu")
    assert translator(Image.new("RGB", (64, 48))).size == (64, 48)
    card = ModelCard.load("pix2pix-hub/tiny-facades")
    assert card.data.library_name == "pix2pix-hub" and card.data.pipeline_tag == "image-to-image"
    with pytest.raises(ModelLoadError, match="no such model repo"):
        load_generator("pix2pix-hub/does-not-exist")
    with pytest.raises(ModelLoadError, match="revision 'v9' does not exist"):
        load_generator("pix2pix-hub/tiny-facades", revision="v9")
