"""Numeric bounds that follow the computation, not one machine's kernels.

Two correct float32 runs of the same network differ because each CPU's kernels (oneDNN on AVX-512 or AVX2,
ATen's default vector code, NEON on ARM) sum in their own order and fuse differently. One layer's sums then
differ by a few units in the last place (ulp = float32 eps times the values' scale); along a path of `depth`
layers those differences add up (normalisation layers rescale them together with the values, so they stay
relative). `float32_bound` is that budget with a margin of 16 ulps per layer: the largest difference seen on
AVX-512, AVX2 and ATen's default kernels is under 2 ulps per layer (measured with ONEDNN_MAX_CPU_ISA=AVX2 and
ATEN_CPU_CAPABILITY=default, which .ci/run repeats). A real error - one wrong weight, a missing filter - moves
outputs by a fraction of their scale, thousands of times this bound; the tests show that contrast.
"""

from __future__ import annotations

import torch

EPS32 = torch.finfo(torch.float32).eps
ULPS_PER_LAYER = 16


def depth_of(network: torch.nn.Module) -> int:
    """Weighted layers (convolutions, linear maps) in the network: an upper bound on any path's length."""
    kinds = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)
    return max(1, sum(isinstance(m, kinds) for m in network.modules()))


def float32_bound(scale: float, depth: int) -> float:
    """The largest |difference| two correct float32 computations `depth` layers deep may show at `scale`."""
    return ULPS_PER_LAYER * depth * EPS32 * float(scale)


def assert_float32_close(actual: torch.Tensor, expected: torch.Tensor, depth: int, what: object = "",
                         scale: float | None = None) -> float:
    """Assert |actual - expected| is within float32_bound at `scale` (default: the expected values' largest
    magnitude, at least 1: near-zero outputs still carry rounding at the inputs' scale); return the bound."""
    expected = expected.to(actual.dtype)
    scale = scale if scale is not None else max(float(expected.abs().max()), 1.0)
    bound = float32_bound(scale, depth)
    worst = float((actual - expected).abs().max())
    assert worst <= bound, f"{what}: max |Δ| {worst:.3g} > {bound:.3g} ({ULPS_PER_LAYER} ulps x depth {depth} x scale {scale:.3g})"
    return bound
