"""publish-space, up to the folder it would upload: files, Space YAML header, requirements, the folder's own
app building its Blocks in a subprocess, the model check against a real Hub-protocol server, and the errors."""
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import metadata_load
from packaging.requirements import Requirement

from pix2pix_hub import __main__ as cli
from pix2pix_hub import save_model_folder
from pix2pix_hub.app import space
from pix2pix_hub.models import build_generator

from helpers import ROOT

MODEL, SPACE = "someone/tiny-pix2pix", "someone/tiny-pix2pix-demo"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-pix2pix")
    save_model_folder(folder, {"AtoB": build_generator("unet_128", ngf=8)}, {"model_type": "pix2pix", "resolution": 128})
    return folder


@pytest.fixture(scope="module")
def space_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("space") / "out"
    assert space.main(["--model", MODEL, "--space", SPACE, "--dry-run", str(folder), "--title", "Tiny demo"]) == 0
    return folder


def test_folder_files(space_folder):
    names = {p.relative_to(space_folder).as_posix() for p in space_folder.rglob("*") if p.is_file()}
    assert {"app.py", "README.md", "requirements.txt", "pix2pix_hub/__init__.py", "pix2pix_hub/inference/translator.py",
            "pix2pix_hub/models/unet.py", "pix2pix_hub/data/make_dataset.py"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    examples = sorted(p.relative_to(ROOT).as_posix() for p in [*(ROOT / "examples").glob("*.png"),
                                                              *(ROOT / "examples" / "gallery").iterdir()])
    assert sorted(n for n in names if n.startswith("examples/")) == examples  # with the gallery's, SOURCES.md too
    # app.py is this checkout's, unchanged: the Space's default model is configuration (space.json).
    assert (space_folder / "app.py").read_bytes() == (ROOT / "app.py").read_bytes()
    assert json.loads((space_folder / "space.json").read_text()) == {"default_model": MODEL}
    assert (space_folder / "models/default/model.safetensors").read_bytes() == \
        (ROOT / "models/default/model.safetensors").read_bytes()  # the bundled model, beside the gallery
    assert not any(n.endswith(".pyi") for n in names)  # Gradio's generated stubs stay home


def test_readme_header(space_folder):
    meta = metadata_load(space_folder / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["sdk_version"] == importlib.metadata.version("gradio")
    assert meta["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert meta["models"] == [MODEL]
    assert meta["title"] == "Tiny demo" and meta["license"] == "bsd-3-clause" and meta["pinned"] is False
    assert meta["emoji"] and meta["colorFrom"] and meta["colorTo"]
    body = (space_folder / "README.md").read_text().split("---", 2)[2]
    assert f"https://huggingface.co/{MODEL}" in body


def test_requirements(space_folder):
    lines = [l for l in (space_folder / "requirements.txt").read_text().splitlines() if l.strip()]
    assert lines[0] == f"--extra-index-url {space.TORCH_CPU_INDEX}"
    reqs = {Requirement(l).name.lower().replace("_", "-"): Requirement(l) for l in lines[1:]}
    assert str(reqs["torch"].specifier).endswith("+cpu")  # the CPU wheel, not gigabytes of CUDA
    assert "gradio" not in reqs  # the Space installs gradio from sdk_version
    for name in ("huggingface-hub", "safetensors", "numpy", "pillow", "opencv-python-headless"):
        assert str(reqs[name].specifier) == f"=={importlib.metadata.version(name)}"


# Runs inside the Space's folder, with nothing of this checkout on sys.path.
SPACE_CHECK = r"""
import ast, importlib.metadata, json, os, sys
import app, pix2pix_hub
import gradio as gr
from PIL import Image, ImageDraw

def dropdown(demo):
    return next(b for b in demo.blocks.values() if isinstance(b, gr.Dropdown))

result = {"package": pix2pix_hub.__file__, "app": app.__file__}
os.environ.pop("PIX2PIX_MODEL", None)
result["default"] = dropdown(app.build_demo()).value        # the Space's model (not reachable offline)
os.environ["PIX2PIX_MODEL"] = sys.argv[1]
result["env"] = dropdown(app.build_demo()).value
sketch = Image.new("RGB", (128, 128), "white")
ImageDraw.Draw(sketch).rectangle([0, 0, 128, 64], fill=app.SEGMENT_PALETTE["sky"])
out, result["status"] = app.translate(sketch, sys.argv[1])
result["size"] = list(out.size) if out else None
os.environ.pop("PIX2PIX_MODEL")
result["offline_status"] = app.translate(sketch, app.default_model())[1]  # the Space's model, from space.json
# Third-party packages imported at module level by the package modules the app loaded.
dists = importlib.metadata.packages_distributions()
needed = set()
for name, module in list(sys.modules.items()):
    if name.startswith("pix2pix_hub") and getattr(module, "__file__", None):
        for node in ast.parse(open(module.__file__).read()).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and not node.level else []
            for n in names:
                needed.update(dists.get(n.split(".")[0], []))
result["needed"] = sorted(needed)
print("RESULT " + json.dumps(result))
"""


def test_space_app_builds_from_its_folder(space_folder, tiny_model, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIX2PIX_MODEL", "SPACE_ID")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), GRADIO_ANALYTICS_ENABLED="False",
               PIX2PIX_HUB_CACHE=str(tmp_path / "fast"))
    proc = subprocess.run([sys.executable, "-c", SPACE_CHECK, str(tiny_model)], cwd=space_folder, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert Path(result["package"]).parent.parent == space_folder and Path(result["app"]).parent == space_folder
    assert result["default"] == MODEL and result["env"] == str(tiny_model)
    assert result["size"] == [128, 128] and "ms" in result["status"], result["status"]
    assert result["offline_status"].startswith("⚠️") and MODEL in result["offline_status"]
    assert "bundled model" not in result["offline_status"]
    required = {Requirement(l).name.lower().replace("_", "-") for l in
                (space_folder / "requirements.txt").read_text().splitlines()[1:] if l.strip()}
    missing = {d.lower().replace("_", "-") for d in result["needed"]} - required - {"gradio"}
    assert not missing, f"imported by the app but not in the Space's requirements.txt: {missing}"


@pytest.mark.parametrize("args, message", [
    (["--model", "./models/default"], "--model './models/default' is not a Hub id of the form user/name"),
    (["--model", "tiny"], "is not a Hub id of the form user/name"),
    (["--model", "a/b/c"], "is not a Hub id of the form user/name"),
    (["--model", "user/bad--name"], "is not a valid Hub id"),
    (["--model", MODEL, "--space", "user/bad name"], "--space 'user/bad name' is not a valid Hub id"),
])
def test_bad_ids_give_one_line_errors(args, message, tmp_path, capsys):
    argv = ["--model", MODEL, "--space", SPACE] + args + ["--dry-run", str(tmp_path / "out")]
    assert space.main(argv) == 2
    text = capsys.readouterr().err.removesuffix("\n")
    assert text.startswith("error: ") and message in text and "\n" not in text
    assert not (tmp_path / "out").exists()


def test_local_folder_hint(tiny_model, tmp_path, capsys):
    assert space.main(["--model", str(tiny_model), "--space", SPACE, "--dry-run", str(tmp_path / "out")]) == 2
    assert "push it to the Hub first" in capsys.readouterr().err


def test_push_without_token(local_hub, capsys):  # local_hub: no HF_TOKEN, an empty token file
    assert space.main(["--model", MODEL, "--space", SPACE]) == 2
    assert capsys.readouterr().err.startswith("error: no Hugging Face token: run `hf auth login`")


def test_model_check_on_a_hub_server(local_hub, tiny_model, tmp_path):
    local_hub.add_repo("someone/real-pix2pix", tiny_model)
    assert space.check_model_on_hub("someone/real-pix2pix") is False  # public
    with pytest.raises(space.PublishError, match="not found on the Hub"):
        space.check_model_on_hub("someone/no-such-model")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("not a model")
    local_hub.add_repo("someone/not-a-model", tmp_path / "notes")
    with pytest.raises(space.PublishError, match="no config.json: not a pix2pix-hub model"):
        space.check_model_on_hub("someone/not-a-model")


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["publish-space", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--model", "--space", "--private", "--dry-run", "requirements.txt", "sdk_version"):
        assert flag in text


def test_push_calls(local_hub, tiny_model, monkeypatch, capsys):
    """Everything up to the network: the model checked on a real Hub-protocol server, then the Space created and
    the folder uploaded with these arguments (the local server accepts no uploads, so those two are recorded)."""
    import huggingface_hub
    from huggingface_hub import RepoUrl

    local_hub.add_repo("someone/pushed-pix2pix", tiny_model)
    calls = {}

    def create_repo(repo_id, **kwargs):
        calls["create_repo"] = (repo_id, kwargs)
        return RepoUrl(f"{local_hub.endpoint}/spaces/{repo_id}", endpoint=local_hub.endpoint)

    def upload_folder(**kwargs):
        folder = Path(kwargs["folder_path"])
        calls["upload_folder"] = kwargs
        calls["files"] = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        calls["models"] = metadata_load(folder / "README.md")["models"]

    monkeypatch.setattr(huggingface_hub, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub, "upload_folder", upload_folder)
    assert space.main(["--model", "someone/pushed-pix2pix", "--space", "someone/demo", "--private",
                       "--token", "hf_test"]) == 0
    repo_id, kwargs = calls["create_repo"]
    assert repo_id == "someone/demo"
    assert kwargs == dict(repo_type="space", space_sdk="gradio", private=True, token="hf_test", exist_ok=True)
    up = calls["upload_folder"]
    assert up["repo_id"] == "someone/demo" and up["repo_type"] == "space" and up["token"] == "hf_test"
    assert {"app.py", "README.md", "requirements.txt", "pix2pix_hub/__init__.py"} <= set(calls["files"])
    assert calls["models"] == ["someone/pushed-pix2pix"]
    assert "spaces/someone/demo" in capsys.readouterr().out


GALLERY_CHECK = r"""
import json, os
import app
import gradio as gr
demo = app.build_demo()
box = next(b for b in demo.blocks.values() if isinstance(b, gr.Dropdown))
print("RESULT " + json.dumps({"default": app.default_model(), "value": box.value, "public": app.server().settings.public,
                              "choices": [c[1] for c in box.choices]}))
"""


def test_publish_space_builds_the_gallery_by_default(tmp_path):
    """Issue 26 (6): with no --model the Space is the gallery, opening on edges2shoes, its card listing every
    entry with its source and licence; the Space's app reads its default from space.json, while this checkout's
    `python app.py` keeps the bundled model (test_default_model runs it)."""
    from pix2pix_hub.app import gallery

    folder = tmp_path / "gallery-space"
    assert space.main(["--space", SPACE, "--dry-run", str(folder)]) == 0
    assert json.loads((folder / "space.json").read_text()) == {"default_model": "edges2shoes"}
    meta = metadata_load(folder / "README.md")
    assert "models" not in meta and meta["title"] == "pix2pix gallery (pix2pix-hub)"
    body = (folder / "README.md").read_text()
    assert gallery.markdown_table() in body and f"publish-space --space {SPACE}" in body
    for item in gallery.ENTRIES:
        assert item.source in body and item.dataset in body
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIX2PIX_MODEL")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), GRADIO_ANALYTICS_ENABLED="False", SPACE_ID=SPACE,
               PIX2PIX_HUB_CACHE=str(tmp_path / "cache"), PIX2PIX_HUB_PIX2PIX_MODELS_URL="http://127.0.0.1:9")
    proc = subprocess.run([sys.executable, "-c", GALLERY_CHECK], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert result["default"] == result["value"] == "edges2shoes" and result["public"]
    assert set(gallery.names()) | {"models/default"} <= set(result["choices"])


def test_a_broken_space_file_is_one_line(tmp_path):
    folder = tmp_path / "s"
    assert space.main(["--space", SPACE, "--dry-run", str(folder)]) == 0
    (folder / "space.json").write_text("{not json")
    proc = subprocess.run([sys.executable, "app.py", "--port", "9"], cwd=folder, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""})
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f'error: {folder / "space.json"} is not {{"default_model": "<model>"}}: fix it or run publish-space again'], proc.stderr
