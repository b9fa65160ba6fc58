"""Image similarity measures for the quality guard (pure numpy; images are H×W×3 float in [0, 1])."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

MIN_PSNR = 30.0
"""A faster backend must reach this PSNR (dB) against the fp32 reference on every guard image..."""
MIN_SSIM = 0.95
"""...and this SSIM."""

Image = npt.NDArray[np.floating]


def psnr(a: npt.NDArray[np.number[Any]], b: npt.NDArray[np.number[Any]], peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of two arrays of the same shape (``inf`` if they are equal).

    Any numeric dtype, compared in float64; ``peak`` is the largest possible value: 1 for floats in [0, 1],
    255 for 8-bit pixels.
    """
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(peak * peak / mse))


def _blur(x: npt.NDArray[np.float64], sigma: float = 1.5, radius: int = 5) -> npt.NDArray[np.float64]:
    """Separable Gaussian filter over H and W, 'valid' region only (as in Wang et al.'s SSIM)."""
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    n = 2 * radius + 1
    h, w = x.shape[:2]
    rows = sum(k[i] * x[i:h - n + 1 + i] for i in range(n))
    return sum(k[j] * rows[:, j:w - n + 1 + j] for j in range(n))


def ssim(a: Image, b: Image) -> float:
    """Mean structural similarity (Gaussian window σ=1.5, per channel, averaged), as scikit-image computes it
    with ``gaussian_weights=True, data_range=1``."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = 0.01**2, 0.03**2
    mx, my = _blur(x), _blur(y)
    vx = _blur(x * x) - mx * mx
    vy = _blur(y * y) - my * my
    cxy = _blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())
