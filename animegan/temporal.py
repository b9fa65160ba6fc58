"""Temporal stability for stylized frame sequences: motion-compensated blending plus scene-cut detection.

A GAN stylizes every frame on its own, so textures and colours flicker even when the camera does
not move. :class:`Stabilizer` blends each new stylized frame with the previous *output*, warped to
the current frame by optical flow (DIS, computed on the photos), and trusts the warped history only
where it explains the current photo well: occlusions, fast motion and lighting changes fall back
to the fresh frame. A scene cut resets the history so one shot never smears into the next.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np
import numpy.typing as npt

from .errors import InvalidOptionError

RGB = npt.NDArray[np.float32]

CUT_HISTOGRAM_DISTANCE = 0.5
"""L1 distance (0..2) between consecutive luma histograms above which a frame starts a new shot."""
CUT_UNTRUSTED_FRACTION = 0.6
"""If more than this fraction of the warped history is rejected, treat the frame as a cut too."""
ERROR_SCALE = 0.05
"""Photo warp error (0..1 RGB units) at which trust in the history drops to 1/e."""


def luma_u8(rgb: RGB) -> npt.NDArray[np.uint8]:
    """H×W×3 float RGB in [0, 1] → H×W uint8 luma (BT.601 weights)."""
    return cv2.cvtColor(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def luma_histogram(gray: npt.NDArray[np.uint8], bins: int = 32) -> npt.NDArray[np.float64]:
    """Normalized luma histogram (sums to 1)."""
    hist = np.bincount((gray >> (8 - int(np.log2(bins)))).ravel(), minlength=bins).astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def is_scene_cut(prev_hist: npt.NDArray[np.float64], hist: npt.NDArray[np.float64],
                 threshold: float = CUT_HISTOGRAM_DISTANCE) -> bool:
    """True when two frames' luma histograms differ by more than ``threshold`` (L1, range 0..2)."""
    return float(np.abs(prev_hist - hist).sum()) > threshold


class Stabilizer:
    """Per-sequence state for flicker reduction. Not thread-safe: use one per video or live session.

    ``strength`` (0..1) is the weight of the motion-compensated history where it is fully trusted;
    0 returns every frame unchanged. Frames must all have the same size (a size change resets).
    """

    def __init__(self, strength: float = 0.7) -> None:
        if not 0.0 <= strength < 1.0:
            raise InvalidOptionError(f"smoothing strength={strength} must be at least 0 and below 1 (0 turns it off)")
        self.strength = strength
        self.cuts = 0
        self._flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._prev: tuple[npt.NDArray[np.uint8], npt.NDArray[np.float64], RGB, RGB] | None = None
        self._grid: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]] | None = None

    def reset(self) -> None:
        """Forget the history (the next frame is taken as it is)."""
        self._prev = None

    def __call__(self, photo: RGB, styled: RGB) -> RGB:
        """Stabilize one frame. ``photo`` is the input frame and ``styled`` its stylization, both
        H×W×3 float32 in [0, 1] at the same size; returns the stabilized H×W×3 float32 frame."""
        if self.strength == 0.0:
            return styled
        gray = luma_u8(photo)
        hist = luma_histogram(gray)
        prev = self._prev
        if prev is None or prev[0].shape != gray.shape or is_scene_cut(prev[1], hist):
            if prev is not None:
                self.cuts += 1
            self._prev = (gray, hist, photo, styled)
            return styled
        prev_gray, _, prev_photo, prev_out = prev
        h, w = gray.shape
        # Flow from the current frame to the previous one: for each current pixel, where it was.
        flow = self._flow.calc(gray, prev_gray, None)  # type: ignore[call-overload]  # None: OpenCV allocates the flow
        if self._grid is None or self._grid[0].shape != (h, w):
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
            self._grid = (xs, ys)
        map_x = self._grid[0] + flow[..., 0]
        map_y = self._grid[1] + flow[..., 1]
        warped_out = cv2.remap(prev_out, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped_photo = cv2.remap(prev_photo, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # Blurred so sensor noise does not read as misalignment.
        err = cv2.blur(np.abs(warped_photo - photo).mean(axis=2), (5, 5))
        trust = np.exp(-((err / ERROR_SCALE) ** 2))
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        trust[~inside] = 0.0
        if float((trust < 0.5).mean()) > CUT_UNTRUSTED_FRACTION:
            self.cuts += 1
            self._prev = (gray, hist, photo, styled)
            return styled
        weight = (self.strength * trust)[..., None].astype(np.float32)
        out = (weight * warped_out + (1.0 - weight) * styled).astype(np.float32)
        self._prev = (gray, hist, photo, out)
        return out


def flicker(frames: Iterable[npt.NDArray[np.uint8] | RGB]) -> float:
    """Mean absolute frame-to-frame difference of a sequence, in 0..255 units (uint8 frames) or
    the frames' own units (float frames). Lower is steadier; 0 for fewer than two frames."""
    total, count, prev = 0.0, 0, None
    for frame in frames:
        cur = np.asarray(frame, dtype=np.float32)
        if prev is not None:
            total += float(np.abs(cur - prev).mean())
            count += 1
        prev = cur
    return total / count if count else 0.0
