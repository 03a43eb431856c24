"""A trained model on the Hub: its model card (from the training config) and the upload of its output folder."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from ..config import TrainConfig
from ..output_files import MANIFEST
from .ids import is_hub_id
from .upload import upload_model_folder

# What stays out of an upload of output_dir: resumable state and logs, not the model.
NOT_UPLOADED = ["checkpoint-*", "checkpoint-*/**", "logs/**", "samples/**", "*.partial/**", "train.lock", MANIFEST]

CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

{{ summary }}

![validation samples]({{ samples_file }})

*{{ samples_caption }}*

## Use it

```bash
# in a checkout of pix2pix-hub ({{ repo_url }}), after `pip install -r requirements.txt`
python -m pix2pix_hub translate --model {{ repo_id }} --input photo.png --output out/{{ direction_flag }}
```

```python
from PIL import Image
from pix2pix_hub import ImageTranslator, load_generator

translator = ImageTranslator.from_pretrained("{{ repo_id }}"{{ direction_arg }})
output = translator(Image.open("input.png"))         # PIL in, PIL out, same size as the input

generator = load_generator("{{ repo_id }}"{{ direction_arg }})  # plain nn.Module, NCHW in [-1, 1]
```
{% if metrics %}
## Results

Measured on {{ num_validation }} validation images at the end of training:

| metric | value |
|---|---|
{% for name, value in metrics.items() %}| {{ name }} | {{ "%.4g" | format(value) }} |
{% endfor %}{% endif %}
## Training

- Data: `{{ dataset }}`{% if skipped_images %} ({{ skipped_images }} unreadable images skipped){% endif %}
- Command: `{{ command }}`
- Trained with [pix2pix-hub]({{ repo_url }}), following {{ method }}.

<details><summary>Every training argument</summary>

```json
{{ arguments }}
```
</details>
"""


# -- model cards ----------------------------------------------------------------------------------
def metrics_to_eval_results(metrics: dict[str, float], dataset_name: str, split: str = "test",
                            dataset_type: str | None = None) -> list:
    """huggingface_hub EvalResults for a model card's model-index (task image-to-image)."""
    from huggingface_hub import EvalResult

    return [EvalResult(task_type="image-to-image", dataset_type=dataset_type or dataset_name, dataset_name=dataset_name,
                       dataset_split=split, metric_type=name, metric_name=name, metric_value=float(value))
            for name, value in metrics.items()]


METHODS = {
    "pix2pix": "Isola et al. 2017 (pix2pix) and the defaults of junyanz/pytorch-CycleGAN-and-pix2pix",
    "cyclegan": "Zhu et al. 2017 (CycleGAN) and the defaults of junyanz/pytorch-CycleGAN-and-pix2pix",
    "cut": "Park et al. 2020 (CUT, Contrastive Unpaired Translation) and the defaults of "
           "taesungp/contrastive-unpaired-translation (`--CUT_mode CUT`)",
    "fastcut": "Park et al. 2020 (FastCUT) and the defaults of taesungp/contrastive-unpaired-translation "
               "(`--CUT_mode FastCUT`)",
}


def dataset_name(config: TrainConfig) -> str:
    d = config.data
    return d.dataset or f"{d.dataset_a} + {d.dataset_b}"


def hub_datasets(config: TrainConfig) -> list[str] | None:
    """Hub dataset ids (not local folders) for the card's `datasets:` field."""
    names = [config.data.dataset, config.data.dataset_a, config.data.dataset_b]
    ids = [n for n in names if n and is_hub_id(n)]
    return ids or None


def write_model_card(output_dir: str | Path, config: TrainConfig, metrics: dict[str, float],
                     skipped_images: int = 0, samples_file: str = "samples.png") -> ModelCard:
    output_dir = Path(output_dir)
    m = config.model
    cyclegan = m.model == "cyclegan"
    repo_id = config.output.hub_model_id or output_dir.name
    domains = f"{m.domain_a_name} → {m.domain_b_name}"
    card_data = ModelCardData(
        library_name="pix2pix-hub", pipeline_tag="image-to-image", license="bsd-3-clause",
        tags=["pix2pix-hub", "image-to-image", "gan", m.model, m.netG],
        datasets=hub_datasets(config), model_name=repo_id,
        eval_results=metrics_to_eval_results(metrics, dataset_name(config), config.data.validation_split or "validation") if metrics else None,
    )
    if cyclegan:
        summary = (f"A CycleGAN trained on unpaired images, with two {m.netG} generators: `AtoB` turns "
                   f"{m.domain_a_name} into {m.domain_b_name}, `BtoA` does the reverse.")
        caption = "Rows: real, translated, reconstructed (A → B → A, then B → A → B)."
    elif m.model == "colorization":
        summary = (f"A colorization model (the reference's `--model colorization`): a {m.netG} generator predicting "
                   "the ab channels (Lab colour space) of a photo from its L channel, trained with a "
                   f"{m.netD} PatchGAN on colour photos. Give it a grayscale or colour photo; it returns the photo "
                   "in colour (its own L, the predicted ab).")
        caption = "Columns: input (L) | colourised | photo."
    elif m.model in ("cut", "fastcut"):
        mode = "FastCUT" if m.model == "fastcut" else "CUT"
        antialias = "anti-aliased " if not m.no_antialias else ""
        summary = (f"A {mode} model (contrastive unpaired translation) trained on unpaired images: one {antialias}"
                   f"{m.netG} generator translating {domains} ({config.data.direction}), kept faithful to its input "
                   f"by PatchNCE (λ_NCE {config.cut.lambda_NCE:g}, layers {config.cut.nce_layers}"
                   f"{', identity term' if config.cut.nce_idt else ''}"
                   f"{', flip equivariance' if config.cut.flip_equivariance else ''}) and a {m.netD} PatchGAN.")
        caption = "Columns: real A | translated | real B | G(B) (B through the same generator)."
    else:
        summary = (f"A pix2pix model ({m.netG} generator, {m.netD} PatchGAN) translating {domains} "
                   f"({config.data.direction}), trained on paired images.")
        caption = "Columns: input | output | target."
    card = ModelCard.from_template(
        card_data, template_str=CARD_TEMPLATE,
        title=f"{repo_id.split('/')[-1]}: {m.model} {domains}", summary=summary, samples_file=samples_file,
        samples_caption=caption, repo_id=repo_id, repo_url="https://github.com/pix2pix-hub/pix2pix-hub",
        direction_arg=', direction="AtoB"' if cyclegan else "", direction_flag=" --direction AtoB" if cyclegan else "",
        metrics=metrics, num_validation=config.output.num_validation_images, dataset=dataset_name(config),
        skipped_images=skipped_images, command=training_command(),
        arguments=json.dumps(config.to_dict(), indent=2), method=METHODS.get(m.model, METHODS["pix2pix"]),
    )
    card.save(output_dir / "README.md")
    return card


def training_command() -> str:
    args = sys.argv[1:] if Path(sys.argv[0]).name == "train.py" else []
    return "python train.py " + " ".join(shlex.quote(a) for a in args) if args else "python train.py ..."


def push_output_dir(output_dir: str | Path, config: TrainConfig, branch: str | None = None,
                    path_in_repo: str | None = None) -> str:
    """Create the repo if needed and upload the model folder (not checkpoints or logs)."""
    out = config.output
    repo_id = out.hub_model_id or Path(out.output_dir).name  # (not output_dir's: it may be a checkpoint folder)
    return upload_model_folder(output_dir, repo_id, private=out.hub_private, token=out.hub_token, branch=branch,
                               path_in_repo=path_in_repo, ignore_patterns=None if path_in_repo else NOT_UPLOADED,
                               commit_message="Upload pix2pix-hub model")
