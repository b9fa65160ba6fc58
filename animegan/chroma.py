"""Keep the photo's colours: the style's luminance with the photo's chroma (YCbCr, BT.601 full range, as PIL converts)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .resample import resize

RGB = npt.NDArray[np.float32]
TO_YCBCR = np.array([[0.299, 0.587, 0.114],
                     [-0.168736, -0.331264, 0.5],
                     [0.5, -0.418688, -0.081312]], dtype=np.float32)
"""RGB → (Y, Cb − ½, Cr − ½) on values in [0, 1]: the matrix of PIL's ``convert("YCbCr")`` (JPEG's)."""
FROM_YCBCR = np.linalg.inv(TO_YCBCR).astype(np.float32)


def keep_colors(styled: RGB, photo: RGB) -> RGB:
    """``styled``'s Y with ``photo``'s Cb and Cr (``photo`` resized to ``styled``'s size when they differ).

    Where that colour is outside RGB (a saturated colour the style made much brighter or darker), its chroma is
    scaled down until it fits: the luminance and the hue stay exact, only the saturation gives way.
    """
    h, w = styled.shape[:2]
    if photo.shape[:2] != (h, w):
        photo = resize(photo, h, w)
    y = styled @ TO_YCBCR[0]
    offset = (photo @ TO_YCBCR[1:].T) @ FROM_YCBCR[:, 1:].T  # the photo's chroma as an RGB offset (zero luma)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(offset > 0, (1.0 - y[..., None]) / offset, np.where(offset < 0, -y[..., None] / offset, np.inf))
    fit = np.clip(room.min(axis=-1, initial=np.inf), 0.0, 1.0)
    return np.clip(y[..., None] + fit[..., None] * offset, 0.0, 1.0).astype(np.float32)
