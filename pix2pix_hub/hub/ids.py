"""What a Hub id is, and one split of a Hub dataset: the Hub's side of a name (no training, no cards)."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub.utils import HFValidationError, validate_repo_id

from ..errors import DataError, first_line


def hub_id_problem(name: str) -> str | None:
    """None for a `user/name` repo id that huggingface_hub accepts; else what is wrong with it."""
    name = str(name or "")
    if name.count("/") != 1:
        return "is not a Hub id of the form user/name"
    try:
        validate_repo_id(name)
    except HFValidationError as error:
        return f"is not a valid Hub id: {error}"
    return None


def is_hub_id(name: str) -> bool:
    """A `user/name` Hub id (huggingface_hub's own rule), and not a local path that exists."""
    return hub_id_problem(name) is None and not Path(str(name)).expanduser().exists()


def load_hub_split(name: str, split: str, streaming: bool = False):
    """One split of a Hub dataset (`datasets.load_dataset`), its failures as one-line DataErrors."""
    import datasets

    try:
        return datasets.load_dataset(name, split=split, streaming=streaming)
    except ValueError as error:
        if "split" in str(error).lower():
            raise DataError(f"{name}: {first_line(error)} (pass --split)") from None
        raise DataError(f"{name}: {first_line(error)}") from None
    except Exception as error:  # offline, unknown repo, network: datasets raises many types
        raise DataError(f"{name}: could not load this dataset ({type(error).__name__}: {first_line(error, 200, '')}); "
                        "check the id and the network (HF_HUB_OFFLINE, HF_ENDPOINT), or pass a local folder") from None
