"""Resizing float images (H×W×C, values in [0, 1]) with the right filter for the direction."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.floating]


def resize(image: Array, height: int, width: int) -> npt.NDArray[np.float32]:
    """Area filter when shrinking, bicubic when enlarging; output clipped to [0, 1], float32."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image.astype(np.float32, copy=False)
    interp = cv2.INTER_AREA if height * width < h * w else cv2.INTER_CUBIC
    out = cv2.resize(image.astype(np.float32, copy=False), (width, height), interpolation=interp)
    if image.ndim == 3 and out.ndim == 2:  # cv2 drops a single channel axis
        out = out[..., None]
    return np.clip(out, 0.0, 1.0)


def fit_within(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(H, W) scaled down so the longer side is at most ``max_side`` (never enlarged, never 0)."""
    longest = max(height, width)
    if longest <= max_side:
        return height, width
    s = max_side / longest
    return max(1, round(height * s)), max(1, round(width * s))
