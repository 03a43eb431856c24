"""From decoded images to training items: the reference's scaling, crops and flips, and the checks on the way.

Shared by the map-style dataset (data.py) and the stream (streaming.py); item i's randomness comes from the
generator the caller passes in, never from global state.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..config import DataConfig
from ..errors import DataError, first_line
from .images import ORIENTATION_KEY, BadImageError, apply_orientation, open_image, orientation_tag, pil_to_tensor

logger = logging.getLogger("pix2pix_hub")


def ref_name(ref) -> str:
    return str(ref) if isinstance(ref, Path) else (ref.get("path") or "<image bytes>")


def decode(ref, mode: str, orientation: str = "apply") -> Image.Image:
    if isinstance(ref, dict):
        if ref.get("bytes") is not None:
            return open_image(ref["bytes"], mode=mode, name=ref_name(ref), orientation=orientation)
        return open_image(ref["path"], mode=mode, orientation=orientation)
    return open_image(ref, mode=mode, orientation=orientation)


def peek_orientation(ref) -> int:
    """A file's EXIF orientation from its header, without decoding the pixels (1 when unreadable)."""
    import io

    try:
        source = ref if not isinstance(ref, dict) else (
            io.BytesIO(ref["bytes"]) if ref.get("bytes") is not None else ref["path"])
        with Image.open(source) as image:
            return orientation_tag(image)
    except Exception:  # noqa: BLE001 -- an unreadable partner is reported when it is decoded itself
        return 1


class OrientationCount:
    """Images whose EXIF orientation tag was applied or ignored, for the run's summary line.

    The rule: an aligned A|B file is split as stored (its tag ignored, as the reference, which never reads
    EXIF); a pair of separate A and B files is turned alike: both as their (equal) tags say, or both as
    stored when their tags differ; an unpaired image is shown as its tag says, as any viewer shows it."""

    def __init__(self, per_read: bool = False):
        self.seen: dict[int, str] = {}  # id(ref) -> "applied" | "ignored": each file counted once
        self.per_read = per_read  # a stream: every image read counts (its refs are not kept)
        self.reads = {"applied": 0, "ignored": 0}

    def note(self, ref, tag: int, applied: bool) -> None:
        if tag != 1:
            what = "applied" if applied else "ignored"
            if self.per_read:
                self.reads[what] += 1
            else:
                self.seen[id(ref)] = what

    def summary(self) -> str:
        applied = sum(v == "applied" for v in self.seen.values()) + self.reads["applied"]
        ignored = len(self.seen) + sum(self.reads.values()) - applied
        parts = [f"{applied} applied"] if applied else []
        parts += [f"{ignored} ignored (aligned A|B files are split as stored; a pair whose tags differ is "
                  "used as stored)"] if ignored else []
        return f"; EXIF orientation tags: {', '.join(parts)}" if parts else ""


def oriented(image: Image.Image, ref, *, aligned: bool, partner_tag: int | None,
             count: OrientationCount) -> Image.Image:
    """Apply `image`'s EXIF orientation (decoded with orientation="ignore") by the rule of OrientationCount.
    `partner_tag`: the other file's tag, for a pair of separate A and B files (None when unpaired)."""
    tag = image.info.get(ORIENTATION_KEY, 1)
    apply = tag != 1 and not aligned and (partner_tag is None or partner_tag == tag)
    count.note(ref, tag, apply)
    return apply_orientation(image, tag) if apply else image


def scaled_size(config: DataConfig, width: int, height: int, train: bool) -> tuple[int, int]:
    p = config.preprocess
    if not train and p in ("resize_and_crop", "crop"):
        return config.resolution, config.resolution  # evaluation: the whole image at the crop size
    if p == "resize_and_crop":
        return config.load_size, config.load_size
    if p in ("scale_width", "scale_width_and_crop"):
        return config.load_size, max(round(config.load_size * height / width), config.resolution)
    return width, height


def random_crop_and_flip(config: DataConfig, size: tuple[int, int], rng: np.random.Generator, train: bool):
    """(crop box or None, flip) — drawn once per item and applied to both A and B."""
    crop = None
    if train and config.preprocess in ("resize_and_crop", "crop", "scale_width_and_crop"):
        width, height = size
        if width < config.resolution or height < config.resolution:
            raise DataError(f"an image of {width}x{height} is smaller than --resolution {config.resolution}; "
                            "use --preprocess resize_and_crop or a smaller --resolution")
        x = int(rng.integers(0, width - config.resolution + 1))
        y = int(rng.integers(0, height - config.resolution + 1))
        crop = (x, y, x + config.resolution, y + config.resolution)
    flip = train and not config.no_flip and rng.random() > 0.5
    return crop, flip


def finish_image(image: Image.Image, crop, flip: bool, multiple: int = 4) -> torch.Tensor:
    if crop:
        image = image.crop(crop)
    if flip:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    width, height = image.size
    if width % multiple or height % multiple:  # the generator's size_multiple (the reference's make_power_2 has 4)
        m = multiple
        image = image.resize((max(m, round(width / m) * m), max(m, round(height / m) * m)), Image.BICUBIC)
    return pil_to_tensor(image)


def scale_image(config: DataConfig, image: Image.Image, train: bool, halves: bool = False) -> Image.Image:
    """Resize as --preprocess says; `halves`: an aligned A|B image, each half scaled on its own."""
    if not halves:
        return image.resize(scaled_size(config, *image.size, train), Image.BICUBIC)
    half = image.width // 2
    a, b = image.crop((0, 0, half, image.height)), image.crop((half, 0, image.width, image.height))
    size = scaled_size(config, half, image.height, train)
    joined = Image.new("RGB", (size[0] * 2, size[1]))
    joined.paste(a.resize(size, Image.BICUBIC), (0, 0))
    joined.paste(b.resize(size, Image.BICUBIC), (size[0], 0))
    return joined


def check_aligned(ref, image: Image.Image) -> None:
    if image.width % 2:
        raise BadImageError(f"{ref_name(ref)}: an aligned A|B image of odd width {image.width} cannot be split "
                            "into equal halves; crop it to an even width")


def check_pair_sizes(config: DataConfig, ref_a, a: Image.Image, ref_b, b: Image.Image) -> None:
    """Paired images share one crop box, so they must have one size once scaled."""
    if a.size != b.size:
        raise BadImageError(f"{ref_name(ref_b)}: {b.width}x{b.height} but its A partner {ref_name(ref_a)} is "
                            f"{a.width}x{a.height} after --preprocess {config.preprocess}; paired images need the "
                            "same size: resize one, or use --preprocess resize_and_crop")


def skip_or_raise(config: DataConfig, bad_images: list, ref, error: Exception) -> bool:
    """--on_bad_image error: raise one line naming the file; skip: count it in `bad_images`, return False."""
    message = first_line(error, empty=f"{ref_name(ref)}: {type(error).__name__}")
    if config.on_bad_image == "error":
        raise DataError(f"{message} (or pass --on_bad_image skip)") from None
    bad_images.append((ref_name(ref), message))
    logger.warning("skipping %s", message)
    return False


def split_aligned(joined: Image.Image) -> tuple[Image.Image, Image.Image]:
    half = joined.width // 2
    return joined.crop((0, 0, half, joined.height)), joined.crop((half, 0, joined.width, joined.height))


def make_item(config: DataConfig, a: Image.Image, b: Image.Image, rng: np.random.Generator, *, paired: bool,
              train: bool, multiple: int = 4) -> dict:
    """Scaled A and B images -> {"A", "B"} tensors: paired data shares one crop and flip, unpaired draws two."""
    modes = ("L" if config.input_nc == 1 else "RGB", "L" if config.output_nc == 1 else "RGB")
    if paired:
        crop, flip = random_crop_and_flip(config, a.size, rng, train)
        return {"A": finish_image(a.convert(modes[0]), crop, flip, multiple),
                "B": finish_image(b.convert(modes[1]), crop, flip, multiple)}
    crop_a, flip_a = random_crop_and_flip(config, a.size, rng, train)
    crop_b, flip_b = random_crop_and_flip(config, b.size, rng, train)
    return {"A": finish_image(a.convert(modes[0]), crop_a, flip_a, multiple),
            "B": finish_image(b.convert(modes[1]), crop_b, flip_b, multiple)}
