"""Translating an image of any size in tiles, with no seams and one set of normalisation statistics.

    plan = plan_tiles(height, width, multiple=4, tile=256, overlap=64)
    stats = thumbnail_statistics(generator, image, scale=255, side=1024)   # None for BatchNorm-eval nets
    out = translate_tiles(run, image, scale=255, plan=plan, out_channels=3, out_dtype=np.uint8, stats=stats)

Tiles: the image is (virtually) reflect-padded to the generator's size multiple; tiles of one size start at
multiples of it (so the strided convolutions see the same sampling grid as on the whole image), spread
evenly with at least `overlap` px shared by neighbours. Each output tile is weighted by a separable
raised-cosine window that is 0 in the outer quarter of each shared strip, rises over its middle half and is 1
beyond: neighbours' weights sum to 1 (a partition of unity), and the pixels nearest a tile's border, which
saw the tile's padding instead of the image, get no weight. Weights are still normalised by their sum.

Statistics: InstanceNorm (and BatchNorm in train mode, the reference's test mode) normalises each input
with its own mean and variance, so per-tile statistics give every tile another colour. As in Thumbnail
Instance Normalization (Chen et al., "Towards Ultra-Resolution Neural Style Transfer via Thumbnail Instance
Normalization", AAAI 2022), each such layer's per-channel mean and variance are recorded on a downscaled
copy of the whole image and then applied, frozen, in every tile (`FrozenStatistics`). BatchNorm in eval
mode already uses fixed running statistics and needs nothing.

Memory: tiles are read from the image as they are needed (a uint8/uint16/float32 HWC array, never a
float copy of the whole), and the output is accumulated in float32 one band of tile rows at a time, so
beyond the input and output arrays only about one band (tile height x width x channels x 4 bytes) is held.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

Stats = list[tuple[torch.Tensor, torch.Tensor]]  # per self-normalising layer: (mean, inverse std), 1xCx1x1
MARGIN = 0.25  # fraction of each shared strip, at either end, where a tile's output gets no weight


# -- which layers normalise with their input's own statistics ---------------------------------------------------
def self_normalising(module: nn.Module) -> bool:
    """InstanceNorm without running statistics, or BatchNorm normalising with batch statistics (train mode)."""
    if isinstance(module, nn.modules.instancenorm._InstanceNorm):
        return module.training or not module.track_running_stats
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return module.training or module.running_mean is None or not module.track_running_stats
    return False


def norm_layers(generator: nn.Module) -> list[nn.Module]:
    return [module for module in generator.modules() if self_normalising(module)]


def _dims(module: nn.Module, x: torch.Tensor) -> tuple[int, ...]:
    # InstanceNorm: over H, W for each image; BatchNorm (batch statistics): over N, H, W
    return (2, 3) if isinstance(module, nn.modules.instancenorm._InstanceNorm) else (0, 2, 3)


def _normalise(module: nn.Module, x: torch.Tensor, mean: torch.Tensor, inv_std: torch.Tensor) -> torch.Tensor:
    y = (x - mean) * inv_std
    if getattr(module, "affine", False) and module.weight is not None:
        y = y * module.weight.view(1, -1, 1, 1) + module.bias.view(1, -1, 1, 1)
    return y


@contextlib.contextmanager
def _patched(layers: Sequence[nn.Module], make_forward: Callable[[int, nn.Module], Callable]) -> Iterator[None]:
    """Replace each layer's forward for the duration (an instance attribute shadows the class's method)."""
    for index, module in enumerate(layers):
        module.forward = make_forward(index, module)
    try:
        yield
    finally:
        for module in layers:
            del module.forward


@torch.inference_mode()
def collect_statistics(generator: nn.Module, batch: torch.Tensor) -> Stats:
    """Each self-normalising layer's (mean, 1/sqrt(var + eps)) when `generator` runs on `batch` (1xCxHxW)."""
    layers = norm_layers(generator)
    stats: Stats = [None] * len(layers)  # type: ignore[list-item]

    def make_forward(index: int, module: nn.Module):
        def forward(x: torch.Tensor) -> torch.Tensor:
            dims = _dims(module, x)
            mean = x.mean(dims, keepdim=True)
            inv_std = torch.rsqrt(x.var(dims, unbiased=False, keepdim=True) + module.eps)
            stats[index] = (mean[:1], inv_std[:1])
            return _normalise(module, x, mean, inv_std)
        return forward

    with _patched(layers, make_forward):
        generator(batch)
    return stats


class FrozenStatistics(nn.Module):
    """`generator` with its self-normalising layers using given statistics: forward(x, mean_0, inv_std_0, ...).

    A plain module of tensors in and out, so it exports to ONNX with the statistics as extra inputs and
    runs in the fast CPU path (fast_inference.py) like the generator itself.
    """

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator
        self.layers = norm_layers(generator)
        self.size_multiple = getattr(generator, "size_multiple", 1)
        self.training = generator.training

    def forward(self, x: torch.Tensor, *flat_stats: torch.Tensor) -> torch.Tensor:
        if len(flat_stats) != 2 * len(self.layers):
            raise ValueError(f"expected {2 * len(self.layers)} statistics tensors, got {len(flat_stats)}")

        def make_forward(index: int, module: nn.Module):
            return lambda t: _normalise(module, t, flat_stats[2 * index], flat_stats[2 * index + 1])

        with _patched(self.layers, make_forward):
            return self.generator(x)

    def extra_inputs(self, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The statistics that make this module reproduce the plain generator on `batch` (for export and checks)."""
        return flatten(collect_statistics(self.generator, batch[:1]))


def flatten(stats: Stats) -> tuple[torch.Tensor, ...]:
    return tuple(t.float().contiguous() for pair in stats for t in pair)


# -- the tile grid -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TilePlan:
    """Where the tiles go on the padded canvas (canvas_h x canvas_w, multiples of the generator's size)."""

    height: int
    width: int
    canvas_h: int
    canvas_w: int
    tile_h: int
    tile_w: int
    starts_y: tuple[int, ...]
    starts_x: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.starts_y) * len(self.starts_x)

    def describe(self) -> str:
        if self.count == 1:
            return "whole image"
        return f"{self.count} tiles of {self.tile_w}×{self.tile_h}"


def round_up(value: int, multiple: int) -> int:
    return math.ceil(value / multiple) * multiple


def axis_starts(canvas: int, tile: int, overlap: int, multiple: int, fit: bool = False) -> tuple[int, tuple[int, ...]]:
    """(tile size, starts) along one axis: one tile when it covers the canvas, else tiles at multiples of
    `multiple` spread evenly, neighbours sharing at least `overlap` px (or `tile - multiple` if less).
    `fit`: shrink the tile to the smallest that needs no more tiles (automatic tiles: `tile` is a maximum)."""
    if canvas <= tile:
        return canvas, (0,)
    step = max(1, (tile - overlap) // multiple)  # the largest gap between starts, in units of `multiple`
    gaps = math.ceil((canvas - tile) // multiple / step)
    if fit:  # the smallest tile that covers the canvas with as many tiles: less overlap computed twice
        smaller = round_up(math.ceil((canvas + gaps * overlap) / (gaps + 1)), multiple)
        if smaller < tile and math.ceil((canvas - smaller) // multiple / max(1, (smaller - overlap) // multiple)) == gaps:
            tile = smaller
    units = (canvas - tile) // multiple
    return tile, tuple(multiple * (k * units // gaps) for k in range(gaps + 1))


def default_overlap(tile: int) -> int:
    """Shared strip between neighbours: wide enough that the outer quarter, which is discarded, covers the
    part of a ResNet-9 tile its padding disturbs (measured: 96 px brings tiles of 256 within 2.5/255 of the
    whole image; it is a distance in px, not a share of the tile), and at most half the tile."""
    return min(96, tile // 2)


def plan_tiles(height: int, width: int, multiple: int, tile: int | None = None, overlap: int | None = None,
               fit: bool = False) -> TilePlan:
    """Tiles of `tile` px (rounded up to `multiple`; with `fit`, at most that); None = the whole image as one tile."""
    canvas_h, canvas_w = round_up(height, multiple), round_up(width, multiple)
    if tile is None:
        return TilePlan(height, width, canvas_h, canvas_w, canvas_h, canvas_w, (0,), (0,))
    tile = round_up(tile, multiple)
    overlap = default_overlap(tile) if overlap is None else overlap
    if not 0 <= overlap <= tile // 2:
        raise ValueError(f"overlap {overlap} must be between 0 and half the tile ({tile // 2})")
    tile_h, starts_y = axis_starts(canvas_h, tile, overlap, multiple, fit)
    tile_w, starts_x = axis_starts(canvas_w, tile, overlap, multiple, fit)
    return TilePlan(height, width, canvas_h, canvas_w, tile_h, tile_w, starts_y, starts_x)


def auto_tile(bytes_per_pixel: float, canvas_h: int, canvas_w: int, multiple: int, budget: float) -> int | None:
    """None when a forward pass over the whole canvas fits in `budget` bytes, else the largest square tile
    (a multiple of `multiple`, at least one multiple) that does."""
    if canvas_h * canvas_w * bytes_per_pixel <= budget:
        return None
    side = int(math.sqrt(budget / bytes_per_pixel)) // multiple * multiple
    return max(side, multiple)


def ramp(length: int) -> np.ndarray:
    """0 -> 1 over a strip shared by two tiles: 0 in the outer MARGIN, raised cosine in between, and
    ramp(n) + ramp(n)[::-1] == 1 everywhere."""
    if length <= 0:
        return np.zeros(0, np.float32)
    margin = MARGIN * length
    u = np.clip((np.arange(length) + 0.5 - margin) / max(length - 2 * margin, 1e-6), 0.0, 1.0)
    return (np.sin(0.5 * np.pi * u) ** 2).astype(np.float32)


def axis_weights(starts: Sequence[int], tile: int) -> list[np.ndarray]:
    """Each tile's 1-D weight along one axis."""
    weights = []
    for i, start in enumerate(starts):
        w = np.ones(tile, np.float32)
        if i > 0:
            shared = starts[i - 1] + tile - start
            w[:shared] *= ramp(shared)
        if i + 1 < len(starts):
            shared = start + tile - starts[i + 1]
            w[tile - shared:] *= ramp(shared)[::-1]
        weights.append(w)
    return weights


def axis_weight_sum(starts: Sequence[int], tile: int, canvas: int, weights: Sequence[np.ndarray]) -> np.ndarray:
    total = np.zeros(canvas, np.float32)
    for start, w in zip(starts, weights):
        total[start:start + tile] += w
    return total


# -- reading tiles and writing the output ------------------------------------------------------------------
def reflect_index(start: int, length: int, size: int) -> np.ndarray:
    """Indices start..start+length-1 into an axis of `size`, reflected past its end (torch's "reflect");
    replicated where the axis is too short to reflect that far."""
    index = np.arange(start, start + length)
    if size == 1:
        return np.zeros(length, np.int64)
    reflected = np.where(index >= size, 2 * (size - 1) - index, index)
    return np.clip(reflected, 0, size - 1)


def read_tile(image: np.ndarray, y: int, x: int, tile_h: int, tile_w: int, scale: float) -> torch.Tensor:
    """1xCxHxW float32 in [-1, 1] from an HWC uint8/uint16/float32 array (only this tile is converted)."""
    height, width = image.shape[:2]
    if y + tile_h <= height and x + tile_w <= width:
        part = image[y:y + tile_h, x:x + tile_w]
    else:
        part = image[reflect_index(y, tile_h, height)][:, reflect_index(x, tile_w, width)]
    array = part.astype(np.float32) * np.float32(2.0 / scale) - np.float32(1.0)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]


def from_model(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float32 in [-1, 1] -> dtype (uint8 0..255, uint16 0..65535, float32 0..1), rounded and clipped."""
    unit = np.clip((values + 1.0) * 0.5, 0.0, 1.0)
    if np.dtype(dtype) == np.uint8:
        return np.rint(unit * 255.0).astype(np.uint8)
    if np.dtype(dtype) == np.uint16:
        return np.rint(unit * 65535.0).astype(np.uint16)
    return unit.astype(np.float32)


def translate_tiles(run: Callable[..., torch.Tensor], image: np.ndarray, scale: float, plan: TilePlan,
                    out_channels: int, out_dtype=np.uint8, stats: Stats | None = None,
                    progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Run `run(tile, *flat_stats)` on every tile of `image` (HxWxC) and blend: HxWx`out_channels` of `out_dtype`.

    Rows are finished band by band: once a row of tiles is done, the rows no later tile reaches are
    normalised, converted and written, and only the rest is carried over.
    """
    extra = flatten(stats) if stats else ()
    wy = axis_weights(plan.starts_y, plan.tile_h)
    wx = axis_weights(plan.starts_x, plan.tile_w)
    sum_y = axis_weight_sum(plan.starts_y, plan.tile_h, plan.canvas_h, wy)[:, None, None]
    sum_x = axis_weight_sum(plan.starts_x, plan.tile_w, plan.canvas_w, wx)[None, :, None]
    output = np.empty((plan.height, plan.width, out_channels), dtype=out_dtype)
    band = np.zeros((plan.tile_h, plan.canvas_w, out_channels), np.float32)  # canvas rows starts_y[j] ...
    for j, y in enumerate(plan.starts_y):
        for i, x in enumerate(plan.starts_x):
            tile = run(read_tile(image, y, x, plan.tile_h, plan.tile_w, scale), *extra)
            values = tile[0].float().permute(1, 2, 0).numpy()
            band[:, x:x + plan.tile_w] += values * (wy[j][:, None, None] * wx[i][None, :, None])
            if progress:
                progress(1)
        done = (plan.starts_y[j + 1] if j + 1 < len(plan.starts_y) else plan.canvas_h) - y
        rows = slice(y, min(y + done, plan.height))
        count = rows.stop - rows.start
        if count > 0:
            finished = band[:count, :plan.width] / (sum_y[y:y + count] * sum_x[:, :plan.width])
            output[rows] = from_model(finished, out_dtype)
        band = np.concatenate([band[done:], np.zeros((done, plan.canvas_w, out_channels), np.float32)])
    return output


# -- the thumbnail -----------------------------------------------------------------------------------------
def area_downscale(image: np.ndarray, factor: int, band_rows: int = 256) -> np.ndarray:
    """HWC array -> float32 HWC, each output pixel the mean of a factor x factor block (edge remainder dropped),
    computed a band of rows at a time so no float copy of the whole image is made."""
    if factor <= 1:
        return image.astype(np.float32)
    height, width = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    channels = image.shape[2]
    out = np.empty((height // factor, width // factor, channels), np.float32)
    step = max(1, band_rows // factor) * factor
    for top in range(0, height, step):
        part = image[top:min(top + step, height), :width].astype(np.float32)
        rows = part.shape[0] // factor
        out[top // factor:top // factor + rows] = part.reshape(rows, factor, width // factor, factor, channels).mean((1, 3))
    return out


def thumbnail_statistics(generator: nn.Module, image: np.ndarray, scale: float, side: int,
                         multiple: int) -> Stats | None:
    """Whole-image statistics of the generator's self-normalising layers, from `image` reduced (block mean)
    so its longer side is at most `side`, then padded to `multiple`; None when the net has no such layer."""
    if not norm_layers(generator):
        return None
    factor = max(1, math.ceil(max(image.shape[:2]) / side))
    small = area_downscale(image, factor)
    plan = plan_tiles(small.shape[0], small.shape[1], multiple)
    batch = read_tile(small, 0, 0, plan.canvas_h, plan.canvas_w, scale)
    device = next(generator.parameters()).device
    return [(m.cpu(), s.cpu()) for m, s in collect_statistics(generator, batch.to(device))]


def activation_bytes_per_pixel(generator: nn.Module, channels: int) -> float:
    """About how many bytes a forward pass holds per input pixel at its peak (float32): three times the
    largest leaf output, plus what U-Net skip connections keep, measured with hooks on a small probe."""
    multiple = getattr(generator, "size_multiple", 4)
    side = max(64, multiple)
    sizes: list[int] = []
    skips = [0]

    def hook(module, inputs, output):
        if isinstance(output, torch.Tensor):
            if len(list(module.children())) == 0:
                sizes.append(output.numel())
            elif type(module).__name__ == "UnetSkipBlock" and not getattr(module, "outermost", False):
                skips[0] += output.numel()

    handles = [m.register_forward_hook(hook) for m in generator.modules()]
    try:
        with torch.inference_mode():
            device = next(generator.parameters()).device
            generator(torch.zeros(1, channels, side, side, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return 4.0 * (3 * max(sizes) + skips[0]) / (side * side)


def seam_ratio(output: np.ndarray, plan: TilePlan) -> float:
    """Mean squared gradient where tiles meet (the middle half of each shared strip, or the 4 px around the
    cut when tiles only abut), over the mean squared gradient elsewhere; x gradients for the vertical
    strips, y for the horizontal ones. About 1 when no seam shows; the larger of the two."""
    values = output.astype(np.float64)
    ratios = []
    for axis, starts, tile in ((1, plan.starts_x, plan.tile_w), (0, plan.starts_y, plan.tile_h)):
        if len(starts) < 2:
            continue
        energy = (np.diff(values, axis=axis) ** 2).mean(axis=tuple(a for a in range(values.ndim) if a != axis))
        near = np.zeros(energy.shape[0], bool)
        for a, b in zip(starts, starts[1:]):
            cut, half = (a + tile + b) // 2, max(2, (a + tile - b) // 4)
            near[max(0, cut - half):cut + half] = True
        ratios.append(energy[near].mean() / max(energy[~near].mean(), 1e-12))
    return float(max(ratios)) if ratios else 1.0
