"""How a model is saved: one generator at the root (pix2pix), or AtoB/ and BtoA/ folders (CycleGAN).

config.json holds the generator's constructor arguments (what `from_pretrained` needs) plus `model_type`,
`generator`, `netG`, `direction`, domain names and how to run it (`test_mode`). Loading is pretrained.py's.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError
from . import Generator, ResnetGenerator, UnetGenerator

GENERATOR_CLASSES: dict[str, type[Generator]] = {"unet": UnetGenerator, "resnet": ResnetGenerator}
DIRECTIONS = ("AtoB", "BtoA")


def generator_kind(generator: Generator) -> str:
    return next(kind for kind, cls in GENERATOR_CLASSES.items() if isinstance(generator, cls))


def save_model_folder(output_dir: str | Path, generators: dict[str, Generator], metadata: dict) -> Path:
    """Write one generator (pix2pix) at the root, or one folder per direction (CycleGAN).

    `metadata` (model_type, domain names, test_mode, training arguments, metrics...) goes into
    every config.json beside each generator's own constructor arguments.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if set(generators) - set(DIRECTIONS):
        raise ConfigError(f"generators must be keyed by {DIRECTIONS}, got {sorted(generators)}")

    def save(generator: Generator, folder: Path, direction: str) -> None:
        config = {**generator.config, **metadata, "generator": generator_kind(generator),
                  "netG": generator.netG, "direction": direction}
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "README.md").touch()  # keep the mixin from writing its own stub card; the real one comes later
        generator.save_pretrained(folder, config=config)
        if (folder / "README.md").stat().st_size == 0:
            (folder / "README.md").unlink()

    if len(generators) == 1:
        direction, generator = next(iter(generators.items()))
        save(generator, output_dir, direction)
    else:
        for direction, generator in generators.items():
            save(generator, output_dir / direction, direction)
        root = {**metadata, "directions": sorted(generators)}
        (output_dir / "config.json").write_text(json.dumps(root, indent=2, sort_keys=True))
    return output_dir
