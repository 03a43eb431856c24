"""`python -m pix2pix_hub publish-space`: a Gradio Space serving a trained model from the Hub.

The folder uploaded to the Space holds
  app.py            this checkout's app.py with its default model set to --model (one line changed);
                    a `PIX2PIX_MODEL` variable in the Space's settings still overrides it
  pix2pix_hub/      the package sources, vendored: the Space imports exactly the code that was tested here,
                    with no install from GitHub or PyPI at build time (pix2pix-hub is not on PyPI)
  examples/         the example sketches shown under the app
  requirements.txt  the packages inference needs, pinned to the versions installed here; torch is the CPU
                    build (a free Space has no GPU, and the CUDA wheels are gigabytes); gradio itself comes
                    from the README's sdk_version
  README.md         the Space's YAML header (sdk, sdk_version, app_file, models: [--model], ...) and a short body
Then hub/upload.py creates the Space (sdk gradio) if needed and uploads the folder.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
import sys
from pathlib import Path

from huggingface_hub import SpaceCard, SpaceCardData

from ..errors import Pix2PixHubError, command, first_line
from ..hub.ids import hub_id_problem
from ..hub.upload import upload_model_folder

PACKAGE = Path(__file__).resolve().parents[1]  # pix2pix_hub/ (this file is pix2pix_hub/app/space.py)
CHECKOUT = PACKAGE.parent  # the source checkout holding app.py and examples/
DEFAULT_MODEL_LINE = re.compile(r'^DEFAULT_MODEL = "[^"\n]*"(?=[ \t]*(#[^\n]*)?$)', re.MULTILINE)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# What `import app` and inference need (gradio comes with the Space's sdk_version).
SPACE_PACKAGES = ["huggingface_hub", "safetensors", "numpy", "pillow", "opencv-python-headless",
                  "onnx", "onnxruntime", "openvino"]
LICENSE = "bsd-3-clause"

BODY = """
# {title}

Draw with the palette or upload an image, and [`{model}`](https://huggingface.co/{model}) translates it
as you draw. Made with [pix2pix-hub](https://github.com/pix2pix-hub/pix2pix-hub)
(`python -m pix2pix_hub publish-space --model {model} --space {space}`).

- Visitors pick among the Space's models only: add Hub ids to the Space variable `PIX2PIX_MODELS`
  (comma-separated), or set `PIX2PIX_MODEL` to change the default. A private model needs a secret `HF_TOKEN`
  (read access) in the Space's settings. Limits: `PIX2PIX_MODEL_MB`, `PIX2PIX_MEMORY_MB`,
  `PIX2PIX_MAX_UPLOAD_MB`, `PIX2PIX_MAX_PIXELS` (see pix2pix-hub's README, "Space mode").
- Runs on CPU: the free hardware is enough.
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
    title = title or f"{model.split('/')[-1]} (pix2pix-hub)"
    data = SpaceCardData(
        title=title, emoji="🎨", colorFrom="blue", colorTo="green", sdk="gradio",
        sdk_version=importlib.metadata.version("gradio"), app_file="app.py",
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}", license=LICENSE,
        models=[model], tags=["pix2pix-hub", "image-to-image"], pinned=False,
    )
    return SpaceCard(f"---\n{data.to_yaml()}\n---\n" + BODY.format(title=title, model=model, space=space))


def space_app(model: str) -> str:
    """This checkout's app.py with `DEFAULT_MODEL = "<model>"`."""
    source = (CHECKOUT / "app.py").read_text()
    if len(DEFAULT_MODEL_LINE.findall(source)) != 1:
        raise PublishError(f"{CHECKOUT / 'app.py'} has no single `DEFAULT_MODEL = \"...\"` line to set the model in")
    return DEFAULT_MODEL_LINE.sub(f'DEFAULT_MODEL = "{model}"', source)


def build_space_folder(folder: str | Path, model: str, space: str, title: str | None = None,
                       examples: str | Path | None = None) -> Path:
    """Write everything the Space needs into `folder` (created; must be empty or absent)."""
    folder = Path(folder)
    if not (CHECKOUT / "app.py").is_file():
        raise PublishError(f"no app.py beside the package in {CHECKOUT}: publish-space runs from a source checkout")
    if folder.exists() and any(folder.iterdir()):
        raise PublishError(f"{folder} is not empty")
    app = space_app(model)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(app)
    shutil.copytree(PACKAGE, folder / "pix2pix_hub", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    examples = Path(examples) if examples else CHECKOUT / "examples"
    for image in sorted(examples.glob("*.png")) if examples.is_dir() else []:
        (folder / "examples").mkdir(exist_ok=True)
        shutil.copy2(image, folder / "examples" / image.name)
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
    if check_model_on_hub(model, token):
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
        description="Create or update a Gradio Space that serves a trained model from the Hub.\n\n" + __doc__.split("\n", 2)[2])
    parser.add_argument("--model", required=True, help="the model's Hub id, user/name (push it first)")
    parser.add_argument("--space", required=True, help="the Space's id, user/space-name (created if absent)")
    parser.add_argument("--private", action="store_true", help="create the Space private")
    parser.add_argument("--dry-run", metavar="DIR", help="only write the Space's folder to DIR, no Hub access")
    parser.add_argument("--title", help="the Space's title (default: the model's name)")
    parser.add_argument("--examples", metavar="DIR", help="example images (*.png) for the app (default: examples/)")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the one `hf auth login` stored)")
    args = parser.parse_args(argv)
    model, space = check_repo_id(args.model, "model"), check_repo_id(args.space, "space")
    if args.dry_run:
        folder = build_space_folder(args.dry_run, model, space, args.title, args.examples)
        print(f"wrote the Space for {model} to {folder} (dry run: nothing uploaded)")
        return 0
    url = publish_space(model, space, args.private, args.token, args.title, args.examples)
    print(f"published {model} at {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
