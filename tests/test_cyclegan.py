"""CycleGAN through the same train.py: unpaired layouts, both directions, exact resume with image pools."""

import json
import subprocess
import sys
from functools import partial

import pytest
import safetensors.torch
import torch
from PIL import Image

from pix2pix_hub import ImageTranslator, ModelLoadError, ResnetGenerator, load_generator
from pix2pix_hub.config import DataConfig
from pix2pix_hub.data.datasets import load_image_dataset

from helpers import ROOT, make_ab_folders, make_unpaired_folders, run_train

TINY_CYCLEGAN = ["--model", "cyclegan", "--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8", "--load_size", "72",
        "--resolution", "64", "--report_to", "none", "--validation_steps", "1000", "--num_validation_images", "2",
        "--pool_size", "3"]


@pytest.fixture(scope="module")
def horses(tmp_path_factory):
    return make_unpaired_folders(tmp_path_factory.mktemp("horse2zebra"), n_a=5, n_b=8)


@pytest.fixture(scope="module")
def trained(horses, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "h2z"
    run_train("--dataset", horses, "--output_dir", out, "--max_steps", 3, "--checkpointing_steps", 3,
              "--domain_a_name", "horse", "--domain_b_name", "zebra", *TINY_CYCLEGAN)
    return out


def test_unpaired_layouts_sample_a_and_b_independently(horses, tmp_path):
    config = DataConfig(dataset=str(horses), load_size=72, resolution=64)
    dataset = load_image_dataset(config, paired=False, seed=0)
    assert (dataset.num_a, dataset.num_b, len(dataset)) == (5, 8, 8)
    pairs_epoch0 = [dataset[i]["B"].sum().item() for i in range(8)]
    dataset.set_epoch(1)
    assert pairs_epoch0 != [dataset[i]["B"].sum().item() for i in range(8)]  # a new random pairing each epoch
    two = DataConfig(dataset_a=str(horses / "trainA"), dataset_b=str(horses / "testB"), load_size=72, resolution=64)
    assert load_image_dataset(two, paired=False).num_b == 3
    serial = load_image_dataset(DataConfig(dataset=str(horses), serial_batches=True, load_size=72, resolution=64, no_flip=True), paired=False)
    assert torch.equal(serial[1]["B"], serial[1]["B"]) and serial.order(5, 0).tolist() == list(range(5))


def test_output_holds_both_generators_and_domains(trained):
    config = json.loads((trained / "config.json").read_text())
    assert config["model_type"] == "cyclegan" and config["directions"] == ["AtoB", "BtoA"]
    assert (config["domain_a_name"], config["domain_b_name"]) == ("horse", "zebra")
    for direction in ("AtoB", "BtoA"):
        assert (trained / direction / "model.safetensors").is_file()
        assert json.loads((trained / direction / "config.json").read_text())["direction"] == direction
    card = (trained / "README.md").read_text()
    assert "horse" in card and "zebra" in card and 'direction="AtoB"' in card
    # validation grid: A -> B -> A rows then B -> A -> B rows
    assert Image.open(trained / "samples.png").size == (3 * 64 + 4, 4 * 64 + 6)


def test_each_direction_loads_and_translates(trained):
    a2b, b2a = load_generator(trained, direction="AtoB"), load_generator(trained, direction="BtoA")
    assert isinstance(a2b, ResnetGenerator) and isinstance(b2a, ResnetGenerator)
    weights = safetensors.torch.load_file(trained / "BtoA" / "model.safetensors")
    assert all(torch.equal(weights[k], v) for k, v in b2a.state_dict().items())
    assert not all(torch.equal(a2b.state_dict()[k], v) for k, v in b2a.state_dict().items())
    out = ImageTranslator.from_pretrained(trained, direction="BtoA", device="cpu")(Image.new("RGB", (90, 70), "green"))
    assert out.size == (90, 70)
    with pytest.raises(ModelLoadError, match="AtoB"):
        load_generator(trained, direction="sideways")


def test_translate_cli_direction(trained, horses, tmp_path):
    result = subprocess.run([sys.executable, "-m", "pix2pix_hub", "translate", "--model", str(trained), "--direction",
                             "BtoA", "--input", str(horses / "testB"), "--output", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("*.png"))) == 3


def test_pix2pix_repo_refuses_btoa(tmp_path):
    from pix2pix_hub import build_generator, save_model_folder
    save_model_folder(tmp_path, {"AtoB": build_generator("unet_128", ngf=8)}, {"model_type": "pix2pix"})
    with pytest.raises(ModelLoadError, match="cannot translate BtoA"):
        ImageTranslator.from_pretrained(tmp_path, direction="BtoA")


def test_resume_is_exact_with_image_pools(horses, tmp_path, concurrently):
    common = ["--dataset", horses, "--checkpointing_steps", 4, *TINY_CYCLEGAN]
    def stopped_then_resumed():  # beside the straight run: the two take the time of one on 2 cores
        run_train(*common, "--output_dir", tmp_path / "resumed", "--max_steps", 4)
        return run_train(*common, "--output_dir", tmp_path / "resumed", "--max_steps", 10, "--resume_from_checkpoint", "latest")
    concurrently(partial(run_train, *common, "--output_dir", tmp_path / "straight", "--max_steps", 10),
                 stopped_then_resumed)
    for direction in ("AtoB", "BtoA"):
        straight = safetensors.torch.load_file(tmp_path / "straight" / direction / "model.safetensors")
        resumed = safetensors.torch.load_file(tmp_path / "resumed" / direction / "model.safetensors")
        assert all(torch.equal(straight[k], resumed[k]) for k in straight), direction
    pool_straight = safetensors.torch.load_file(tmp_path / "straight" / "checkpoint-8" / "pool_fake_B_0.safetensors")
    pool_resumed = safetensors.torch.load_file(tmp_path / "resumed" / "checkpoint-8" / "pool_fake_B_0.safetensors")
    assert len(pool_straight) == 3 and all(torch.equal(pool_straight[k], pool_resumed[k]) for k in pool_straight)


def test_paired_folders_also_train_cyclegan(tmp_path):
    data = make_ab_folders(tmp_path / "ab", n=4)
    run_train("--dataset", data, "--output_dir", tmp_path / "o", "--max_steps", 1, "--checkpointing_steps", 100, *TINY_CYCLEGAN)
    assert (tmp_path / "o" / "AtoB" / "model.safetensors").is_file()
