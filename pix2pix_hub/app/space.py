"""`python -m pix2pix_hub publish-space`: a Gradio Space, by default the gallery of the reference's pretrained
models (opening on edges2shoes), or one trained model from the Hub (`--model user/name`).

The folder uploaded to the Space holds
  app.py            this checkout's app.py, unchanged
  space.json        {"default_model": ...}: the model the page opens on (a gallery entry or --model); a
                    `PIX2PIX_MODEL` variable in the Space's settings still overrides it
  pix2pix_hub/      the package sources, vendored: the Space imports exactly the code that was tested here,
                    with no install from GitHub or PyPI at build time (pix2pix-hub is not on PyPI)
  models/default/   the bundled landscape model, offered beside the gallery
  examples/         the example paintings and each gallery entry's examples (examples/gallery/)
  requirements.txt  the packages inference needs, pinned to the versions installed here; torch is the CPU
                    build (a free Space has no GPU, and the CUDA wheels are gigabytes); gradio itself comes
                    from the README's sdk_version
  README.md         the Space's YAML header (sdk, sdk_version, app_file, models: [--model], ...) and a body
                    listing the gallery's entries with their sources and licences
Then hub/upload.py creates the Space (sdk gradio) if needed and uploads the folder.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import shutil
import sys
from pathlib import Path

from huggingface_hub import SpaceCard, SpaceCardData

from ..errors import Pix2PixHubError, command, first_line
from ..hub.ids import hub_id_problem
from ..hub.upload import upload_model_folder

PACKAGE = Path(__file__).resolve().parents[1]  # pix2pix_hub/ (this file is pix2pix_hub/app/space.py)
CHECKOUT = PACKAGE.parent  # the source checkout holding app.py and examples/
DEFAULT_ENTRY = "edges2shoes"  # a gallery Space opens on it: a line drawing becomes a shoe
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# What `import app` and inference need (gradio comes with the Space's sdk_version).
SPACE_PACKAGES = ["huggingface_hub", "safetensors", "numpy", "pillow", "opencv-python-headless",
                  "onnx", "onnxruntime", "openvino"]
LICENSE = "bsd-3-clause"

BODY = """
# {title}

{what} Made with [pix2pix-hub](https://github.com/pix2pix-hub/pix2pix-hub)
(`{command}`).

- Visitors pick among the Space's models only: the gallery below, the bundled landscape model, and Hub ids
  in the Space variable `PIX2PIX_MODELS` (comma-separated); `PIX2PIX_MODEL` changes the default. A private
  model needs a secret `HF_TOKEN` (read access) in the Space's settings. Limits: `PIX2PIX_MODEL_MB`,
  `PIX2PIX_MEMORY_MB`, `PIX2PIX_MAX_UPLOAD_MB`, `PIX2PIX_MAX_PIXELS`, `PIX2PIX_GALLERY_CACHE_MB`,
  `PIX2PIX_MAX_MODELS` (see pix2pix-hub's README, "Space mode").
- Runs on CPU: the free hardware is enough. A gallery entry's weights are downloaded from the reference's
  server the first time a visitor picks it, converted, and kept.

## The gallery

{gallery}
"""


class PublishError(Pix2PixHubError, ValueError):
    """A one-line reason why the Space cannot be built or pushed."""


def check_repo_id(repo_id: str, what: str) -> str:
    """`user/name`, or a PublishError saying what is wrong."""
    repo_id = (repo_id or "").strip()
    if what == "model" and Path(repo_id).expanduser().exists():
        raise PublishError(f"--{what} {repo_id!r} is not a Hub id of the form user/name (a local folder: push it to "
                           "the Hub first, with train.py --push_to_hub or `hf upload`)")
    problem = hub_id_problem(repo_id)
    if problem:
        raise PublishError(f"--{what} {repo_id!r} {problem}")
    return repo_id


def check_model_on_hub(model: str, token: str | None = None) -> bool:
    """The model exists (and is readable with `token`) and is a pix2pix-hub model; returns whether it is private."""
    from huggingface_hub import HfApi, errors

    try:
        info = HfApi().model_info(model, revision="main", token=token)
    except errors.GatedRepoError:
        raise PublishError(f"model {model} is gated: the Space could not download it") from None
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError):
        raise PublishError(f"model {model} not found on the Hub (or private and not readable with your token)") from None
    except errors.HfHubHTTPError as error:
        raise PublishError(f"could not check model {model} on the Hub: {first_line(error)}") from None
    except OSError as error:  # connection refused, offline mode...
        raise PublishError(f"could not reach the Hub to check model {model}: {type(error).__name__}") from None
    files = {s.rfilename for s in info.siblings or []}
    if files and "config.json" not in files:
        raise PublishError(f"model {model} has no config.json: not a pix2pix-hub model "
                           "(a reference .pth checkpoint? `python -m pix2pix_hub convert` it and push the result)")
    return bool(info.private)


def space_requirements() -> str:
    """requirements.txt for the Space: the inference packages at the versions installed here, torch for CPU."""
    torch_version = importlib.metadata.version("torch").split("+")[0]
    lines = [f"--extra-index-url {TORCH_CPU_INDEX}", f"torch=={torch_version}+cpu"]
    for name in SPACE_PACKAGES:
        try:
            lines.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(name)
    return "\n".join(lines) + "\n"


def space_card(model: str, space: str, title: str | None = None) -> SpaceCard:
    from .gallery import entry, markdown_table

    item = entry(model)
    name = "pix2pix gallery" if item else model.split("/")[-1]
    title = title or f"{name} (pix2pix-hub)"
    if item:
        what = (f"Pick one of the reference's pretrained pix2pix and CycleGAN models, each with the input tool it "
                f"needs, and draw or upload; it opens on `{model}` ({item.makes}).")
        command = f"python -m pix2pix_hub publish-space --space {space}"
    else:
        what = (f"Draw with the palette or upload an image, and [`{model}`](https://huggingface.co/{model}) "
                "translates it as you draw.")
        command = f"python -m pix2pix_hub publish-space --model {model} --space {space}"
    data = SpaceCardData(
        title=title, emoji="🎨", colorFrom="blue", colorTo="green", sdk="gradio",
        sdk_version=importlib.metadata.version("gradio"), app_file="app.py",
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}", license=LICENSE,
        models=None if item else [model], tags=["pix2pix-hub", "image-to-image", "pix2pix", "cyclegan"],
        pinned=False,
    )
    body = BODY.format(title=title, what=what, command=command, gallery=markdown_table())
    return SpaceCard(f"---\n{data.to_yaml()}\n---\n" + body)


def build_space_folder(folder: str | Path, model: str, space: str, title: str | None = None,
                       examples: str | Path | None = None) -> Path:
    """Write everything the Space needs into `folder` (created; must be empty or absent)."""
    folder = Path(folder)
    if not (CHECKOUT / "app.py").is_file():
        raise PublishError(f"no app.py beside the package in {CHECKOUT}: publish-space runs from a source checkout")
    if folder.exists() and any(folder.iterdir()):
        raise PublishError(f"{folder} is not empty")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(CHECKOUT / "app.py", folder / "app.py")
    (folder / "space.json").write_text(json.dumps({"default_model": model}) + "\n")
    shutil.copytree(PACKAGE, folder / "pix2pix_hub", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyi"))
    if (CHECKOUT / "models" / "default" / "config.json").is_file():
        shutil.copytree(CHECKOUT / "models" / "default", folder / "models" / "default")
    examples = Path(examples) if examples else CHECKOUT / "examples"
    for image in sorted(examples.glob("*.png")) if examples.is_dir() else []:
        (folder / "examples").mkdir(exist_ok=True)
        shutil.copy2(image, folder / "examples" / image.name)
    if (CHECKOUT / "examples" / "gallery").is_dir():
        shutil.copytree(CHECKOUT / "examples" / "gallery", folder / "examples" / "gallery")
    (folder / "requirements.txt").write_text(space_requirements())
    space_card(model, space, title).save(folder / "README.md")
    return folder


def publish_space(model: str, space: str, private: bool = False, token: str | None = None,
                  title: str | None = None, examples: str | Path | None = None) -> str:
    """Check the model on the Hub, build the folder, create the Space and upload; returns the Space's URL."""
    import tempfile

    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise PublishError("no Hugging Face token: run `hf auth login`, set HF_TOKEN, or pass --token")
    from .gallery import entry

    if entry(model) is None and check_model_on_hub(model, token):
        print(f"note: {model} is private; add a secret HF_TOKEN (read access) in the Space's settings "
              "so the Space can download it")
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_space_folder(Path(tmp) / "space", model, space, title, examples)
        upload_model_folder(folder, space, repo_type="space", space_sdk="gradio", private=private, token=token,
                            commit_message=f"Publish {model} with pix2pix-hub")
    return f"https://huggingface.co/spaces/{space}"


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pix2pix_hub publish-space", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Create or update a Gradio Space: the gallery, or a trained model from the Hub.\n\n"
                    + __doc__.split("\n", 2)[2])
    parser.add_argument("--model", default=DEFAULT_ENTRY,
                        help=f"the model the Space opens on: a gallery entry (default: {DEFAULT_ENTRY}) or a trained "
                             "model's Hub id, user/name (push it first)")
    parser.add_argument("--space", required=True, help="the Space's id, user/space-name (created if absent)")
    parser.add_argument("--private", action="store_true", help="create the Space private")
    parser.add_argument("--dry-run", metavar="DIR", help="only write the Space's folder to DIR, no Hub access")
    parser.add_argument("--title", help="the Space's title (default: the model's name)")
    parser.add_argument("--examples", metavar="DIR", help="example images (*.png) for the app (default: examples/)")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the one `hf auth login` stored)")
    args = parser.parse_args(argv)
    from .gallery import entry

    model = args.model.strip() if entry(args.model.strip()) else check_repo_id(args.model, "model")
    space = check_repo_id(args.space, "space")
    if args.dry_run:
        folder = build_space_folder(args.dry_run, model, space, args.title, args.examples)
        print(f"wrote the Space for {model} to {folder} (dry run: nothing uploaded)")
        return 0
    url = publish_space(model, space, args.private, args.token, args.title, args.examples)
    print(f"published {model} at {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
