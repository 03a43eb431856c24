"""The layout of a saved model, on disk and on the Hub, and `load_generator`.

pix2pix:   config.json + model.safetensors at the root (one generator).
CycleGAN:  config.json at the root saying which domain is which, and one folder per direction,
           AtoB/ and BtoA/, each a complete `from_pretrained` folder of its own.
config.json holds the generator's constructor arguments (what `from_pretrained` needs) plus
`model_type`, `generator`, `netG`, `direction`, domain names and how to run it (`test_mode`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import first_line
from ..hub.files import ModelLoadError, mib
from ..models import Generator
from ..models.base import WeightMismatchError
from ..models.folder import DIRECTIONS, GENERATOR_CLASSES
from .resolve import is_local, resolve_model_folder

MAX_CONFIG_BYTES = 1_000_000  # a config.json is a few KB; a larger one is not a model's
# What a config.json may say for each constructor argument: (type, lowest, highest) or the allowed values.
GENERATOR_ARGUMENTS = {
    "input_nc": (int, 1, 4), "output_nc": (int, 1, 4), "ngf": (int, 1, 1024), "num_downs": (int, 5, 12),
    "n_blocks": (int, 0, 64), "use_dropout": (bool,), "norm": ("batch", "instance", "none"),
    "padding_type": ("reflect", "replicate", "zero"),
}


def read_model_config(folder: Path, where: str | None = None) -> dict:
    """config.json as a dict, its shared keys checked (directions, resolution, domain names, test_mode).
    `where` names the file in messages (a Hub id's, rather than the cache path)."""
    config_path = folder / "config.json"
    where = where or str(config_path)
    if not config_path.is_file():
        raise ModelLoadError(f"{folder} has no config.json: it is not a pix2pix-hub model folder "
                             "(a reference .pth checkpoint? use `python -m pix2pix_hub convert`)")
    if config_path.stat().st_size > MAX_CONFIG_BYTES:
        raise ModelLoadError(f"{where} is {config_path.stat().st_size:,} bytes: not a model's config.json")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{where} is not valid JSON ({error})") from error
    except RecursionError:
        raise ModelLoadError(f"{where} is nested too deeply to be a model's config.json") from None
    check_shared_keys(config, where)
    return config


def bad_key(where, key: str, value, expected: str) -> ModelLoadError:
    shown = json.dumps(value)[:60] if not isinstance(value, (dict, list)) else type(value).__name__
    return ModelLoadError(f"{where}: {key!r} is {shown}, expected {expected}; fix config.json or save the model again")


def check_shared_keys(config, where) -> None:
    """The keys every config.json may hold besides the generator's arguments; a wrong type is one line."""
    if not isinstance(config, dict):
        raise ModelLoadError(f"{where}: holds a JSON {type(config).__name__}, not an object of model settings; "
                             "it is not a pix2pix-hub config.json")
    directions = config.get("directions")
    if directions is not None and not (isinstance(directions, list) and directions
                                       and set(map(str, directions)) <= set(DIRECTIONS)):
        raise bad_key(where, "directions", directions, f"a list of {' and '.join(DIRECTIONS)}")
    resolution = config.get("resolution")
    if resolution is not None and (type(resolution) is not int or not 8 <= resolution <= 4096):
        raise bad_key(where, "resolution", resolution, "a whole number of pixels from 8 to 4096")
    for key in ("domain_a_name", "domain_b_name", "model_type", "direction", "generator", "netG"):
        if config.get(key) is not None and not isinstance(config[key], str):
            raise bad_key(where, key, config[key], "a string")
    if config.get("test_mode") not in (None, "eval", "reference_train"):
        raise bad_key(where, "test_mode", config["test_mode"], "'eval' or 'reference_train'")


def generator_arguments(config: dict, where) -> tuple[type[Generator], dict]:
    """(generator class, constructor arguments) from a generator's config.json, every argument checked."""
    import inspect

    kind = config.get("generator")
    if kind not in GENERATOR_CLASSES:
        raise ModelLoadError(f"{where}: unknown generator {kind!r} (expected one of {sorted(GENERATOR_CLASSES)})")
    cls = GENERATOR_CLASSES[kind]
    names = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    arguments = {name: config[name] for name in names if name in config}
    for name, value in arguments.items():
        rule = GENERATOR_ARGUMENTS.get(name)
        if rule is None:
            continue
        if rule[0] is int and (type(value) is not int or not rule[1] <= value <= rule[2]):
            raise bad_key(where, name, value, f"a whole number from {rule[1]} to {rule[2]}")
        if rule[0] is bool and type(value) is not bool:
            raise bad_key(where, name, value, "true or false")
        if isinstance(rule[0], str) and value not in rule:
            raise bad_key(where, name, value, "one of " + ", ".join(rule))
    return cls, arguments


def generator_bytes(cls: type[Generator], arguments: dict) -> int:
    """Bytes of the generator's parameters and buffers, counted on the `meta` device (nothing allocated)."""
    import torch

    with torch.device("meta"):
        model = cls(**arguments)
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def check_weights_fit(cls: type[Generator], arguments: dict, weights: Path) -> None:
    """The tensor names and shapes of model.safetensors (read from its header) against the architecture that
    config.json describes (built on `meta`): a mismatch is refused before any tensor is allocated."""
    import safetensors
    import torch

    from ..models.base import load_state_dict_checked

    with torch.device("meta"):
        model = cls(**arguments)
    with safetensors.safe_open(str(weights), framework="pt") as file:
        shapes = {key: torch.empty(file.get_slice(key).get_shape(), device="meta") for key in file.keys()}
    load_state_dict_checked(model, shapes, check_only=True)


def pick_direction(config: dict, direction: str | None) -> str | None:
    """The subfolder to load: None for a single-generator repo."""
    directions = config.get("directions")
    if not directions:
        trained = config.get("direction", "AtoB")
        if direction not in (None, trained):
            raise ModelLoadError(
                f"this {config.get('model_type', 'pix2pix')} model has one generator, trained {trained}; "
                f"it cannot translate {direction}. Leave direction unset")
        return None
    if direction is None:
        return "AtoB"
    if direction not in directions:
        raise ModelLoadError(f"direction must be one of {directions}, got {direction!r}")
    return direction


@dataclass
class GeneratorSpec:
    """What config.json says about one generator, read and checked before its weights are fetched."""

    folder: Path  # holds its config.json (and model.safetensors, once fetched)
    subfolder: str | None  # AtoB/BtoA in a CycleGAN repo
    config: dict
    cls: type[Generator]
    arguments: dict
    name: Callable[[str], str]  # a file of it as messages name it: "user/model: AtoB/config.json" or the path

    @property
    def bytes(self) -> int:
        return generator_bytes(self.cls, self.arguments)


def generator_spec(path_or_id: str | Path, direction: str | None = None, *, revision: str | None = None,
                   local_files_only: bool = False) -> GeneratorSpec:
    """Read and check the config.json of the generator `load_generator` would load (only configs are fetched)."""
    fetch = dict(revision=revision, local_files_only=local_files_only)
    root = resolve_model_folder(path_or_id, weights=False, **fetch)
    on_hub = not Path(path_or_id).is_dir()

    def namer(folder: Path) -> Callable[[str], str]:  # a Hub model's files by the id, never by the cache's path
        return lambda file: (f"{path_or_id}: {(folder / file).relative_to(root).as_posix()}".rstrip("/")
                             if on_hub else str(folder / file))

    config = read_model_config(root, namer(root)("config.json"))
    subfolder = pick_direction(config, direction)
    folder = root / subfolder if subfolder else root
    if not (folder / "config.json").is_file():
        folder = resolve_model_folder(path_or_id, subfolder=subfolder, weights=False, **fetch) / subfolder
    config = read_model_config(folder, namer(folder)("config.json"))
    cls, arguments = generator_arguments(config, namer(folder)("config.json"))
    return GeneratorSpec(folder, subfolder, config, cls, arguments, namer(folder))


def load_generator(path_or_id: str | Path, direction: str | None = None, *, revision: str | None = None,
                   device: str = "cpu", local_files_only: bool = False, max_bytes: int | None = None) -> Generator:
    """The generator of a saved model (local folder or Hub id), in eval mode, on `device`.

    For CycleGAN repos `direction` picks AtoB (default) or BtoA. config.json is checked key by key, and the
    weights' names and shapes against it, before any tensor is allocated; `max_bytes` refuses an
    architecture whose parameters would need more (a public Space's budget) before its weights are fetched.
    """
    spec = generator_spec(path_or_id, direction, revision=revision, local_files_only=local_files_only)
    return load_from_spec(spec, path_or_id, revision=revision, device=device, local_files_only=local_files_only,
                          max_bytes=max_bytes)


def load_from_spec(spec: GeneratorSpec, path_or_id: str | Path, *, revision: str | None = None, device: str = "cpu",
                   local_files_only: bool = False, max_bytes: int | None = None) -> Generator:
    """`load_generator` for a spec already read (the app's memory estimate reads it first: once per load)."""
    if max_bytes is not None and spec.bytes > max_bytes:
        raise ModelLoadError(f"{spec.name('config.json')}: a {spec.config.get('netG', spec.cls.__name__)} generator "
                             f"with ngf {spec.arguments.get('ngf', 64)} needs {mib(spec.bytes)}, over this server's "
                             f"limit of {mib(max_bytes)} per model")
    weights = spec.folder / "model.safetensors"
    if not weights.is_file() and not is_local(path_or_id):  # a Hub id: now the weights, within the cap
        resolve_model_folder(path_or_id, revision, spec.subfolder, local_files_only, max_weights_bytes=max_bytes)
    if not weights.is_file():
        raise ModelLoadError(f"{spec.name('')} has no model.safetensors")
    for step in ("check", "load"):  # the header against config.json (nothing allocated), then the tensors
        try:
            if step == "check":
                check_weights_fit(spec.cls, spec.arguments, weights)
            else:
                generator = spec.cls.from_pretrained(spec.folder, map_location=device)
        except WeightMismatchError:
            raise
        except Exception as error:  # noqa: BLE001 -- safetensors raises its own error types for a damaged file
            raise ModelLoadError(f"{spec.name('model.safetensors')} cannot be read ({type(error).__name__}: "
                                 f"{first_line(error, 160, 'empty')}); download or "
                                 "save the model again") from error
    return generator  # its .config: config.json
