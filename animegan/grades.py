"""Colour grades: pure functions on RGB float arrays (H×W×3, values in [0, 1])."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

RGB = npt.NDArray[np.float32]
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# Gradient map for the neon grade: luma → colour (teal shadows, violet mids, hot-pink highlights).
_NEON_STOPS = np.array([0.0, 0.30, 0.60, 0.85, 1.0], dtype=np.float32)
_NEON_COLORS = np.array(
    [[0.02, 0.06, 0.14], [0.02, 0.32, 0.45], [0.52, 0.18, 0.78], [1.00, 0.36, 0.78], [1.00, 0.90, 0.96]], dtype=np.float32
)


def luma(rgb: RGB) -> npt.NDArray[np.float32]:
    """Rec. 601 luma, H×W."""
    return rgb @ LUMA


def gradient_map(y: npt.NDArray[np.float32], stops: npt.NDArray[np.float32], colors: npt.NDArray[np.float32]) -> RGB:
    """Colour per pixel by piecewise-linear interpolation of ``colors`` over luma ``stops``."""
    return np.stack([np.interp(y, stops, colors[:, c]) for c in range(3)], axis=-1).astype(np.float32)


def neon(rgb: RGB) -> RGB:
    """Cyberpunk grade: a teal → violet → hot-pink gradient map blended over the picture, a magenta
    bloom around bright lights, then more saturation."""
    y = luma(rgb)
    out = 0.5 * rgb + 0.5 * gradient_map(y, _NEON_STOPS, _NEON_COLORS)
    bright = np.clip((y - 0.65) / 0.35, 0.0, 1.0)[..., None] * out
    sigma = max(2.0, 0.012 * max(rgb.shape[:2]))
    glow = cv2.GaussianBlur(bright, (0, 0), sigmaX=sigma)
    out = 1.0 - (1.0 - out) * (1.0 - 0.6 * glow * np.array([1.0, 0.55, 1.0], np.float32))  # screen blend
    grey = luma(out)[..., None]
    out = grey + 1.3 * (out - grey)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def match_brightness(out: RGB, reference: RGB) -> RGB:
    """Scale ``out`` so its mean luma equals ``reference``'s (AnimeGANv2's optional brightness fix)."""
    target, current = float(luma(reference).mean()), float(luma(out).mean())
    if current < 1e-6:
        return out
    return np.clip(out * (target / current), 0.0, 1.0).astype(np.float32)


GRADES: dict[str, Callable[[RGB], RGB]] = {"neon": neon}
