"""`ImageTranslator`: images in, images out, at the size the model should see them, in tiles when large.

    translator = ImageTranslator.from_pretrained("user/horse2zebra")          # ResNet: resolution="native"
    zebra = translator(Image.open("horse.jpg"))                                 # PIL in, PIL out, same size
    out16, info = translator.translate_array(read_array("scan.tif"))            # uint16/float in -> same out
    print(info.describe())                                                      # "ran at 1600×1200 (native) ..."

Resolution (`resolution=`): "model" scales the image so its longer side is the training resolution (the
scale the model learnt its strokes and textures at) and the result back to the input's size; an integer
does the same at that many px; "native" runs at the image's own pixels. Default: "native" for ResNet
generators (CycleGAN: fully convolutional, normally run at the photo's size), "model" for the U-Net
(pix2pix: its 8 levels reach a 1x1 bottleneck over exactly one training-size field of view; at several
times that size each deep feature sees a fraction of the scene it was trained on). The canvas is padded
(reflect) to the generator's size multiple and cropped back.

Tiles (tiling.py): when a forward pass over the canvas would need more than `memory_budget` bytes (or with
an explicit `tile`), the canvas runs in overlapping tiles blended without seams; InstanceNorm layers then
use statistics of the whole image taken from a thumbnail, whose pass gets the budget the tiles leave (at least
half): it may run while a tile shape's compiled buffers are held.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ..data.images import DEPTH_NAMES, MIN_SIDE, BadImageError, convert_depth, read_array, scale_of, to_channels
from ..data.lab import model_to_rgb, rgb_to_model
from ..errors import ConfigError
from ..loading.load import load_generator
from ..models import Generator
from ..models.factory import parse_netG
from ..models.run_mode import apply_test_mode
from . import tiling

Backend = Callable[..., torch.Tensor]
DEFAULT_MEMORY_BUDGET = 1.5 * 2**30  # bytes of activations one forward pass may hold (tile and thumbnail size)


def best_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def parse_resolution(value) -> str | int:
    """ "model", "native" or a positive integer (also given as a string on the command line)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if value in ("model", "native") or (isinstance(value, int) and not isinstance(value, bool) and value >= MIN_SIDE):
        return value
    raise ConfigError(f"resolution {value!r}: use model (the training scale), native (the image's own pixels) "
                      f"or a longer side in px (at least {MIN_SIDE})")


@dataclass(frozen=True)
class RunInfo:
    """What happened to one image: its size, the size the model ran at and how."""

    input_size: tuple[int, int]  # (width, height)
    run_size: tuple[int, int]
    resolution: str | int
    plan: str  # "whole image" or "N tiles of WxH"
    backend: str
    depth: str  # "8-bit", "16-bit", "float"

    def describe(self) -> str:
        (w, h), (rw, rh) = self.input_size, self.run_size
        how = {"model": "the model's training scale", "native": "native"}.get(self.resolution, f"resolution {self.resolution}")
        scaled = "" if (w, h) == (rw, rh) else f", output scaled back to {w}×{h}"
        return f"ran at {rw}×{rh} ({how}){scaled}, {self.plan}, {self.depth}, {self.backend}"


class ImageTranslator:
    """Translate images with a trained generator; see the module's docstring for resolution and tiles.

    >>> translator = ImageTranslator.from_pretrained("user/facades-pix2pix")
    >>> photo = translator(Image.open("labels.png"))
    """

    def __init__(self, generator: Generator, device: str | None = None, resolution: str | int | None = None,
                 test_mode: str | None = None, backend: Backend | str | None = None, precision: str = "fp32",
                 tile: int | str | None = "auto", overlap: int | None = None,
                 memory_budget: float = DEFAULT_MEMORY_BUDGET):
        """`backend`: "auto" (default on CPU: the verified ONNX fast path, see fast_inference.py; eager on
        CUDA/MPS), "eager", "openvino", "onnxruntime", or any callable NCHW tensor -> NCHW tensor (tiles then
        run through it as they are, without whole-image statistics).
        `precision`: "fp32" (outputs within 1e-3 of eager), or opt-in "bf16"/"int8" on OpenVINO (faster, not exact).
        `tile`: "auto" (tiles only when the canvas exceeds `memory_budget`), None (never), or a side in px;
        `overlap`: px shared by neighbouring tiles (default tiling.default_overlap)."""
        config = generator.config
        self.device = device or best_device()
        self.test_mode = test_mode or config.get("test_mode", "eval")
        self.generator = apply_test_mode(generator.to(self.device), self.test_mode)
        self.training_resolution = int(config.get("resolution", 256))
        if resolution is None:
            resolution = "model" if parse_netG(generator.netG).kind == "unet" else "native"
        self.resolution = parse_resolution(resolution)
        if not (tile in ("auto", None) or (isinstance(tile, int) and tile > 0)):
            raise ConfigError(f"tile {tile!r}: use auto, none or a side in px")
        self.tile, self.overlap, self.memory_budget = tile, overlap, float(memory_budget)
        self.size_multiple = generator.size_multiple
        self.in_channels, self.out_channels = config.get("input_nc", 3), config.get("output_nc", 3)
        # colorization: grey or colour photos in (image_channels 3); the net sees their Lab L, predicts ab (lab.py)
        self.colorization = config.get("model_type") == "colorization"
        self.image_channels = 3 if self.colorization else self.in_channels
        self.input_mode = "L" if self.image_channels == 1 else "RGB"
        self._bytes_per_pixel: float | None = None
        self.precision, self._requested_backend = precision, backend
        self._tile_runners: dict[tuple, Backend] = {}
        self.backend: Backend = self.run_eager
        self.backend_name = "eager"
        self.backend_reason: str | None = None
        if callable(backend):
            self.backend, self.backend_name = backend, getattr(backend, "name", "custom")
        elif self._fast_path_wanted():
            self.use_fast_path(backend or "auto", precision)
        self.last_seconds = 0.0
        self.last_run: RunInfo | None = None

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, direction: str | None = None, device: str | None = None,
                        revision: str | None = None, test_mode: str | None = None, **kwargs) -> "ImageTranslator":
        device = device or best_device()
        generator = load_generator(path_or_id, direction, revision=revision, device=device)
        return cls(generator, device=device, test_mode=test_mode, **kwargs)

    def _fast_path_wanted(self) -> bool:
        backend = self._requested_backend
        return not callable(backend) and (backend or ("auto" if self.device == "cpu" else "eager")) != "eager"

    def use_fast_path(self, backend: str = "auto", precision: str = "fp32") -> None:
        """Switch to the fastest verified CPU runner (falls back to eager, with `backend_reason` saying why)."""
        from .fast import build_backend

        side = tiling.round_up(self.training_resolution, self.size_multiple)
        runner = build_backend(self.generator, (1, self.in_channels, side, side), backend, precision)
        self.backend, self.backend_name, self.backend_reason = runner, runner.name, runner.reason

    @torch.inference_mode()
    def run_eager(self, batch: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        return self.generator(batch.to(self.device), *(t.to(self.device) for t in extra)).float().cpu()

    def _frozen_runner(self, tile_shape: tuple) -> Backend:
        """The runner for tiles with whole-image statistics: FrozenStatistics through the same kind of backend."""
        if "frozen" not in self._tile_runners:
            frozen = tiling.FrozenStatistics(self.generator)
            if self._fast_path_wanted():
                from .fast import build_backend
                runner = build_backend(frozen, tile_shape, self._requested_backend or "auto", self.precision)
            else:
                device = self.device

                @torch.inference_mode()
                def runner(batch, *stats):
                    return frozen(batch.to(device), *(t.to(device) for t in stats)).float().cpu()
                runner.name = "eager"
            self._tile_runners["frozen"] = runner
        return self._tile_runners["frozen"]

    # -- sizes ----------------------------------------------------------------------------------
    @property
    def bytes_per_pixel(self) -> float:
        """Activation bytes a forward pass holds per input pixel (measured once, on a small probe)."""
        if self._bytes_per_pixel is None:
            self._bytes_per_pixel = tiling.activation_bytes_per_pixel(self.generator, self.in_channels)
        return self._bytes_per_pixel

    def run_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the model runs at for an input of that size."""
        if self.resolution == "native":
            return width, height
        side = self.training_resolution if self.resolution == "model" else self.resolution
        scale = side / max(width, height)
        return max(1, round(width * scale)), max(1, round(height * scale))

    def plan(self, width: int, height: int) -> tiling.TilePlan:
        multiple = self.size_multiple
        tile = self.tile
        if tile == "auto":
            tile = tiling.auto_tile(self.bytes_per_pixel, tiling.round_up(height, multiple),
                                    tiling.round_up(width, multiple), multiple, self.memory_budget)
        return tiling.plan_tiles(height, width, multiple, tile, self.overlap, fit=self.tile == "auto")

    # -- translation --------------------------------------------------------------------------
    def translate_array(self, array: np.ndarray, out_dtype=None,
                        progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, RunInfo]:
        """HxW or HxWxC uint8 / uint16 / float32-in-[0, 1] array -> (HxWx`out_channels` array of `out_dtype`
        (default: the input's), RunInfo). Only tiles are ever converted to float. A colorization model gives RGB.
        `progress(1)` after each tile."""
        if self.colorization:
            return self.colorize_array(array, out_dtype, progress)
        return self.run_array(array, out_dtype, progress)

    def colorize_array(self, array: np.ndarray, out_dtype=None, progress=None) -> tuple[np.ndarray, RunInfo]:
        """A grey or colour photo -> the photo in colour: its own L (at full size), the ab the model predicts from
        that L (run as any other 1 -> 2 channel image: scaled, tiled, fast path), in the reference's Lab scaling."""
        out_dtype = np.dtype(out_dtype or array.dtype)
        rgb = torch.from_numpy(np.ascontiguousarray(convert_depth(to_channels(array, 3), np.float32)))
        lightness, _ = rgb_to_model(rgb.permute(2, 0, 1)[None] * 2 - 1)  # L / 50 - 1
        lightness_01 = ((lightness[0, 0] + 1) / 2).clamp(0, 1).numpy().astype(np.float32)[:, :, None]
        ab_01, info = self.run_array(lightness_01, np.float32, progress)
        ab = torch.from_numpy(np.ascontiguousarray(ab_01)).permute(2, 0, 1)[None] * 2 - 1
        photo = ((model_to_rgb(lightness, ab)[0].permute(1, 2, 0) + 1) / 2).numpy().astype(np.float32)
        info = dataclasses.replace(info, depth=DEPTH_NAMES[array.dtype])
        self.last_run = info
        return convert_depth(photo, out_dtype), info

    def run_array(self, array: np.ndarray, out_dtype=None, progress=None) -> tuple[np.ndarray, RunInfo]:
        """The generator over an image of its own channels (in_channels in, out_channels out)."""
        start = time.perf_counter()
        out_dtype = np.dtype(out_dtype or array.dtype)
        array = to_channels(array, self.in_channels)
        height, width = array.shape[:2]
        if min(width, height) < MIN_SIDE:
            raise BadImageError(f"a {width}x{height} image is too small to translate (sides under {MIN_SIDE} px)")
        run_w, run_h = self.run_size(width, height)
        scaled = array if (run_w, run_h) == (width, height) else resize(array, run_w, run_h)
        plan = self.plan(run_w, run_h)
        scale = scale_of(scaled)
        stats = None
        run = self.backend
        if plan.count > 1 and tiling.norm_layers(self.generator) and not callable(self._requested_backend):
            # the thumbnail's pass may run while a tile shape's compiled buffers are held (the next image in a
            # folder): the two share the budget, the thumbnail getting what the tiles leave and at least half
            tile_bytes = plan.tile_h * plan.tile_w * self.bytes_per_pixel
            thumbnail_budget = max(self.memory_budget - tile_bytes, self.memory_budget / 2)
            side = max(MIN_SIDE, math.isqrt(int(thumbnail_budget / self.bytes_per_pixel)))
            stats = tiling.thumbnail_statistics(self.generator, scaled, scale, side, self.size_multiple)
            run = self._frozen_runner((1, self.in_channels, plan.tile_h, plan.tile_w))
        work_dtype = out_dtype if (run_w, run_h) == (width, height) else np.dtype(np.float32)
        output = tiling.translate_tiles(run, scaled, scale, plan, self.out_channels, work_dtype, stats, progress)
        if (run_w, run_h) != (width, height):
            output = convert_depth(resize(output, width, height), out_dtype)
        self.last_seconds = time.perf_counter() - start
        info = RunInfo((width, height), (run_w, run_h), self.resolution, plan.describe(),
                       getattr(run, "name", self.backend_name), DEPTH_NAMES[array.dtype])
        self.last_run = info
        return output, info

    def translate(self, image: Image.Image) -> tuple[Image.Image, RunInfo]:
        """PIL in (any mode: 16-bit "I;16" and float "F" at full precision), PIL 8-bit out, same size, and RunInfo."""
        output, info = self.translate_array(read_array(image, channels=self.image_channels), np.uint8)
        return Image.fromarray(output[:, :, 0] if output.shape[2] == 1 else output), info

    def __call__(self, images: Image.Image | Sequence[Image.Image], batch_size: int = 8):
        """PIL in, PIL out (8-bit, the input's size); a list gives a list. `batch_size` is kept for callers of
        the earlier batched version: images now run one at a time (tiles bound the memory instead)."""
        single = isinstance(images, Image.Image)
        outputs = [self.translate(image)[0] for image in ([images] if single else images)]
        return outputs[0] if single else outputs


def resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic (antialiased when shrinking) resize of an HxWxC array; uint8 stays uint8, others become float32
    in [0, 1], so 16-bit images keep their precision."""
    if array.dtype == np.uint8:
        channels = [Image.fromarray(array[:, :, c]).resize((width, height), Image.BICUBIC) for c in range(array.shape[2])]
        return np.stack([np.asarray(c) for c in channels], axis=2)
    unit = array.astype(np.float32) / np.float32(scale_of(array))
    channels = [Image.fromarray(unit[:, :, c], "F").resize((width, height), Image.BICUBIC) for c in range(unit.shape[2])]
    return np.clip(np.stack([np.asarray(c) for c in channels], axis=2), 0.0, 1.0).astype(np.float32)
