"""Image metrics: on tensors for training (its validation batch) and `evaluate`; psnr_db on arrays for the app.

Conventions: images are NCHW in [-1, 1]; L1 is on that scale (the pix2pix loss's); PSNR and SSIM are computed on
[0, 1] (data_range 1; SSIM with an 11x11 Gaussian window, sigma 1.5, borders excluded, as skimage), per image and
averaged. Identical images have infinite PSNR, reported as PSNR_CAP_DB.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError

PSNR_CAP_DB = 100.0
SSIM_WINDOW = 11


def psnr_db(a, b, peak: float) -> float:
    """PSNR in dB of two arrays whose values span `peak` (255 for 8-bit, 1 for [0, 1], 2 for [-1, 1]), computed in
    float64; inf when they are equal (no cap: a precision check wants to see 'identical'). The app's precision
    checks use it, so this module imports torchmetrics only where the training metrics need it (a Space does not
    install it)."""
    import numpy as np

    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(peak**2 / mse))


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    return (images.detach().float().cpu().clamp(-1, 1) + 1) / 2


def per_image_metrics(fake: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
    """{"l1", "psnr", "ssim"}: one value per image of two NCHW batches in [-1, 1]."""
    if fake.shape != real.shape:
        raise ConfigError(f"output {tuple(fake.shape)} and target {tuple(real.shape)} differ in shape")
    from torchmetrics.functional.image import peak_signal_noise_ratio  # (not at import: see psnr_db)

    fake01, real01 = to_unit_range(fake), to_unit_range(real)
    psnr = peak_signal_noise_ratio(fake01, real01, data_range=1.0, reduction="none", dim=(1, 2, 3))
    return {"l1": 2 * (fake01 - real01).abs().mean((1, 2, 3)), "psnr": psnr.clamp(max=PSNR_CAP_DB),
            "ssim": ssim_per_image(fake01, real01)}


def ssim_per_image(fake01: torch.Tensor, real01: torch.Tensor) -> torch.Tensor:
    """SSIM as Wang et al. and skimage compute it: the map's mean without the borders the 11x11 window
    does not cover (torchmetrics' own mean includes its padded borders)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    _, ssim_map = structural_similarity_index_measure(
        fake01, real01, gaussian_kernel=True, sigma=1.5, kernel_size=SSIM_WINDOW, data_range=1.0,
        reduction="none", return_full_image=True)
    border = SSIM_WINDOW // 2
    if min(ssim_map.shape[-2:]) > 2 * border:
        ssim_map = ssim_map[..., border:-border, border:-border]
    return ssim_map.mean((1, 2, 3))


def paired_metrics(fake: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    """Mean L1, PSNR (dB, capped at PSNR_CAP_DB) and SSIM of outputs vs targets (NCHW in [-1, 1])."""
    return {name: float(values.mean()) for name, values in per_image_metrics(fake, real).items()}


def cycle_metrics(real: torch.Tensor, reconstructed: torch.Tensor, suffix: str = "") -> dict[str, float]:
    """How well a CycleGAN gets back to its input: L1 and PSNR of G_B(G_A(A)) vs A (or the reverse)."""
    values = per_image_metrics(reconstructed, real)
    return {f"cycle_l1{suffix}": float(values["l1"].mean()), f"cycle_psnr{suffix}": float(values["psnr"].mean())}


def checkerboard_score(image, periods: tuple[int, ...] = (4, 2)) -> float:
    """How strongly an image repeats with a 4-px or 2-px period (the stamp of stride-2 transposed convs).

    `image`: HxW or HxWxC array (any range). Its mean-removed, Hann-windowed grey level's power spectrum is read at
    the frequencies of those periods along rows, columns and diagonals (side/period cycles); each peak is divided
    by the median power of the 9x9 patch of frequencies around it (the peak's 3x3 centre left out). Returned: the
    largest such ratio in decibels, ~0 dB for a photo or a smooth painting, well above 10 dB for a visible grid.
    """
    import numpy as np

    grey = np.asarray(image, np.float64)
    grey = grey.mean(-1) if grey.ndim == 3 else grey
    height, width = grey.shape
    window = np.outer(np.hanning(height), np.hanning(width))
    power = np.abs(np.fft.fft2((grey - grey.mean()) * window)) ** 2
    mask = np.ones((9, 9), bool)
    mask[3:6, 3:6] = False
    ratios = []
    for period in periods:
        fy, fx = height // period, width // period
        for dy, dx in ((fy, 0), (0, fx), (fy, fx), (fy, -fx)):
            rows = np.arange(dy - 4, dy + 5) % height
            cols = np.arange(dx - 4, dx + 5) % width
            patch = power[np.ix_(rows, cols)]
            peak = patch[3:6, 3:6].max()
            ratios.append(max(peak, 1e-12) / max(np.median(patch[mask]), 1e-12))
    return float(10 * np.log10(max(ratios)))


def _gaussian_blur(grey: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = int(3 * sigma + 0.5)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=grey.dtype) / sigma) ** 2)
    taps = taps / taps.sum()
    padded = torch.nn.functional.pad(grey[None, None], (radius, radius, radius, radius), mode="reflect")
    rows = torch.nn.functional.conv2d(padded, taps.view(1, 1, 1, -1))
    return torch.nn.functional.conv2d(rows, taps.view(1, 1, -1, 1))[0, 0]


def region_detail(painting, output, erode: int = 8) -> float:
    """How much a translation paints inside each flat region of a painting, beyond its colour ("a tinted copy of
    the drawing" scores ~1: what the painting's own anti-aliasing leaves).

    `painting`, `output`: HxWx3 arrays, same size. For each colour of the painting, its pixels shrunk by `erode` px
    (so halos along the edges do not count); if 500 or more are left, the standard deviation there of the output's
    grey level band-passed between Gaussian blurs of 1.5 and 6 px (detail of ~5-40 px: cloud shading, clumps of
    grass, ripples; not a 4-px checkerboard). Returned: the mean over those regions, in grey levels of 255.
    Landscape photos inside their own `make-dataset --kind landscape` paintings: 4-19, median 7.
    """
    import numpy as np

    colours = np.asarray(painting, np.int64)[..., :3]
    keys = torch.from_numpy(colours[..., 0] * 65536 + colours[..., 1] * 256 + colours[..., 2])
    grey = torch.from_numpy(np.asarray(output, np.float64)[..., :3].mean(-1))
    band = _gaussian_blur(grey, 1.5) - _gaussian_blur(grey, 6.0)
    spreads = []
    for key in keys.unique():
        outside = (keys != key).double()[None, None]
        inside = torch.nn.functional.max_pool2d(outside, 2 * erode + 1, stride=1, padding=erode)[0, 0] == 0
        if int(inside.sum()) >= 500:
            spreads.append(float(band[inside].std()))
    return float(np.mean(spreads)) if spreads else 0.0
