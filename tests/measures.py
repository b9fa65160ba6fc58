"""Measures the tests check results with (not used by the product)."""

from __future__ import annotations

import cv2
import numpy as np


def gradient_energy(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the luma: a sharpness measure (higher is sharper)."""
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return float(cv2.Laplacian(luma, cv2.CV_32F).var())


def pasted_mask(shape: tuple[int, int], mask: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The soft mask of one face (aligned-crop ``mask``, crop→image ``matrix`` inverted) in image pixels (H×W)."""
    inverse = cv2.invertAffineTransform(matrix)
    return cv2.warpAffine(mask, inverse, (shape[1], shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
