"""`python -m pix2pix_hub convert`: reference checkpoints in, identical outputs out.

tests/data/reference/*.safetensors were made once with the reference implementation (not in this repo):
for each config, the state_dict's key names and shapes, and the reference network's outputs for a
seeded input — in eval mode and in train mode (dropout layers off, so BatchNorm's batch statistics are
compared deterministically) — sampled at 4096 fixed positions, plus each output's per-channel mean and
std. The weights are not stored: both sides build them from the key names with `seeded_state_dict`.
"""

from __future__ import annotations

import json
import math
import pickle
import zlib
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from huggingface_hub import ModelCard

from pix2pix_hub import load_generator
from pix2pix_hub.loading.convert import (
    CheckpointSpec,
    ConvertError,
    generator_from_checkpoint,
    infer_spec,
    read_checkpoint,
)
from pix2pix_hub.loading.convert_command import main
from pix2pix_hub.models import build_generator
from pix2pix_hub.models.run_mode import apply_test_mode

from bounds import assert_float32_close, depth_of

DATA = Path(__file__).parent / "data" / "reference"
# (netG, norm, input_nc, output_nc, use_dropout)
CONFIGS = [
    ("unet_256", "batch", 3, 3, True), ("unet_256", "instance", 3, 3, True),
    ("unet_128", "batch", 1, 3, True), ("unet_128", "instance", 3, 3, False), ("unet_128", "none", 3, 3, True),
    ("resnet_9blocks", "batch", 3, 3, False), ("resnet_9blocks", "instance", 3, 3, False),
    ("resnet_6blocks", "batch", 3, 3, True), ("resnet_6blocks", "instance", 3, 1, False),
    ("resnet_6blocks", "none", 3, 3, False),
]
NGF, SEED = 8, 0


def input_size(netG: str) -> int:
    return {"unet_256": 256, "unet_128": 128}.get(netG, 64)


def seeded_tensor(name: str, shape: tuple[int, ...], seed: int = SEED) -> torch.Tensor:
    """Reproducible weights from the key name alone (numpy's PCG64 stream is fixed), scaled so that
    activations neither vanish nor saturate the final tanh."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    u = rng.random(math.prod(shape))
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        values = 0.5 + u
    elif leaf == "running_mean":
        values = (u - 0.5) * 0.4
    elif len(shape) == 1:
        values = 0.8 + 0.4 * u if leaf == "weight" else (u - 0.5) * 0.2
    else:
        values = (u - 0.5) * 2 * math.sqrt(3 / math.prod(shape[1:]))
    return torch.from_numpy(values.astype(np.float32).reshape(shape))


def seeded_state_dict(keys: list[tuple[str, list[int], str]], seed: int = SEED) -> dict[str, torch.Tensor]:
    return {name: torch.tensor(3, dtype=torch.int64) if dtype == "int64" else seeded_tensor(name, tuple(shape), seed)
            for name, shape, dtype in keys}


def seeded_input(channels: int, size: int, seed: int = SEED) -> torch.Tensor:
    rng = np.random.default_rng([seed, 1])
    return torch.from_numpy(rng.random((1, channels, size, size)).astype(np.float32) * 2 - 1)


def reference_record(netG: str, norm: str) -> tuple[dict[str, torch.Tensor], dict]:
    path = DATA / f"{netG}_{norm}.safetensors"
    with safetensors.safe_open(str(path), "pt") as file:
        return {key: file.get_tensor(key) for key in file.keys()}, file.metadata()


def state_dict_of(netG: str = "resnet_6blocks", norm: str = "instance", ngf: int = NGF, **kwargs) -> dict:
    """A reference-layout state_dict (our generators use the reference's names; checked above)."""
    return build_generator(netG, ngf=ngf, norm=norm, **kwargs).state_dict()


def run_cli(*args) -> None:
    assert main([str(a) for a in args]) == 0


# -- outputs identical to the reference's ---------------------------------------------------------
@pytest.mark.parametrize("netG,norm,input_nc,output_nc,use_dropout", CONFIGS, ids=[f"{c[0]}-{c[1]}" for c in CONFIGS])
def test_converted_generator_reproduces_reference_outputs(tmp_path, netG, norm, input_nc, output_nc, use_dropout):
    torch.set_num_threads(1)
    expected, meta = reference_record(netG, norm)
    checkpoint = tmp_path / "latest_net_G.pth"
    torch.save(seeded_state_dict(json.loads(meta["keys"])), checkpoint)  # a real pickle, as the reference writes
    run_cli("--checkpoint", checkpoint, "--output", tmp_path / "model", *([] if use_dropout else ["--no_dropout"]))

    generator = load_generator(tmp_path / "model")
    assert (generator.netG, generator.config["norm"]) == (netG, norm)
    assert generator.config["use_dropout"] == use_dropout
    x = seeded_input(input_nc, input_size(netG))
    index = expected["sample_index"].long()
    with torch.no_grad():
        eval_out = generator(x)
        apply_test_mode(generator, "reference_train")
        for module in generator.modules():  # the stored train-mode output was made with dropout off
            if isinstance(module, torch.nn.Dropout):
                module.eval()
        train_out = generator(x)
    assert eval_out.shape == (1, output_nc, input_size(netG), input_size(netG))
    depth = depth_of(generator)  # float32 kernels differ per CPU: the bound follows depth and scale (tests/bounds.py)
    for out, mode in ((eval_out, "eval"), (train_out, "train")):
        assert_float32_close(out.flatten()[index], expected[f"{mode}_sample"], depth, mode)
        moments = torch.stack([out.double().mean((0, 2, 3)), out.double().std((0, 2, 3))], 1)
        assert_float32_close(moments, expected[f"{mode}_moments"], depth, mode)  # a mean moves no more than its terms
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    differs = norm == "batch" or use_dropout
    assert config["test_mode"] == ("reference_train" if differs else "eval")
    assert config["model_type"] == "pix2pix" and config["converted_from"]["checkpoints"]["AtoB"]["file"] == "latest_net_G.pth"


def test_reference_data_is_small():
    assert sum(p.stat().st_size for p in DATA.iterdir()) < 2_000_000


# -- reading checkpoints ------------------------------------------------------------------------
def test_module_prefix_and_wrapping_dict_are_handled(tmp_path):
    weights = state_dict_of()
    path = tmp_path / "wrapped.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in weights.items()}}, path)
    loaded = read_checkpoint(path)
    assert loaded.keys() == weights.keys() and all(torch.equal(loaded[k], weights[k]) for k in weights)


def test_old_instance_norm_running_stats_are_dropped(tmp_path):
    # Pre-0.4 PyTorch saved running stats for InstanceNorm layers, which have no weights
    weights = state_dict_of("unet_128", "instance")
    stale = {"model.model.1.model.2.running_mean": torch.zeros(16), "model.model.1.model.2.running_var": torch.ones(16),
             "model.model.1.model.2.num_batches_tracked": torch.tensor(0)}
    generator = generator_from_checkpoint({**weights, **stale})
    assert generator.config["norm"] == "instance"  # running stats without weights are not BatchNorm
    resnet = {**state_dict_of("resnet_9blocks", "instance"), "model.2.running_mean": torch.zeros(8),
              "model.2.running_var": torch.ones(8), "model.10.conv_block.2.num_batches_tracked": torch.tensor(0)}
    assert generator_from_checkpoint(resnet).netG == "resnet_9blocks"


@pytest.mark.parametrize("netG", ["unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks"])
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_architecture_is_inferred_from_the_weights(netG, norm):
    dropout = netG.startswith("resnet") and norm == "batch"  # visible in ResNet keys only
    found = infer_spec(state_dict_of(netG, norm, ngf=4, output_nc=1, use_dropout=dropout))
    assert found == CheckpointSpec(netG, 4, norm, 3, 1, None if netG.startswith("unet") else dropout)


@pytest.mark.parametrize("flags,hint", [
    (["--ngf", "64"], "--ngf 64 but the first conv has 8 filters: pass --ngf 8"),
    (["--netG", "unet_128"], "--netG unet_128 but the weights are a U-Net with 8 levels (unet_256): pass --netG unet_256"),
    (["--netG", "resnet_9blocks"], "pass --netG unet_256"),
    (["--norm", "instance"], "--norm instance but the weights have BatchNorm layers"),
])
def test_flags_contradicting_the_weights_name_the_fix(tmp_path, capsys, flags, hint):
    checkpoint = tmp_path / "latest_net_G.pth"
    torch.save(state_dict_of("unet_256", "batch"), checkpoint)
    assert main(["--checkpoint", str(checkpoint), "--output", str(tmp_path / "out"), *flags]) == 2
    message = capsys.readouterr().err.removesuffix("\n")
    assert hint in message and "\n" not in message and not (tmp_path / "out").exists()


def test_resnet_dropout_flag_is_checked(tmp_path):
    with pytest.raises(ConvertError, match="leave out --no_dropout"):
        generator_from_checkpoint(state_dict_of("resnet_6blocks", "batch", use_dropout=True), no_dropout=True)


def test_files_that_are_not_checkpoints_fail_clearly(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(ConvertError, match="is not a PyTorch checkpoint"):
        read_checkpoint(text)
    unsafe = tmp_path / "object.pth"
    torch.save({"options": argparse_like()}, unsafe)
    with pytest.raises(ConvertError, match="not loaded for safety"):
        read_checkpoint(unsafe)
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(ConvertError, match="not a reference generator"):
        generator_from_checkpoint(other)
    with pytest.raises(ConvertError, match="no such file"):
        read_checkpoint(tmp_path / "missing.pth")


class argparse_like:  # noqa: N801 — any non-tensor object makes weights_only refuse the file
    pass


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_refusal_does_not_run_code(tmp_path):
    class Payload:
        def __reduce__(self):
            return (Path(tmp_path / "ran").touch, ())
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"model.1.weight": Payload()}))
    with pytest.raises(ConvertError):
        read_checkpoint(path)
    assert not (tmp_path / "ran").exists()


# -- the converted folder ---------------------------------------------------------------------------
def test_cyclegan_pair_becomes_one_repo_with_a_card(tmp_path):
    torch.save(state_dict_of("resnet_6blocks", "instance"), tmp_path / "latest_net_G_A.pth")
    torch.save(state_dict_of("resnet_6blocks", "instance", input_nc=1), tmp_path / "latest_net_G_B.pth")
    run_cli("--checkpoint_a2b", tmp_path / "latest_net_G_A.pth", "--checkpoint_b2a", tmp_path / "latest_net_G_B.pth",
            "--output", tmp_path / "model", "--name", "horse2zebra", "--domain_a_name", "horse", "--domain_b_name", "zebra")
    root = json.loads((tmp_path / "model" / "config.json").read_text())
    assert root["model_type"] == "cyclegan" and root["directions"] == ["AtoB", "BtoA"] and root["test_mode"] == "eval"
    assert load_generator(tmp_path / "model", "BtoA").config["input_nc"] == 1
    card = ModelCard.load(tmp_path / "model" / "README.md")
    assert card.data.library_name == "pix2pix-hub" and card.data.pipeline_tag == "image-to-image"
    assert {"cyclegan", "resnet_6blocks", "converted"} <= set(card.data.tags)
    assert "horse2zebra" in card.text and "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix" in card.text
    assert 'direction="AtoB"' in card.text


def test_pix2pix_card_explains_reference_train_mode(tmp_path):
    torch.save(state_dict_of("unet_128", "batch", use_dropout=True), tmp_path / "latest_net_G.pth")
    run_cli("--checkpoint", tmp_path / "latest_net_G.pth", "--netG", "unet_128", "--ngf", "8", "--norm", "batch",
            "--output", tmp_path / "model", "--name", "facades_label2photo", "--source", "https://example.org/w")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["test_mode"] == "reference_train" and config["resolution"] == 128
    assert config["converted_from"]["name"] == "facades_label2photo" and len(config["converted_from"]["checkpoints"]["AtoB"]["sha256"]) == 64
    card = ModelCard.load(tmp_path / "model" / "README.md")
    assert card.data.model_name == "model" and "pix2pix" in card.data.tags
    for text in ("facades_label2photo", "https://example.org/w", "reference_train", "--eval", "load_generator",
                 "ImageTranslator.from_pretrained"):
        assert text in card.text
    generator = load_generator(tmp_path / "model")
    assert not generator.training  # loaded in eval mode; reference_train is applied by ImageTranslator


def test_test_mode_flag_overrides_the_default(tmp_path):
    torch.save(state_dict_of("unet_128", "batch"), tmp_path / "g.pth")
    run_cli("--checkpoint", tmp_path / "g.pth", "--output", tmp_path / "model", "--test_mode", "eval")
    assert json.loads((tmp_path / "model" / "config.json").read_text())["test_mode"] == "eval"


def test_reference_train_mode_leaves_running_stats_alone():
    generator = build_generator("unet_128", ngf=4, norm="batch", use_dropout=False).eval()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        apply_test_mode(generator, "reference_train")
        batch_stats = generator(x)
        apply_test_mode(generator, "eval")
        running_stats = generator(x)
    assert all(torch.equal(before[k], v) for k, v in generator.state_dict().items())
    assert not torch.allclose(batch_stats, running_stats)
    with pytest.raises(ValueError, match="test_mode"):
        apply_test_mode(generator, "train")


def test_push_to_hub_creates_the_repo_and_uploads_the_folder(tmp_path, monkeypatch):
    import huggingface_hub
    calls = []
    monkeypatch.setattr(huggingface_hub, "create_repo", lambda repo_id, **kw: calls.append(("create", repo_id, kw)) or
                        type("Repo", (), {"repo_id": repo_id})())
    monkeypatch.setattr(huggingface_hub, "upload_folder", lambda **kw: calls.append(("upload", kw)) or "done")
    torch.save(state_dict_of(), tmp_path / "g.pth")
    run_cli("--checkpoint", tmp_path / "g.pth", "--output", tmp_path / "model", "--push_to_hub", "--hub_model_id", "me/x")
    assert calls[0][:2] == ("create", "me/x") and calls[0][2]["exist_ok"]
    assert calls[1][1]["repo_id"] == "me/x" and calls[1][1]["folder_path"] == str(tmp_path / "model")
    assert ModelCard.load(tmp_path / "model" / "README.md").data.model_name == "me/x"


def test_command_line_needs_checkpoints(tmp_path):
    for args in ([], ["--checkpoint_a2b", "a.pth"], ["--checkpoint", "a.pth", "--checkpoint_b2a", "b.pth"]):
        with pytest.raises(SystemExit):
            main([*args, "--output", str(tmp_path / "out")])


# -- CUT's generators (taesungp/contrastive-unpaired-translation) ------------------------------------
CUT_DATA = Path(__file__).parent / "data" / "cut_reference"  # made by CUT's own networks.py: see record.py there
CUT_CONFIGS = [("resnet_9blocks", "instance", True), ("resnet_6blocks", "instance", False), ("resnet_6blocks", "batch", True)]


def cut_record(netG: str, norm: str, antialias_up: bool) -> tuple[dict[str, torch.Tensor], dict]:
    path = CUT_DATA / f"{netG}_{norm}{'' if antialias_up else '_no_antialias_up'}.safetensors"
    with safetensors.safe_open(str(path), "pt") as file:
        return {key: file.get_tensor(key) for key in file.keys()}, file.metadata()


@pytest.mark.parametrize("netG,norm,antialias_up", CUT_CONFIGS, ids=[f"{c[0]}-{c[1]}-up{c[2]}" for c in CUT_CONFIGS])
def test_converted_cut_generator_reproduces_cut_outputs(tmp_path, netG, norm, antialias_up):
    """A checkpoint with CUT's layout (its anti-aliasing filters included) converts to a model whose outputs,
    encoder taps (nce_layers), netF and PatchNCE loss equal those of CUT's code on the same weights."""
    from pix2pix_hub.models import PatchSampler
    from pix2pix_hub.recipes.losses import patch_nce_loss

    torch.set_num_threads(1)
    expected, meta = cut_record(netG, norm, antialias_up)
    weights = seeded_state_dict(json.loads(meta["keys"]))
    weights.update({key[len("filt/"):]: value for key, value in expected.items() if key.startswith("filt/")})
    torch.save(weights, tmp_path / "latest_net_G.pth")
    run_cli("--checkpoint", tmp_path / "latest_net_G.pth", "--output", tmp_path / "model", "--name", "horse2zebra_cut_pretrained")

    generator = load_generator(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert (config["netG"], config["norm"], config["antialias"], config["antialias_up"]) == (netG, norm, True, antialias_up)
    assert config["model_type"] == "cut" and config["converted_from"]["source"].endswith("taesungp/contrastive-unpaired-translation")
    x = seeded_input(3, 64)
    with torch.no_grad():
        eval_out = generator(x)
        train_out = apply_test_mode(generator, "reference_train")(x) if norm == "batch" else eval_out
        generator.eval()
        depth = depth_of(generator)  # the bound follows depth and scale, not one CPU's kernels (tests/bounds.py)
        for out, mode in ((eval_out, "eval"), (train_out, "train")):
            assert_float32_close(out.flatten()[expected["sample_index"].long()], expected[f"{mode}_sample"], depth, mode)
            moments = torch.stack([out.double().mean((0, 2, 3)), out.double().std((0, 2, 3))], 1)
            assert_float32_close(moments, expected[f"{mode}_moments"], depth, mode)  # a mean moves no more than its terms
        layers = [0, 4, 8, 12, 16]
        keys, queries = generator(x, layers), generator(eval_out, layers)
        assert [list(f.shape) for f in keys] == json.loads(meta["feature_shapes"])
        for layer, feature in zip(layers, keys):
            index = expected[f"feature_{layer}_index"].long()
            bound = assert_float32_close(feature.flatten()[index], expected[f"feature_{layer}_sample"], depth, layer)
        # the failing contrast: one wrong weight (one tap of the first conv, its sign flipped; a scale would be
        # normalised away) moves the deepest tap far outside the bound
        first_conv = next(m for m in generator.modules() if isinstance(m, torch.nn.Conv2d))
        first_conv.weight[0, 0, 1, 1].neg_()
        wrong = generator(x, layers)[-1].flatten()[expected["feature_16_index"].long()] - expected["feature_16_sample"]
        first_conv.weight[0, 0, 1, 1].neg_()
        assert wrong.abs().max() > 10 * bound, (float(wrong.abs().max()), bound)
        sampler = PatchSampler([f.shape[1] for f in keys], nc=16)
        sampler.load_state_dict(seeded_state_dict(json.loads(meta["netF_keys"])))
        ids = [expected[f"patch_ids_{i}"].long() for i in range(len(layers))]
        pooled_k, _ = sampler(keys, 32, ids)
        pooled_q, _ = sampler(queries, 32, ids)
        for i, (q, k) in enumerate(zip(pooled_q, pooled_k)):
            # netF adds two linear layers and an L2 normalisation (scale 1); the loss divides dot products of unit
            # vectors by the temperature 0.07, so its scale is 1 / 0.07 (cross-entropy's log-sum-exp is 1-Lipschitz)
            assert_float32_close(k, expected[f"netF_key_{i}"], depth + 2, i)
            assert_float32_close(patch_nce_loss(q, k, 0.07, 1), expected[f"nce_loss_{i}"], depth + 2, i, scale=1 / 0.07)
    card = ModelCard.load(tmp_path / "model" / "README.md")
    assert "contrastive-unpaired-translation" in card.data.tags and "A CUT `" in card.text and "anti-aliased" in card.text


def test_cut_data_is_small_and_plain_resnets_stay_reference_models(tmp_path):
    assert sum(p.stat().st_size for p in CUT_DATA.iterdir()) < 1_000_000
    torch.save(state_dict_of("resnet_6blocks", "instance"), tmp_path / "g.pth")  # no filters: the reference's layout
    run_cli("--checkpoint", tmp_path / "g.pth", "--output", tmp_path / "plain")
    assert json.loads((tmp_path / "plain" / "config.json").read_text())["model_type"] == "pix2pix"
    run_cli("--checkpoint", tmp_path / "g.pth", "--output", tmp_path / "fast", "--model_type", "fastcut")
    config = json.loads((tmp_path / "fast" / "config.json").read_text())
    assert config["model_type"] == "fastcut" and config["converted_from"]["source"].endswith("contrastive-unpaired-translation")
    spec = infer_spec(state_dict_of("resnet_6blocks", "instance", antialias=True))
    assert (spec.antialias, spec.antialias_up) == (True, False)
