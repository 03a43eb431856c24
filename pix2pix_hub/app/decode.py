"""The app's one way to read an image a visitor sent: an upload, a sketch's layers, the canvas's data URL.

Whatever the route, `decode_image` reads the header first (PIL's `Image.open` decodes no pixel), refuses what is
not an allowed format or would cost more than the request's `Budget` (pixels and decoded bytes over all the
images of one request, estimated from the headers), decodes the rest reduced to the app's size (JPEG at a
reduced scale while decoding) and turns every decoder error (bombs, truncation, unknown formats, SVG) into one
`BadImageError` line that names the image as the visitor knows it ("the upload", "the sketch", ...).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.images import BadImageError, apply_orientation, orientation_tag, to_8bit

FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "BMP", "GIF", "TIFF")  # MPO: many phones' JPEGs. No EPS, PSD, ...
FORMAT_NAMES = "PNG, JPEG, WebP, BMP, GIF or TIFF"
SHOWN_NAMES = {"WEBP": "WebP"}
# Bytes per pixel once decoded, by the mode the header announces (anything else is counted as 4).
BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "I;16": 2, "I;16B": 2, "I;16L": 2, "RGB": 3,
                   "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4, "RGBX": 4, "CMYK": 4, "I": 4, "F": 4}
RESIZABLE = ("L", "LA", "RGB", "RGBA", "I", "F")  # modes PIL reduces as they are (I;16 is widened to I first)


class Budget:
    """What one request may decode, over all its images together: `max_pixels` pixels and `max_bytes` decoded
    bytes (default: an RGBA image at the pixel limit), charged from each header before its pixels are read."""

    def __init__(self, max_pixels: int, max_bytes: int | None = None):
        self.max_pixels, self.max_bytes = max_pixels, max_bytes or 4 * max_pixels
        self.pixels = self.bytes = 0

    def charge(self, size: tuple[int, int], mode: str, what: str) -> None:
        (width, height), limit = size, self.max_pixels / 1e6
        pixels = width * height
        cost = pixels * BYTES_PER_PIXEL.get(mode, 4)
        if pixels > self.max_pixels:
            raise BadImageError(f"{what}: {width}x{height} is over this server's limit of {limit:g} megapixels; "
                                "downscale it first")
        if self.pixels + pixels > self.max_pixels or self.bytes + cost > self.max_bytes:
            raise BadImageError(f"{what}: {width}x{height} brings this request to "
                                f"{(self.pixels + pixels) / 1e6:.3g} megapixels, over this server's limit of "
                                f"{limit:g} for all its images together; send fewer or smaller images")
        self.pixels, self.bytes = self.pixels + pixels, self.bytes + cost


def decode_image(source, what: str, budget: Budget, *, reduce_to: int | None = None, mode: str = "RGB",
                 formats: tuple[str, ...] = FORMATS, max_side: int | None = None) -> Image.Image:
    """A path, bytes, PIL image or array -> an 8-bit `mode` ("RGB": transparency over white; "RGBA") image,
    upright (EXIF orientation), reduced to fit `reduce_to` px; `.info["uploaded_size"]` is its displayed size.
    Files must be one of `formats` and at most `max_side` px a side. Raises BadImageError, one line, never
    anything else for a bad image."""
    if isinstance(source, np.ndarray):
        source = array_to_image(source)
    if isinstance(source, Image.Image):
        budget.charge(source.size, source.mode, what)
        return _finish(source, source.size, 1, reduce_to, mode)
    image = open_header(source, what)
    with image:
        if image.format not in formats:
            names = FORMAT_NAMES if formats == FORMATS else " or ".join(SHOWN_NAMES.get(f, f) for f in formats)
            raise BadImageError(f"{what} must be {names}, not {image.format}")
        if min(image.size) < 1 or (max_side and max(image.size) > max_side):
            raise BadImageError(f"{what} is {image.width}×{image.height}; at most {max_side} px a side")
        budget.charge(image.size, image.mode, what)
        size = image.size
        try:
            if reduce_to and max(size) > reduce_to and image.format in ("JPEG", "MPO"):
                image.draft("RGB", (reduce_to, reduce_to))  # decoded at 1/2 to 1/8 scale: a fraction of the memory
            image.load()
            tag = orientation_tag(image)
            return _finish(image, size, tag, reduce_to, mode)
        except BadImageError:
            raise
        except Exception as error:  # noqa: BLE001 -- PIL raises many types for damaged files
            raise BadImageError(f"{what} is damaged or truncated ({type(error).__name__}); save it again as "
                                "PNG or JPEG") from None


def open_header(source, what: str) -> Image.Image:
    """The image opened lazily (its header read, no pixel decoded), or one line saying why it cannot be."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    elif not isinstance(source, (str, Path)) or not Path(source).is_file():
        raise BadImageError(f"{what} is missing: send an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the budget decides, from the size
            return Image.open(source)
    except Image.DecompressionBombError:
        raise BadImageError(f"{what} claims far more pixels than this server decodes (a decompression bomb?); "
                            "downscale it first") from None
    except Exception as error:  # noqa: BLE001 -- UnidentifiedImageError, SyntaxError, struct.error...
        raise BadImageError(f"{what} is not a readable image ({type(error).__name__}): send a {FORMAT_NAMES} "
                            "file (an SVG or other drawing: export it as PNG)") from None


def _finish(image: Image.Image, size: tuple[int, int], tag: int, reduce_to: int | None, mode: str) -> Image.Image:
    """Reduce first (so every later copy is small), then 8-bit, upright, `mode`."""
    if reduce_to and max(image.size) > reduce_to:
        if image.mode.startswith("I;16"):
            image = image.convert("I")
        elif image.mode not in RESIZABLE:
            image = image.convert("RGBA" if "transparency" in image.info or "A" in image.getbands() else "RGB")
        scale = reduce_to / max(image.size)  # (resize, not thumbnail: a caller's image is never changed)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.LANCZOS, reducing_gap=2.0)
    if mode == "RGBA":
        image = image.convert("RGBA") if image.mode in ("RGBA", "LA", "P", "PA", "L", "RGB") else \
            to_8bit(image).convert("RGBA")
    else:
        image = to_8bit(image).convert(mode)
    image = apply_orientation(image, tag)
    image.info["uploaded_size"] = size[::-1] if tag in (5, 6, 7, 8) else size
    return image


def array_to_image(array: np.ndarray) -> Image.Image:
    """numpy (as gradio passes them: uint8, or floats in [0, 1] or [0, 255]) -> PIL."""
    if array.dtype != np.uint8:
        array = np.clip(array * (255 if array.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
    return Image.fromarray(array)


def decode_editor_value(value: dict, budget: Budget, reduce_to: int, max_layers: int) -> Image.Image | None:
    """An ImageEditor value {background, layers, composite} (files, PIL or arrays) -> RGB, None when empty.
    The composite is used when there is one (the layers are then never decoded); otherwise the layers are
    decoded one at a time, reduced, and laid over the background on white."""
    layers = [layer for layer in value.get("layers") or [] if layer is not None]
    if len(layers) > max_layers:
        raise BadImageError(f"the sketch has {len(layers)} layers; this server takes at most {max_layers}: "
                            "merge them first")
    if value.get("composite") is not None:
        return decode_image(value["composite"], "the sketch", budget, reduce_to=reduce_to)
    parts = ([("the sketch's background", value["background"])] if value.get("background") is not None else [])
    parts += [(f"the sketch's layer {i + 1}", layer) for i, layer in enumerate(layers)]
    if not parts:
        return None
    canvas = None
    for what, part in parts:
        image = decode_image(part, what, budget, reduce_to=reduce_to, mode="RGBA")
        if canvas is None:
            canvas = Image.new("RGBA", image.size, (255, 255, 255, 255))
            uploaded = image.info["uploaded_size"]
        canvas = Image.alpha_composite(canvas, image if image.size == canvas.size else image.resize(canvas.size))
    result = canvas.convert("RGB")
    result.info["uploaded_size"] = uploaded
    return result
