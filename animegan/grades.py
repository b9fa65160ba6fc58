"""Colour grades: pure functions on RGB float arrays (H×W×3, values in [0, 1])."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

RGB = npt.NDArray[np.float32]
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

_SHADOW = np.array([0.05, 0.10, 0.42], dtype=np.float32)  # deep electric blue
_HIGHLIGHT = np.array([1.00, 0.28, 0.78], dtype=np.float32)  # hot magenta-pink


def luma(rgb: RGB) -> npt.NDArray[np.float32]:
    """Rec. 601 luma, H×W."""
    return rgb @ LUMA


def neon(rgb: RGB) -> RGB:
    """Cyberpunk split-tone: blue-violet shadows, magenta highlights, more saturation and contrast."""
    y = luma(rgb)[..., None]
    tone = _SHADOW * (1.0 - y) + _HIGHLIGHT * y
    # soft-light blend of the tone map over the image keeps the picture's own detail
    soft = np.where(tone < 0.5, rgb - (1 - 2 * tone) * rgb * (1 - rgb), rgb + (2 * tone - 1) * (np.sqrt(rgb) - rgb))
    out = 0.35 * rgb + 0.65 * soft
    grey = luma(out)[..., None]
    out = grey + 1.35 * (out - grey)  # saturation
    out = 0.5 + 1.15 * (out - 0.5)  # contrast
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def match_brightness(out: RGB, reference: RGB) -> RGB:
    """Scale ``out`` so its mean luma equals ``reference``'s (AnimeGANv2's optional brightness fix)."""
    target, current = float(luma(reference).mean()), float(luma(out).mean())
    if current < 1e-6:
        return out
    return np.clip(out * (target / current), 0.0, 1.0).astype(np.float32)


GRADES: dict[str, Callable[[RGB], RGB]] = {"neon": neon}
