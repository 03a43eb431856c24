"""train.py's speed flags: --channels_last and --fused_adam resume exactly; --compile keeps checkpoints as they are."""

from functools import partial

import safetensors.torch
import torch

from benchmarks.bench import OneDevice, synthetic_batch, train_config
from pix2pix_hub.recipes import RECIPES

from bounds import depth_of, float32_bound
from helpers import TINY, make_aligned_folder, run_train


def test_fast_flags_resume_exactly(tmp_path, concurrently):
    facades = make_aligned_folder(tmp_path / "facades", n=4, size=64)
    common = ["--model", "pix2pix", "--dataset", facades, "--checkpointing_steps", 2, *TINY,
              "--channels_last", "--fused_adam"]
    def stopped_then_resumed():  # beside the straight run: the two take the time of one on 2 cores
        run_train(*common, "--output_dir", tmp_path / "resumed", "--max_steps", 2)
        return run_train(*common, "--output_dir", tmp_path / "resumed", "--max_steps", 4, "--resume_from_checkpoint", "latest")
    concurrently(partial(run_train, *common, "--output_dir", tmp_path / "straight", "--max_steps", 4),
                 stopped_then_resumed)
    straight = safetensors.torch.load_file(tmp_path / "straight" / "model.safetensors")
    resumed = safetensors.torch.load_file(tmp_path / "resumed" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_channels_last_and_compile_keep_state_dict_keys():
    plain = RECIPES["pix2pix"](train_config("pix2pix", True, 8))
    keys = {name: list(net.state_dict()) for name, net in plain.networks.items()}
    fast = RECIPES["pix2pix"](train_config("pix2pix", True, 8, channels_last=True, compile=True, fused_adam=True))
    fast.prepare(OneDevice("cpu"))
    assert {name: list(net.state_dict()) for name, net in fast.networks.items()} == keys
    weight = fast.networks["G"].model.model[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert all(group.get("fused") for opt in fast.optimizers.values() for group in opt.param_groups)


def test_channels_last_step_matches_plain_step():
    """The same step in NHWC and NCHW: equal up to the convolutions' rounding."""
    batch = synthetic_batch(1, 32, "cpu")
    results = []
    for flags in ({}, {"channels_last": True}):
        torch.manual_seed(0)
        recipe = RECIPES["pix2pix"](train_config("pix2pix", True, 8, **flags))
        recipe.prepare(OneDevice("cpu"))
        losses = recipe.training_step(batch)
        results.append((losses["loss_G_L1"].item(), recipe.networks["G"].state_dict()))
    recipe = RECIPES["pix2pix"](train_config("pix2pix", True, 8))
    depth = depth_of(recipe.networks["G"]) + depth_of(recipe.networks["D"])
    # the loss: convolution rounding through G then D (its GAN term), at the loss's scale
    assert abs(results[0][0] - results[1][0]) <= float32_bound(max(1.0, abs(results[0][0])), depth)
    # the weights after one Adam step: it moves each by at most lr (m/sqrt(v) = g/|g| at the first step), so two
    # correct runs differ by at most 2 lr, where rounding flips a near-zero gradient; weights laid out wrongly
    # differ by their init scale (0.02), 50x more
    lr = recipe.config.optim.learning_rate
    for key, value in results[0][1].items():
        assert (value - results[1][1][key]).abs().max() <= 2 * lr, key
