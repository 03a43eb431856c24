"""What app.py shows for a gallery entry: the canvas's input kind and palette, its one-line description, its
examples (examples/gallery/, made by scripts/make_gallery_examples.py; sources in examples/gallery/SOURCES.md),
and the download's progress while its weights arrive (gallery_store.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .gallery import entry
from .gallery_store import GalleryStore
from .sketch_canvas import palette_entries

EDGE_PALETTE = [{"name": "line", "hex": "#000000", "shown": "#000000", "meaning": "a contour"}]
EXAMPLE_SUFFIXES = (".png", ".jpg")


def canvas_props(model_id: str) -> dict:
    """{kind, palette} for the canvas: a gallery entry's input kind, else the bundled landscape palette."""
    item = entry(model_id)
    if item is None:
        return {"kind": "landscape", "palette": palette_entries()}
    if item.input_kind == "edges":
        return {"kind": "edges", "palette": EDGE_PALETTE}
    if item.input_kind == "labels":
        return {"kind": "labels", "palette": [{"name": name, "hex": colour, "shown": colour, "meaning": name}
                                              for name, colour in item.colours.items()]}
    return {"kind": "photo", "palette": []}


def describe(model_id: str) -> str | None:
    """The status line for a gallery entry: what it makes, from what input, and its source and licence."""
    item = entry(model_id)
    if item is None:
        return None
    wants = {"edges": "a line drawing", "labels": f"a {item.palette} label map", "photo": "a photo"}[item.input_kind]
    return (f"Model `{item.name}`: {item.makes} ({item.family}, {item.netG}; it wants {wants}, "
            f"{item.input_size} px). Weights from the reference ({item.source}), {item.licence}.")


def examples(root: Path, model_id: str) -> list[str]:
    """The entry's example inputs (paths), or [] for a model outside the gallery."""
    if entry(model_id) is None:
        return []
    folder = root / "examples" / "gallery"
    return sorted(str(p) for p in folder.glob(f"{model_id}*") if p.suffix in EXAMPLE_SUFFIXES
                  and p.stem.rstrip("0123456789_-") == model_id)


def progress_lines(store: GalleryStore, model_id: str, every: float = 0.25) -> Iterator[str]:
    """Lines about the entry's download while it runs (bytes of total), then nothing: the caller goes on."""
    if entry(model_id) is None or store.is_ready(model_id):
        return
    state = store.start(model_id)
    while state.state == "downloading":
        yield store.line(model_id)
        state.done.wait(every)
