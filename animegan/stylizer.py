"""A :class:`Stylizer` is a style's spec plus its loaded backend: RGB in, same-size RGB out."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .backends import Backend
from .resample import resize
from .styles import StyleSpec

RGB = npt.NDArray[np.float32]


def pad_amounts(size: int, target: int) -> tuple[int, int]:
    """Split ``target - size`` padding between the two ends (the extra pixel goes last)."""
    extra = target - size
    return extra // 2, extra - extra // 2


class Stylizer:
    """Runs one style's generator on a whole image. Stateless per call, so safe across threads."""

    def __init__(self, spec: StyleSpec, backend: Backend) -> None:
        self.spec = spec
        self.backend = backend

    def __call__(self, rgb: RGB) -> RGB:
        """H×W×3 float32 in [0, 1] → stylized H×W×3 float32 in [0, 1] (same size, always).

        Flexible models get the image reflect-padded to the size rule and cropped back; fixed-size
        models get it resized to their size and back.
        """
        h, w = rgb.shape[:2]
        lo, hi = self.spec.value_range
        rule = self.spec.size
        if rule.fixed:
            x = resize(rgb, *rule.fixed)
            crop = (slice(None), slice(None))
        else:
            ph, pw = rule.padded(h, w)
            (t, b), (left, r) = pad_amounts(h, ph), pad_amounts(w, pw)
            x = np.pad(rgb, ((t, b), (left, r), (0, 0)), mode="reflect") if (ph, pw) != (h, w) else rgb
            crop = (slice(t, t + h), slice(left, left + w))
        x = x * (hi - lo) + lo
        y = self.backend.run(x[None].astype(np.float32, copy=False))[0]
        y = np.clip((y[crop] - lo) / (hi - lo), 0.0, 1.0)
        if rule.fixed:
            y = resize(y, h, w)
        return y.astype(np.float32, copy=False)
