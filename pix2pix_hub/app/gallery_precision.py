"""fp16 on disk for a gallery entry, only where it is measured to be harmless.

After an entry's weights are converted (fp32), its examples go through the app's own translator twice: with the
weights as they are and with every floating-point tensor rounded to fp16. If each output stays at least
`min_db` PSNR (peak 1.0, outputs in [0, 1]) from the fp32 one, model.safetensors is rewritten in fp16 (half the
cache's bytes; loading casts back to fp32, so what runs is exactly what was measured). Otherwise, or with no
example to measure on, it stays fp32. Either way precision.json in the folder records the decision and the
figures.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..evaluation.metrics import psnr_db

RECORD = "precision.json"


@dataclass
class PrecisionDecision:
    stored: str  # fp16 | fp32
    min_db: float  # the bound it was held to
    psnr_db: dict[str, float] = field(default_factory=dict)  # example file name -> PSNR of fp16 against fp32
    reason: str = ""


def outputs(translator, images) -> list:
    """The translator's float outputs, with the same random draws on every call: the reference runs pix2pix
    with dropout on at test time (test_mode reference_train), which must not count as fp16's error."""
    import numpy as np
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(0)
        return [translator.translate_array(image, np.float32)[0] for image in images]


def decide(folder: Path, examples: list[str], min_db: float) -> PrecisionDecision:
    """Measure fp16 against fp32 on `examples` and rewrite the folder's weights in fp16 when all stay ≥ min_db."""
    import torch
    from PIL import Image

    from ..data.images import read_array
    from ..inference.translator import ImageTranslator
    from ..loading.load import load_generator

    if not examples:
        return record(folder, PrecisionDecision("fp32", min_db, reason="no example to measure fp16 on"))
    generator = load_generator(folder)
    translator = ImageTranslator(generator, device="cpu", backend="eager", tile=None)
    images = []
    for path in examples:
        with Image.open(path) as image:
            images.append(read_array(image.convert(translator.input_mode), channels=translator.image_channels))
    with torch.no_grad():
        full = outputs(translator, images)
        halved = {name: tensor.half() if tensor.is_floating_point() else tensor
                  for name, tensor in generator.state_dict().items()}
        generator.load_state_dict(halved)  # cast back to fp32 on load: the rounding is what is measured
        rounded = outputs(translator, images)
    figures = {Path(p).name: round(psnr_db(a, b, 1.0), 2) for p, a, b in zip(examples, full, rounded)}
    worst = min(figures.values())
    if worst < min_db:
        return record(folder, PrecisionDecision("fp32", min_db, figures,
                                                f"fp16 reaches {worst:.1f} dB on an example, under {min_db:g} dB"))
    write_weights(folder / "model.safetensors", halved)
    return record(folder, PrecisionDecision("fp16", min_db, figures, f"every example ≥ {min_db:g} dB"))


def write_weights(path: Path, tensors: dict) -> None:
    """model.safetensors replaced atomically (a crash leaves the fp32 file, never half a file)."""
    from safetensors.torch import save_file

    staging = path.with_name(f".{path.name}.fp16-{os.getpid()}")
    save_file({name: t.contiguous() for name, t in tensors.items()}, str(staging), metadata={"format": "pt"})
    os.replace(staging, path)


def record(folder: Path, decision: PrecisionDecision) -> PrecisionDecision:
    (folder / RECORD).write_text(json.dumps(asdict(decision), indent=1, allow_nan=True) + "\n")
    return decision


def recorded(folder: Path) -> dict | None:
    """What decide() wrote for this folder, or None."""
    try:
        return json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
