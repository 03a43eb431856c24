"""The app's drawing canvas: a plain <canvas> in a `gr.HTML` (static/sketch_canvas.js and .css, bundled).

Why not `gr.ImageEditor`: from mouse-up to the new output took 1.2 s median with about 27 HTTP requests per
stroke (benchmarks/browser_latency.py), most of it in the browser before the sketch was even sent. This canvas
keeps the drawing as palette labels at the model's resolution; at each stroke end it sets its value to the sketch
as a small PNG data URL (a few KB: the Translate button's input) and makes ONE request, a gr.HTML server function
(`translate_live`, POST /gradio_api/component_server), answered with the translated image as a data URL, shown
beside the drawing. Brushes stamp hard-edged discs, so the model only ever sees the palette colours it was trained
on; the screen may show a colour tinted (`shown`) to be visible on white.

Props the page reads: size, brush_size, palette, kind (landscape / edges / labels / photo: static/sketch_kinds.js);
model, direction and resolution (sent with each request, set by
the app when they change); result and status (set by the app's own events, e.g. the Translate button).
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.images import BadImageError
from ..data.palette import SEGMENT_MEANINGS, SEGMENT_PALETTE, palette_array
from ..errors import Pix2PixHubError
from .decode import Budget, decode_image

STATIC = Path(__file__).resolve().parent / "static"
# On-screen colours where the palette's own is hard to see: cloud (#f2f2f2) vanishes on a white canvas.
SHOWN = {"cloud": "#c8d4e2"}
MAX_DATA_URL = 4 * 1024 * 1024  # characters: a 256² sketch is ~5 KB, a 1024² one well under 1 MB
MAX_SKETCH_SIDE = 2048
TEMPLATE = '<div class="p2p-canvas"></div>'


class SketchError(Pix2PixHubError, ValueError):
    """The canvas value is not a sketch this app can read."""


def palette_entries() -> list[dict[str, str]]:
    """[{name, hex (what the model gets), shown (on screen), meaning}] in palette order."""
    return [{"name": name, "hex": colour, "shown": SHOWN.get(name, colour), "meaning": SEGMENT_MEANINGS[name]}
            for name, colour in SEGMENT_PALETTE.items()]


def canvas_script() -> str:
    """The canvas's code: the drawing (sketch_canvas.js), then its input kinds (sketch_kinds.js, same scope)."""
    return (STATIC / "sketch_canvas.js").read_text() + "\n" + (STATIC / "sketch_kinds.js").read_text()


def sketch_canvas(size: int, translate_live, model: str, direction: str = "AtoB", brush_size: int = 12,
                  status: str = "Draw something…", kind: str = "landscape", palette: list[dict] | None = None,
                  **kwargs):
    """The canvas component, `size`² model pixels; its value is a PNG data URL ('' when nothing is drawn).
    `translate_live({sketch, model, direction, resolution}) -> {image: data URL or None, status}` answers each
    stroke."""
    return _canvas_class()(value="", html_template=TEMPLATE, css_template=(STATIC / "sketch_canvas.css").read_text(),
                           js_on_load=canvas_script(), apply_default_css=False,
                           server_functions=[translate_live], size=size, brush_size=brush_size,
                           palette=palette if palette is not None else palette_entries(), kind=kind,
                           model=model, direction=direction, resolution="default", result=None, status=status,
                           **kwargs)


@functools.cache
def _canvas_class():
    import gradio as gr

    class SketchCanvas(gr.HTML):
        """gr.HTML whose props are never taken for events. gr.HTML answers any name its script quotes
        (`watch(['result', 'status'])`) with an event trigger, so gr.update(result=...) carried a
        functools.partial beside the prop: its repr reached the page, and API callers got "Object of type
        partial is not JSON serializable"."""

        def __getattr__(self, name: str):
            if name in (self.__dict__.get("props") or {}):
                raise AttributeError(name)
            return super().__getattr__(name)

    return SketchCanvas


def image_data_url(image: Image.Image | None) -> str | None:
    """PNG data URL of an image (the live result travels inline: no file to fetch afterwards)."""
    if image is None:
        return None
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_sketch(value: str | None, budget: Budget | None = None) -> Image.Image | None:
    """The canvas value (a PNG/WebP data URL) -> RGB image, None when empty; SketchError (one line) when
    unreadable, whatever is wrong with it. The image is read by decode.decode_image within `budget` (default:
    a sketch of MAX_SKETCH_SIDE² pixels)."""
    if not value:
        return None
    if not isinstance(value, str) or not value.startswith("data:image/"):
        raise SketchError("the canvas value must be an image data URL (data:image/png;base64,...)")
    if len(value) > MAX_DATA_URL:
        raise SketchError(f"the sketch is {len(value) / 1e6:.1f} MB; at most {MAX_DATA_URL / 1e6:.0f} MB")
    header, _, data = value.partition(",")
    if not header.endswith(";base64"):
        raise SketchError("the canvas data URL must be base64-encoded")
    try:
        data = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise SketchError("the canvas data is not a readable image (not base64)") from None
    try:
        return decode_image(data, "the sketch", budget or Budget(MAX_SKETCH_SIDE ** 2), formats=("PNG", "WEBP"),
                            max_side=MAX_SKETCH_SIDE)
    except BadImageError as error:
        raise SketchError(str(error)) from None


def snap_to_palette(image: Image.Image) -> Image.Image:
    """Every pixel -> the nearest palette colour (white stays white: unpainted), as the canvas paints."""
    colours = np.concatenate([palette_array(), [[255, 255, 255]]]).astype(np.int32)
    pixels = np.asarray(image.convert("RGB"), np.int32)
    nearest = ((pixels[:, :, None, :] - colours[None, None]) ** 2).sum(-1).argmin(-1)
    return Image.fromarray(colours[nearest].astype(np.uint8))


def encode_sketch(image: Image.Image | None, size: int) -> str:
    """An image (an example painting) -> the canvas value: size², snapped to the palette, PNG data URL."""
    if image is None:
        return ""
    return image_data_url(snap_to_palette(image.convert("RGB").resize((size, size), Image.NEAREST)))
