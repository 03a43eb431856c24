"""Decoding images robustly (any mode, bit depth, orientation), converting to and from tensors, and grids.

The one home of image <-> tensor conversion: tensors are CHW (or 1xCHW) floats in [-1, 1].
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .errors import Pix2PixHubError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}  # what folders are searched for
MIN_SIDE = 8
MAX_PIXELS = 64_000_000  # larger files are refused as probable decompression bombs (8000x8000)


class BadImageError(Pix2PixHubError, ValueError):
    """An image that cannot be used; the message names the file, the problem and the fix."""


def _name(source) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", "<image>")


def open_image(source, *, mode: str = "RGB", max_side: int | None = None, name: str | None = None) -> Image.Image:
    """Open a path, bytes, file object, numpy array or PIL image as an 8-bit `mode` ("RGB" or "L") image.

    Transparency is composited over white, 16-bit images are scaled (not clipped), CMYK and palette
    images are converted, EXIF rotation is applied. With `max_side`, large images are reduced while
    decoding (JPEG draft mode), so a 20-megapixel photo costs little memory. Images over MAX_PIXELS are
    refused from their header, before any pixel is decoded (decompression bombs). `name` names bytes
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
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(data)  # reads the header only
                if max_side and max(image.size) > max_side:
                    image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale
                if image.width * image.height > MAX_PIXELS:  # after draft: the size that would be decoded
                    raise BadImageError(f"{name}: {image.width}x{image.height} is too large to decode safely "
                                        f"(> {MAX_PIXELS // 1_000_000} MP); downscale it first")
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
    image = ImageOps.exif_transpose(image)
    image = to_8bit(image)
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.LANCZOS)
    return image.convert(mode)


def to_8bit(image: Image.Image) -> Image.Image:
    """Flatten transparency over white and bring 16/32-bit and CMYK images to 8-bit RGB or L."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
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
