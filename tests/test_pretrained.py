"""Loading models (pretrained.py, models/base.py): bad folders give clear errors, pickles never run code,
and Hub ids load from a real Hub-protocol server on loopback (tests/hub_server.py), offline from the cache."""

import ast
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from pix2pix_hub import ImageTranslator, ModelLoadError, load_generator, save_model_folder
from pix2pix_hub.models import UnetGenerator, build_generator
from pix2pix_hub.models.base import WeightMismatchError

from helpers import ROOT
from hub_server import client_env, free_port, patch_clients

sys.path.insert(0, str(ROOT))
import app  # noqa: E402


def tiny_pix2pix(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return save_model_folder(folder, {"AtoB": build_generator("unet_64", ngf=8)}, {"model_type": "pix2pix", "resolution": 64})


def tiny_cyclegan(folder: Path) -> Path:
    torch.manual_seed(1)
    generators = {d: build_generator("resnet_6blocks", ngf=8, norm="instance") for d in ("AtoB", "BtoA")}
    return save_model_folder(folder, generators, {"model_type": "cyclegan", "resolution": 64,
                                                  "domain_a_name": "horse", "domain_b_name": "zebra"})


class RunsCode:
    """Unpickling this object calls Path(marker).touch(): what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path(self.marker).touch, ()


def armed_pickle(path: Path, marker: Path) -> Path:
    """A real torch.save file (zip format, as .pth/.bin are) whose unpickling runs code."""
    torch.save({"model.model.0.weight": RunsCode(marker)}, path)
    return path


def test_the_pickle_really_is_armed(tmp_path):
    armed_pickle(tmp_path / "evil.pth", tmp_path / "ran")
    torch.load(tmp_path / "evil.pth", weights_only=False)  # what must never happen in the package
    assert (tmp_path / "ran").exists()


# -- clear errors ---------------------------------------------------------------------------------
def test_config_that_does_not_fit_the_weights(tmp_path):
    folder = tiny_pix2pix(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "ngf": 16}))
    with pytest.raises(WeightMismatchError, match=r"of another shape .*Check netG/ngf/norm in config.json"):
        load_generator(folder)
    (folder / "config.json").write_text(json.dumps({**config, "norm": "instance"}))
    with pytest.raises(WeightMismatchError, match="unexpected"):
        load_generator(folder)
    (folder / "config.json").write_text(json.dumps({**config, "generator": "transformer"}))
    with pytest.raises(ModelLoadError, match="unknown generator 'transformer'"):
        load_generator(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_generator(folder)


@pytest.mark.parametrize("change, expected", [
    ({"ngf": "abc"}, "'ngf' is \"abc\", expected a whole number from 1 to 1024"),
    ({"ngf": 0}, "'ngf' is 0, expected a whole number from 1 to 1024"),
    ({"norm": "foo"}, "'norm' is \"foo\", expected one of batch, instance, none"),
    ({"num_downs": 100000}, "'num_downs' is 100000, expected a whole number from 5 to 12"),
    ({"use_dropout": "yes"}, "'use_dropout' is \"yes\", expected true or false"),
    ({"resolution": 10**9}, "'resolution' is 1000000000, expected a whole number of pixels"),
    ([1, 2], "holds a JSON list, not an object of model settings"),
    ("deep", "is nested too deeply to be a model's config.json"),
])
def test_bad_config_values_name_config_json_and_the_key(tmp_path, change, expected):
    """Before this check these raised TypeError, AttributeError, RecursionError, or blamed model.safetensors."""
    folder = tiny_pix2pix(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    text = ("[" * 100_000 + "]" * 100_000 if change == "deep" else
            json.dumps(change if isinstance(change, list) else {**config, **change}))
    (folder / "config.json").write_text(text)
    with pytest.raises(ModelLoadError) as error:
        load_generator(folder)
    message = str(error.value)
    assert message.startswith(str(folder / "config.json")) and expected in message, message
    assert "model.safetensors" not in message


def test_missing_weights_missing_config_and_broken_weights(tmp_path):
    folder = tiny_pix2pix(tmp_path / "m")
    weights = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="has no model.safetensors"):
        load_generator(folder)
    (folder / "model.safetensors").write_bytes(weights[: len(weights) // 2])  # a download cut short
    with pytest.raises(ModelLoadError, match="model.safetensors cannot be read"):
        load_generator(folder)
    (folder / "config.json").unlink()
    with pytest.raises(ModelLoadError, match="has no config.json.*python -m pix2pix_hub convert"):
        load_generator(folder)
    with pytest.raises(ModelLoadError, match="neither a local folder nor a Hub id"):
        load_generator(tmp_path / "no" / "such" / "folder")


# -- pickles never run ------------------------------------------------------------------------------
def test_pickles_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    pth = armed_pickle(tmp_path / "latest_net_G.pth", marker)
    for load in (load_generator, lambda p: ImageTranslator.from_pretrained(p, device="cpu")):
        with pytest.raises(ModelLoadError, match=r"PyTorch pickle.*python -m pix2pix_hub convert --checkpoint"):
            load(pth)
    # A model folder holding pytorch_model.bin instead of safetensors.
    folder = tiny_pix2pix(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    armed_pickle(folder / "pytorch_model.bin", marker)
    with pytest.raises(ModelLoadError, match="has no model.safetensors"):
        load_generator(folder)
    # The mixin's own pickle path (used for Hub repos with only pytorch_model.bin) loads with weights_only=True.
    model = build_generator("unet_64", ngf=8)
    with pytest.raises(Exception, match="Weights only load failed"):
        UnetGenerator._load_as_pickle(model, str(folder / "pytorch_model.bin"), "cpu", True)
    # The app, given either as its model.
    for model_id in (str(pth), str(folder)):
        out, status = app.translate(Image.new("RGB", (64, 64), "red").copy(), model_id, None)
        assert out is None and status.startswith("⚠️") and "Traceback" not in status
    # convert, the one command meant for .pth files, through its command line.
    result = subprocess.run([sys.executable, "-m", "pix2pix_hub", "convert", "--checkpoint", str(pth),
                             "--output", str(tmp_path / "converted")], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode != 0 and "not loaded for safety" in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "converted").exists()
    assert not marker.exists()


def test_pickle_only_hub_repo_never_runs(local_hub, tmp_path):
    marker = tmp_path / "ran"
    folder = tiny_pix2pix(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    armed_pickle(folder / "pytorch_model.bin", marker)
    local_hub.add_repo("evil/pickle-only", folder)
    with pytest.raises(ModelLoadError, match="no model.safetensors .*pytorch_model.bin is a PyTorch pickle, never "
                                             "loaded.*nothing was downloaded"):
        load_generator("evil/pickle-only")  # only config, safetensors and README are ever downloaded
    with pytest.raises(Exception, match="Weights only load failed"):  # the mixin falls back to the .bin: refused
        UnetGenerator.from_pretrained("evil/pickle-only")
    assert not marker.exists()


def torch_load_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("load", "loads"):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in ("torch", "pickle", "dill", "joblib"):
                yield owner.id, node


def test_every_torch_load_in_the_package_is_weights_only():
    found = []
    for path in [*sorted((ROOT / "pix2pix_hub").rglob("*.py")), ROOT / "app.py", ROOT / "train.py"]:
        for owner, call in torch_load_calls(ast.parse(path.read_text())):
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            assert owner == "torch", f"{where}: {owner}.load unpickles anything"
            flag = next((k.value for k in call.keywords if k.arg == "weights_only"), None)
            assert isinstance(flag, ast.Constant) and flag.value is True, f"{where}: torch.load without weights_only=True"
            found.append(where)
    assert len(found) >= 2, found  # models/base.py and convert.py


# -- the Hub --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hub_models(local_hub_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("hub-models")
    tiny_pix2pix(root / "p2p")
    tiny_cyclegan(root / "cg")
    local_hub_server.add_repo("pretrained/p2p", root / "p2p")
    local_hub_server.add_repo("pretrained/cg", root / "cg")
    return root


def same_weights(a, b):
    return all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_models_by_hub_id(local_hub, hub_models):
    assert same_weights(load_generator("pretrained/p2p"), load_generator(hub_models / "p2p"))
    for direction in ("AtoB", "BtoA"):
        assert same_weights(load_generator("pretrained/cg", direction), load_generator(hub_models / "cg", direction))
    translator = ImageTranslator.from_pretrained("pretrained/cg", direction="BtoA", device="cpu", backend="eager")
    assert translator(Image.new("RGB", (50, 40), "blue")).size == (50, 40)
    with pytest.raises(ModelLoadError, match="no such model repo"):
        load_generator("pretrained/absent")
    with pytest.raises(ModelLoadError, match="revision 'v9' does not exist"):
        load_generator("pretrained/cg", "BtoA", revision="v9")


def test_hub_down_gives_a_clear_error_fast(local_hub, hub_models, monkeypatch):
    patch_clients(monkeypatch, f"http://127.0.0.1:{free_port()}", local_hub.cache_dir, timeout=2)  # nothing listens
    start = time.monotonic()
    with pytest.raises(ModelLoadError, match="could not reach the Hub and it is not in the local cache"):
        load_generator("pretrained/p2p")
    out, status = app.translate(Image.new("RGB", (64, 64), "red"), "pretrained/never-loaded", None)
    assert out is None and "could not reach the Hub" in status
    assert time.monotonic() - start < 15


def test_offline_mode_with_a_cached_model(local_hub, hub_models, tmp_path):
    load_generator("pretrained/p2p")  # fills the cache
    load_generator("pretrained/cg", "BtoA")
    script = textwrap.dedent("""
        from PIL import Image
        from huggingface_hub import constants
        from pix2pix_hub import ImageTranslator, ModelLoadError, load_generator
        assert constants.HF_HUB_OFFLINE
        print(ImageTranslator.from_pretrained("pretrained/p2p", device="cpu", backend="eager")(Image.new("RGB", (30, 20))).size)
        print(load_generator("pretrained/cg", "BtoA").netG)
        try:
            load_generator("pretrained/never-loaded")
        except ModelLoadError as error:
            print("error:", error)
    """)
    env = {**os.environ, **client_env(f"http://127.0.0.1:{free_port()}", local_hub.cache_dir, offline=True),
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if not line.startswith("Loading weights")]  # the mixin's print
    assert lines[:2] == ["(30, 20)", "resnet_6blocks"], result.stdout
    assert "pretrained/never-loaded: could not reach the Hub and it is not in the local cache" in lines[2]
