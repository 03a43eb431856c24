"""The model card of a converted reference checkpoint (convert.py)."""

from __future__ import annotations

from pathlib import Path

from ..models import Generator
from ..models.run_mode import train_mode_differs

CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

{{ summary }} Converted from {% if name %}the pretrained model **{{ name }}** of {% endif %}[{{ source }}]({{ source }})
with `python -m pix2pix_hub convert`, which reproduces the original network's outputs (max |Δ| ≤ 1e-5 against
the original implementation in pix2pix-hub's tests).

| | |
|---|---|
| generator | `{{ netG }}`, ngf {{ ngf }}, norm `{{ norm }}`, dropout {{ dropout }} |
| channels | {{ input_nc }} in, {{ output_nc }} out |
| test mode | `{{ test_mode }}` |

## Use it

```python
from PIL import Image
from pix2pix_hub import ImageTranslator, load_generator

translator = ImageTranslator.from_pretrained("{{ repo_id }}"{{ direction_arg }})  # applies test_mode from config.json
output = translator(Image.open("input.png"))

generator = load_generator("{{ repo_id }}"{{ direction_arg }})  # plain nn.Module in eval mode, NCHW in [-1, 1]
```

```bash
python -m pix2pix_hub translate --model {{ repo_id }} --input input.png --output out/{{ direction_flag }}
```

## Test mode: `{{ test_mode }}`

{{ test_mode_text }}

## Conversion

| direction | original checkpoint | sha256 |
|---|---|---|
{% for direction, file in checkpoints.items() %}| {{ direction }} | `{{ file.file }}` | `{{ file.sha256 }}` |
{% endfor %}"""

TEST_MODE_TEXT = {
    "reference_train": (
        "The reference's `test.py` runs generators in train mode unless `--eval` is given: BatchNorm normalizes "
        "each image with its own statistics (not the running averages) and dropout stays on, so repeated runs "
        "differ slightly. Its published pix2pix results were made that way, so "
        "`config.json` says `\"test_mode\": \"reference_train\"`. `ImageTranslator` follows it; `load_generator` "
        "returns the net in eval mode: call `pix2pix_hub.models.run_mode.apply_test_mode(generator, \"reference_train\")` "
        "and run it under `torch.no_grad()` to get the reference's behaviour, or pass `test_mode=\"eval\"` to use the "
        "running statistics (deterministic, often a little different)."),
    "eval": (
        "Eval mode: BatchNorm (if any) uses its running statistics and dropout is off — the behaviour of the "
        "reference's `test.py --eval`. {{ note }}"),
}


def write_converted_card(output_dir: Path, generators: dict[str, Generator], metadata: dict, *, repo_id: str,
                         license: str | None = None) -> None:
    from huggingface_hub import ModelCard, ModelCardData

    generator = next(iter(generators.values()))
    config, source = generator.config, metadata["converted_from"]
    cyclegan = metadata["model_type"] == "cyclegan"
    a, b = metadata["domain_a_name"], metadata["domain_b_name"]
    cut = metadata["model_type"] in ("cut", "fastcut")
    kind = {"cut": "CUT ", "fastcut": "FastCUT "}.get(metadata["model_type"], "")
    antialias = ", anti-aliased" if config.get("antialias") or config.get("antialias_up") else ""
    summary = (f"A CycleGAN with two `{generator.netG}` generators: `AtoB` turns {a} into {b}, `BtoA` the reverse."
               if cyclegan else f"A {kind}`{generator.netG}` generator{antialias} translating {a} → {b}.")
    if metadata["model_type"] == "colorization":
        summary = (f"A colorization model (the reference's `--model colorization`): a `{generator.netG}` generator "
                   "predicting a photo's ab channels (Lab colour space) from its L channel; `ImageTranslator` takes "
                   "a grayscale or colour photo and returns it in colour.")
    mode_text = TEST_MODE_TEXT[metadata["test_mode"]].replace("{{ note }}", "" if train_mode_differs(generator) else
                                                              "This generator has no BatchNorm or dropout, so "
                                                              "train and eval mode give the same outputs.")
    card_data = ModelCardData(
        library_name="pix2pix-hub", pipeline_tag="image-to-image", license=license, model_name=repo_id,
        tags=["pix2pix-hub", "image-to-image", "gan", metadata["model_type"], generator.netG,
              "contrastive-unpaired-translation" if cut else "pytorch-CycleGAN-and-pix2pix", "converted"])
    card = ModelCard.from_template(
        card_data, template_str=CARD_TEMPLATE, title=source["name"] or repo_id.split("/")[-1], summary=summary,
        checkpoints=source["checkpoints"], name=source["name"],
        source=source["source"], netG=generator.netG, ngf=config["ngf"], norm=config["norm"],
        dropout="on" if config["use_dropout"] else "off", input_nc=config["input_nc"], output_nc=config["output_nc"],
        test_mode=metadata["test_mode"], test_mode_text=mode_text, repo_id=repo_id,
        direction_arg=', direction="AtoB"' if cyclegan else "", direction_flag=" --direction AtoB" if cyclegan else "")
    card.save(output_dir / "README.md")
