"""CUT and FastCUT through the same train.py: both modes, PatchNCE learning, exact resume (netF and its
optimizer included), two processes, the saved model in ImageTranslator and the app."""

import json
import math
import re
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from pix2pix_hub import ImageTranslator, ResnetGenerator, load_generator
from pix2pix_hub.config import parse_args
from pix2pix_hub.data.datasets import load_image_dataset
from pix2pix_hub.recipes import CUTRecipe, FastCUTRecipe
from pix2pix_hub.recipes.losses import patch_nce_logits

from helpers import ROOT, make_pair, run_train, scalars

TINY = ["--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8", "--load_size", "36", "--resolution", "32",
        "--num_patches", "64", "--netF_nc", "32", "--report_to", "none", "--validation_steps", "1000",
        "--num_validation_images", "2", "--logging_steps", "1"]


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    """An identity task: the same 40 px "photos" in both domains (trainA = trainB, testA = testB)."""
    root = tmp_path_factory.mktemp("identity")
    for split, count in (("train", 4), ("test", 2)):
        for domain in "AB":
            (root / f"{split}{domain}").mkdir()
            for i in range(count):
                make_pair(i + 100 * (split == "test"), 40)[1].save(root / f"{split}{domain}" / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def trained(identity, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny-cut"
    run_train("--model", "cut", "--dataset", identity, "--output_dir", out, "--max_steps", 2, "--checkpointing_steps", 2,
              *TINY, "--report_to", "tensorboard", "--validation_steps", 2, "--domain_a_name", "horse",
              "--domain_b_name", "zebra")
    return out


def finite_losses(logs: Path, names: list[str], steps: list[int]) -> None:
    logged = scalars(logs)
    for name in names:
        assert [step for step, _ in logged[name]] == steps, name
        assert all(math.isfinite(value) for _, value in logged[name]), name


def test_cut_trains_with_its_defaults_and_saves_one_generator(trained):
    finite_losses(trained / "logs", ["loss_G_GAN", "loss_NCE", "loss_NCE_Y", "loss_D_real", "loss_D_fake"], [1, 2])
    config = json.loads((trained / "config.json").read_text())
    assert config["model_type"] == "cut" and config["direction"] == "AtoB" and "directions" not in config
    assert (config["antialias"], config["antialias_up"], config["netG"]) == (True, True, "resnet_6blocks")
    training = config["training"]
    assert {k: training["cut"][k] for k in ("lambda_NCE", "nce_idt", "flip_equivariance", "nce_T", "lambda_GAN")} == {
        "lambda_NCE": 1.0, "nce_idt": True, "flip_equivariance": False, "nce_T": 0.07, "lambda_GAN": 1.0}
    assert (training["optim"]["n_epochs"], training["optim"]["n_epochs_decay"]) == (200, 200)
    assert (training["model"]["init_type"], training["model"]["gan_mode"], training["model"]["pool_size"]) == ("xavier", "lsgan", 0)
    assert {p.name for p in trained.iterdir()} >= {"model.safetensors", "config.json", "README.md", "samples.png"}
    assert Image.open(trained / "samples.png").size == (4 * 32 + 6, 2 * 32 + 2)  # real A | G(A) | real B | G(B)
    card = (trained / "README.md").read_text()
    assert "A CUT model" in card and "Park et al. 2020" in card and "anti-aliased resnet_6blocks" in card
    assert "horse → zebra" in card and "- cut" in card.split("---")[1]
    # the checkpoint holds netF (CUT's parameter names) and its own optimizer beside G's and D's
    checkpoint = trained / "checkpoint-2"
    keys = [set(safetensors.torch.load_file(f)) for f in sorted(checkpoint.glob("model*.safetensors"))]
    assert any({"mlp_0.0.weight", "mlp_4.2.bias"} <= k for k in keys) and len(list(checkpoint.glob("optimizer*.bin"))) == 3


def test_fastcut_defaults_in_bf16(identity, tmp_path):
    out = tmp_path / "fastcut"
    log = run_train("--model", "fastcut", "--dataset", identity, "--output_dir", out, "--max_steps", 2,
                    "--checkpointing_steps", 100, *TINY, "--report_to", "tensorboard", "--mixed_precision", "bf16")
    assert "bf16 precision" in log.stdout + log.stderr
    finite_losses(out / "logs", ["loss_G_GAN", "loss_NCE", "loss_D_real", "loss_D_fake"], [1, 2])
    assert "loss_NCE_Y" not in scalars(out / "logs")  # FastCUT has no identity term
    training = json.loads((out / "config.json").read_text())["training"]
    assert (training["cut"]["lambda_NCE"], training["cut"]["nce_idt"], training["cut"]["flip_equivariance"]) == (10.0, False, True)
    assert (training["optim"]["n_epochs"], training["optim"]["n_epochs_decay"]) == (150, 50)
    weights = safetensors.torch.load_file(out / "model.safetensors")
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in weights.values())
    assert "A FastCUT model" in (out / "README.md").read_text()


def split_checkpoint(checkpoint: Path) -> dict[str, dict[str, torch.Tensor]]:
    """G, D and netF weights of a checkpoint, told apart by their keys."""
    found = {}
    for path in checkpoint.glob("model*.safetensors"):
        weights = safetensors.torch.load_file(path)
        name = "F" if "mlp_0.0.weight" in weights else "D" if "model.0.weight" in weights else "G"
        found[name] = weights
    return found


def positive_is_largest(recipe: CUTRecipe, images: torch.Tensor) -> list[float]:
    """Per tapped layer: the share of patches of G(x) whose largest PatchNCE logit is the positive (x's patch there)."""
    G, F = recipe.networks["G"].eval(), recipe.networks["F"]
    with torch.no_grad():
        keys, ids = F(G(images, recipe.nce_layers), 64)
        queries, _ = F(G(G(images), recipe.nce_layers), 64, ids)
    return [(patch_nce_logits(q, k, len(images)).argmax(1) == 0).float().mean().item() for q, k in zip(queries, keys)]


def test_resume_is_exact_and_patchnce_learns_the_identity(identity, tmp_path, concurrently):
    """FastCUT (flip equivariance and patch locations draw random numbers) for 80 steps straight, and 40 + 40."""
    common = ["--model", "fastcut", "--dataset", identity, "--checkpointing_steps", 40, *TINY, "--n_epochs", 10,
              "--n_epochs_decay", 10]  # 4 steps/epoch: the LR decays from step 40
    def stopped_then_resumed():  # beside the straight run: the two take the time of one on 2 cores
        run_train(*common, "--output_dir", tmp_path / "resumed", "--max_steps", 40)
        return run_train(*common, "--output_dir", tmp_path / "resumed", "--max_steps", 80, "--resume_from_checkpoint", "latest")
    _, log = concurrently(partial(run_train, *common, "--output_dir", tmp_path / "straight", "--max_steps", 80),
                          stopped_then_resumed)
    assert "resumed from" in log.stdout + log.stderr
    straight, resumed = split_checkpoint(tmp_path / "straight" / "checkpoint-80"), split_checkpoint(tmp_path / "resumed" / "checkpoint-80")
    assert set(straight) == {"G", "D", "F"}
    for name in straight:
        assert [k for k in straight[name] if not torch.equal(straight[name][k], resumed[name][k])] == [], name
    optimizers = [torch.load(tmp_path / run / "checkpoint-80" / "optimizer_2.bin", weights_only=True) for run in ("straight", "resumed")]
    assert all(torch.equal(a["exp_avg"], b["exp_avg"]) for a, b in zip(optimizers[0]["state"].values(), optimizers[1]["state"].values()))

    # PatchNCE: after 80 steps the positive pair is the largest logit for most patches of the deepest layers
    config = parse_args([*map(str, common), "--output_dir", str(tmp_path / "x")]).resolve(FastCUTRecipe.defaults)
    test_set = load_image_dataset(config.data, paired=False, split="test", train=False)
    images = torch.stack([test_set[i]["A"] for i in range(len(test_set))])
    torch.manual_seed(config.optim.seed)
    recipe = FastCUTRecipe(config)  # the initial weights, as train.py draws them
    at_start = positive_is_largest(recipe, images)
    for name, weights in straight.items():
        recipe.networks[name].load_state_dict(weights)
    trained = positive_is_largest(recipe, images)
    assert max(at_start) < 0.15 and min(trained[-2:]) > 0.3, (at_start, trained)  # chance: 1 in 65


def test_two_process_accelerate_run(identity, tmp_path):
    """The loop's one two-process run (CUT: three DDP-wrapped networks, netF with its own optimizer); pix2pix
    runs two processes in test_interrupts (Ctrl-C, resume) and test_streaming (a streamed dataset)."""
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    out = tmp_path / "ddp"
    log = run_train("--model", "cut", "--dataset", identity, "--output_dir", out, "--max_steps", 2,
                    "--checkpointing_steps", 2, *TINY, launcher=launcher, env={"ACCELERATE_USE_CPU": "1"})
    assert "2 process(es)" in log.stdout + log.stderr
    assert (out / "model.safetensors").is_file() and len(list(out.glob("checkpoint-*"))) == 1
    assert len(list((out / "checkpoint-2").glob("random_states_*.pkl"))) == 2
    assert isinstance(load_generator(out), ResnetGenerator)


def test_the_saved_model_translates(trained, identity, tmp_path):
    generator = load_generator(trained)
    assert isinstance(generator, ResnetGenerator) and not generator.training and generator.config["model_type"] == "cut"
    weights = safetensors.torch.load_file(trained / "model.safetensors")
    assert "model.7.filt" in weights and all(torch.equal(weights[k], v) for k, v in generator.state_dict().items())
    translator = ImageTranslator.from_pretrained(trained, device="cpu")
    photo = Image.open(identity / "testA" / "0.png").resize((32, 32))  # the training size: no scaling or padding
    out = translator(photo)
    assert out.size == photo.size and out.mode == "RGB"
    x = torch.from_numpy(np.asarray(photo, np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = ((generator(x)[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().numpy()
    assert np.abs(np.asarray(out, np.float32) - expected).max() <= 1  # whatever backend ran it
    sys.path.insert(0, str(ROOT))
    import app
    _, visible, status = app.direction_choices(str(trained))
    assert not visible and "cut" in status
    image, status = app.translate(photo, str(trained))
    assert image.size == photo.size and status.startswith("✅")


@pytest.mark.parametrize("flags,message", [
    (["--netG", "unet_128", "--resolution", "128", "--load_size", "136"], "--model cut taps a ResNet generator's encoder"),
    (["--output_nc", "1"], "needs --input_nc == --output_nc"),
    (["--nce_layers", "0,a"], "comma-separated layer indices"),
    (["--nce_layers", "0,40"], "this resnet_6blocks generator has layers 0..28, not [40]"),
])
def test_bad_cut_options_get_one_line(identity, tmp_path, flags, message):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        config = parse_args(["--model", "cut", "--dataset", str(identity), *TINY, *flags]).resolve(CUTRecipe.defaults)
        CUTRecipe(config)
    assert "\n" not in str(error.value)


def test_bool_options_take_an_optional_value():
    flags = ["--model", "cut", "--dataset", "x", "--nce_idt", "false", "--flip_equivariance"]
    config = parse_args(flags).resolve(CUTRecipe.defaults)
    assert (config.cut.nce_idt, config.cut.flip_equivariance, config.cut.lambda_NCE) == (False, True, 1.0)
    fast = parse_args(["--model", "fastcut", "--dataset", "x", "--no_antialias_up"]).resolve(FastCUTRecipe.defaults)
    assert fast.model.no_antialias_up and not fast.model.no_antialias and fast.cut.lambda_NCE == 10.0
