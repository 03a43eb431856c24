"""Decoding images robustly (any mode, bit depth, orientation), converting to and from tensors, and grids.

The one home of image <-> tensor conversion: tensors are CHW (or 1xCHW) floats in [-1, 1].
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import Pix2PixHubError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}  # what folders are searched for
MIN_SIDE = 8
MAX_PIXELS = 64_000_000  # larger files are refused as probable decompression bombs (8000x8000)
ORIENTATION_TAG = 0x0112  # EXIF Orientation: 1 = as stored; 2-8 = mirror and/or rotate to display
ORIENTATION_KEY = "exif_orientation"  # open_image leaves the file's tag in image.info under this key
# The EXIF orientation -> the transpose that displays it upright (as PIL's ImageOps.exif_transpose does).
TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
             5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_90}


class BadImageError(Pix2PixHubError, ValueError):
    """An image that cannot be used; the message names the file, the problem and the fix."""


def _name(source) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", "<image>")


def open_image(source, *, mode: str = "RGB", max_side: int | None = None, name: str | None = None,
               max_pixels: int = MAX_PIXELS, orientation: str = "apply") -> Image.Image:
    """Open a path, bytes, file object, numpy array or PIL image as an 8-bit `mode` ("RGB" or "L") image.

    Transparency is composited over white, 16-bit images are scaled (not clipped), CMYK and palette
    images are converted. The EXIF orientation is applied (`orientation="apply"`) or the stored pixels
    kept (`"ignore"`, as an aligned A|B file needs); either way the tag (1 when none) is left in
    `image.info["exif_orientation"]`. With `max_side`, large images are reduced while
    decoding (JPEG draft mode), so a 20-megapixel photo costs little memory. Images over MAX_PIXELS are
    refused from their header, before any pixel is decoded (decompression bombs; `max_pixels` raises the
    limit for a caller that means to take huge images, as `translate --max_megapixels`). `name` names bytes
    in error messages.
    """
    name = name or _name(source)
    if isinstance(source, np.ndarray):
        source = Image.fromarray(source)
    if not isinstance(source, Image.Image):
        if isinstance(source, (str, Path)) and not Path(source).is_file():
            raise BadImageError(f"{name}: no such file; check the path")
        empty = len(source) == 0 if isinstance(source, (bytes, bytearray)) else (
            isinstance(source, (str, Path)) and Path(source).stat().st_size == 0)
        if empty:
            raise BadImageError(f"{name}: the file is empty (0 bytes); re-export or remove it")
        data = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
        try:
            with warnings.catch_warnings(), _pil_pixel_limit(max_pixels):
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(data)  # reads the header only
                if max_side and max(image.size) > max_side:
                    image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale
                if image.width * image.height > max_pixels:  # after draft: the size that would be decoded
                    raise BadImageError(f"{name}: {image.width}x{image.height} is too large to decode safely "
                                        f"(> {max_pixels // 1_000_000} MP); downscale it first")
                image.load()
        except BadImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise BadImageError(f"{name}: refused as a decompression bomb ({error}); downscale it first") from None
        except Exception as error:  # PIL raises many types for broken files
            raise BadImageError(f"{name}: cannot be decoded ({type(error).__name__}: {error}); "
                                "the file is truncated or not an image — re-export or remove it") from None
    else:
        image = source
    if min(image.size) < MIN_SIDE:
        raise BadImageError(f"{name}: {image.width}x{image.height} is too small (sides under {MIN_SIDE} px); remove it")
    tag = orientation_tag(image)
    image = to_8bit(image)
    if orientation == "apply":
        image = apply_orientation(image, tag)
    elif orientation != "ignore":
        raise ValueError(f"orientation must be 'apply' or 'ignore', got {orientation!r}")
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.LANCZOS)
    image = image.convert(mode)
    image.info[ORIENTATION_KEY] = tag
    return image


def orientation_tag(image: Image.Image) -> int:
    """The EXIF orientation of an opened image: 1 (as stored) when there is none or it is not 1-8."""
    try:
        tag = image.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 -- a damaged EXIF block: the pixels are still fine, as stored
        return 1
    return tag if tag in TRANSPOSE else 1


def apply_orientation(image: Image.Image, tag: int) -> Image.Image:
    """The image as a viewer shows a file carrying EXIF orientation `tag`."""
    return image.transpose(TRANSPOSE[tag]) if tag in TRANSPOSE else image


@contextlib.contextmanager
def _pil_pixel_limit(max_pixels: int):
    """PIL refuses images over its own limit (89 MP warns, 179 MP raises); a caller asking for more than ours
    (checked from the header above) lifts PIL's for the duration. The default never touches it."""
    if max_pixels <= MAX_PIXELS:
        yield
        return
    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max(max_pixels, Image.MAX_IMAGE_PIXELS or 0)
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def to_8bit(image: Image.Image) -> Image.Image:
    """Flatten transparency over white and bring 16/32-bit and CMYK images to 8-bit RGB or L.
    Float images with values in [0, 1] are read as such (0 black, 1 white), other floats and 32-bit
    integers as 0..255, or 0..65535 when they go above 255."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        if image.mode == "F" and array.size and 0 <= array.min() and array.max() <= 1:
            top = 1.0
        return Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" or (image.mode in ("L", "RGB") and "transparency" in image.info):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode not in ("RGB", "L"):
        return image.convert("RGB")  # CMYK, YCbCr, 1, ...
    return image


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL (RGB or L) -> float CHW in [-1, 1]."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.transpose(2, 0, 1) / 127.5 - 1.0)


def tensor_to_array(tensor: torch.Tensor) -> np.ndarray:
    """CHW in [-1, 1] -> HWC uint8."""
    return ((tensor.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    """CHW or 1xCHW in [-1, 1] -> PIL RGB or L."""
    if tensor.dim() == 4:
        tensor = tensor[0]
    array = tensor_to_array(tensor)
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


def image_grid(rows: list[list[torch.Tensor]], gap: int = 2) -> Image.Image:
    """Rows of equally sized CHW images in [-1, 1], side by side, on white (grey images shown as RGB)."""
    h, w = rows[0][0].shape[-2:]
    columns = max(len(row) for row in rows)
    canvas = np.full((len(rows) * (h + gap) - gap, columns * (w + gap) - gap, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            canvas[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = tensor_to_array(image)
    return Image.fromarray(canvas)


# -- full precision: 16-bit and float images as arrays ----------------------------------------------------
HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I", "F")
SCALES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.float32): 1.0}
DEPTH_NAMES = {np.dtype(np.uint8): "8-bit", np.dtype(np.uint16): "16-bit", np.dtype(np.float32): "float"}


def scale_of(array: np.ndarray) -> float:
    """The value that means white: 255 (uint8), 65535 (uint16), 1.0 (float32 in [0, 1])."""
    return SCALES[array.dtype]


def read_array(source, *, channels: int = 3, name: str | None = None, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An image as an HxWx`channels` array at the file's own precision: uint8 for 8-bit files, uint16 for 16-bit
    PNG/TIFF (RGB too, which PIL would cut to 8 bits), float32 in [0, 1] for float TIFFs. Transparency is
    composited over white at that precision; everything else (and every check) is `open_image`'s."""
    name = name or _name(source)
    if isinstance(source, np.ndarray):
        return to_channels(_checked_array(source, name), channels)
    if isinstance(source, Image.Image):
        if source.mode in HIGH_BIT_MODES:
            return to_channels(_checked_array(np.asarray(source), name), channels)
        return to_channels(np.asarray(open_image(source, mode="L" if channels == 1 else "RGB", name=name)), channels)
    if isinstance(source, (str, Path)) and Path(source).is_file() and Path(source).stat().st_size > 0:
        header = _peek(source)
        if header == "high" or (header == "unknown" and Path(source).suffix.lower() in (".tif", ".tiff")):
            return to_channels(_decode_full_precision(Path(source).read_bytes(), name, max_pixels), channels)
    elif isinstance(source, (bytes, bytearray)) and len(source) and _peek(io.BytesIO(source)) == "high":
        return to_channels(_decode_full_precision(bytes(source), name, max_pixels), channels)
    image = open_image(source, mode="L" if channels == 1 else "RGB", name=name, max_pixels=max_pixels)
    return to_channels(np.asarray(image), channels)


def _peek(source) -> str:
    """"high" when the file holds more than 8 bits per sample (read from its header), "8" when not,
    "unknown" when PIL cannot tell (float RGB TIFFs, which PIL cannot open)."""
    try:
        with Image.open(source) as image:
            rawmodes = [str(tile.args[0] if isinstance(tile.args, tuple) else tile.args) for tile in image.tile]
            return "high" if image.mode in HIGH_BIT_MODES or any(";16" in r or ";32" in r for r in rawmodes) else "8"
    except Exception:  # noqa: BLE001 -- PIL raises many types; open_image or OpenCV names the problem
        return "unknown"


def _decode_full_precision(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    import cv2  # OpenCV reads 16-bit RGB PNG/TIFF and float TIFF, which PIL cannot

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise BadImageError(f"{name}: cannot be decoded (neither PIL nor OpenCV read it); the file is truncated "
                            "or not an image — re-export or remove it")
    if array.shape[0] * array.shape[1] > max_pixels:
        raise BadImageError(f"{name}: {array.shape[1]}x{array.shape[0]} is too large to decode safely "
                            f"(> {max_pixels // 1_000_000} MP); downscale it first")
    if array.ndim == 3:
        order = [2, 1, 0, 3][: array.shape[2]] if array.shape[2] in (3, 4) else list(range(array.shape[2]))
        array = array[:, :, order]  # OpenCV's BGR(A) -> RGB(A)
    array = _checked_array(array, name)
    if array.ndim == 3 and array.shape[2] in (2, 4):  # grey/colour + alpha: over white, at full precision
        white = scale_of(array)
        alpha = array[:, :, -1:].astype(np.float32) / white
        flat = array[:, :, :-1].astype(np.float32) * alpha + white * (1 - alpha)
        array = flat.astype(np.float32) if array.dtype == np.float32 else np.rint(flat).astype(array.dtype)
    return array


def _checked_array(array: np.ndarray, name: str) -> np.ndarray:
    """uint8/uint16 as they are; wider integers that fit 16 bits as uint16; floats must lie in [0, 1]."""
    if min(array.shape[:2]) < MIN_SIDE:
        raise BadImageError(f"{name}: {array.shape[1]}x{array.shape[0]} is too small (sides under {MIN_SIDE} px); remove it")
    if array.dtype in (np.uint8, np.uint16):
        return array
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 65535:
            raise BadImageError(f"{name}: integer pixel values from {low} to {high} do not fit 16 bits; "
                                "save it as 8- or 16-bit, or as float in [0, 1]")
        return array.astype(np.uint16)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise BadImageError(f"{name}: the float image holds NaN or infinite values; fix or remove it")
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 1:
            raise BadImageError(f"{name}: float pixel values from {low:g} to {high:g}; float images are read as "
                                "[0, 1] (0 black, 1 white): rescale it to that range")
        return array.astype(np.float32)
    raise BadImageError(f"{name}: pixels of type {array.dtype} are not supported; save it as 8/16-bit or float")


def to_channels(array: np.ndarray, channels: int) -> np.ndarray:
    """HxW or HxWxC -> HxWx`channels` (grey repeated into RGB; RGB to grey with PIL's "L" weights), same dtype."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] == channels:
        return array
    if channels == 3 and array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    if channels == 1 and array.shape[2] == 3:
        grey = array.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        grey = grey if array.dtype == np.float32 else np.clip(np.rint(grey), 0, scale_of(array)).astype(array.dtype)
        return grey[:, :, None]
    raise ValueError(f"cannot turn {array.shape[2]} channel(s) into {channels}")


def convert_depth(array: np.ndarray, dtype) -> np.ndarray:
    """The same picture in another precision (uint8, uint16 or float32 in [0, 1])."""
    dtype = np.dtype(dtype)
    if array.dtype == dtype:
        return array
    unit = array.astype(np.float32) / np.float32(scale_of(array))
    return unit if dtype == np.float32 else np.rint(unit * SCALES[dtype]).astype(dtype)


def write_array(path: str | Path, array: np.ndarray) -> Path:
    """Write HxWx1/3 uint8 (PNG, JPEG, ...), uint16 (PNG or TIFF) or float32 (TIFF) whole or not at all: to a
    temporary name beside it, then renamed, so a killed run never leaves a half-written image."""
    path = Path(path)
    suffix = path.suffix.lower()
    if array.dtype == np.float32 and suffix not in (".tif", ".tiff"):
        raise ValueError(f"{path}: float images can only be written as TIFF (.tif)")
    if array.dtype == np.uint16 and suffix not in (".png", ".tif", ".tiff"):
        raise ValueError(f"{path}: 16-bit images can only be written as PNG or TIFF")
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        if array.dtype == np.uint8:
            Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(
                tmp, format=Image.registered_extensions()[suffix])
        else:
            import cv2
            ok, encoded = cv2.imencode(suffix, array[:, :, 0] if array.shape[2] == 1 else array[:, :, ::-1])
            if not ok:
                raise OSError(f"OpenCV could not encode {path.name}")
            tmp.write_bytes(encoded.tobytes())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
