"""A :class:`Stylizer` is a style's spec plus its loaded backend: RGB in, same-size RGB out."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .backends import Backend, GlobalNormBackend
from .progress import Progress, no_progress
from .resample import fit_within, resize
from .styles import StyleSpec
from .tiling import run_tiled

RGB = npt.NDArray[np.float32]
STATS_TILES = 2
"""The whole-image statistics pass runs at up to this many tiles on the longer side."""


def pad_amounts(size: int, target: int) -> tuple[int, int]:
    """Split ``target - size`` padding between the two ends (the extra pixel goes last)."""
    extra = target - size
    return extra // 2, extra - extra // 2


class Stylizer:
    """Runs one style's generator on a whole image. Stateless per call, so safe across threads."""

    def __init__(self, spec: StyleSpec, backend: Backend) -> None:
        self.spec = spec
        self.backend = backend

    def __call__(self, rgb: RGB, norm_stats: npt.NDArray[np.float32] | None = None) -> RGB:
        """H×W×3 float32 in [0, 1] → stylized H×W×3 float32 in [0, 1] (same size, always).

        Flexible models get the image reflect-padded to the size rule and cropped back; fixed-size
        models get it resized to their size and back. ``norm_stats`` (from :meth:`norm_stats`, only for a
        :class:`GlobalNormBackend`) replaces the normalization statistics of this image by those given.
        """
        x, crop = self._prepare(rgb)
        if norm_stats is None:
            y = self.backend.run(x)[0]
        else:
            assert isinstance(self.backend, GlobalNormBackend)
            y = self.backend.run_with_stats(x, norm_stats)[0][0]
        return self._finish(y, crop, *rgb.shape[:2])

    def norm_stats(self, rgb: RGB) -> npt.NDArray[np.float32] | None:
        """The backend's normalization statistics of this whole image, or None if it has none to share."""
        if not isinstance(self.backend, GlobalNormBackend):
            return None
        return self.backend.norm_stats(self._prepare(rgb)[0])

    def full_resolution(self, rgb: RGB, tile: int, progress: Progress = no_progress) -> RGB:
        """Stylize a large image at its own size in overlapping tiles; memory is bounded by ``tile``.

        Tiles get ``spec.tile_margin`` px of context that is cropped away (the generator's receptive
        field), then are feather-blended over ``tile // 8`` px. A GroupNorm generator normalizes every
        tile with whole-image statistics measured on the image downscaled to :data:`STATS_TILES` × ``tile``
        px on its longer side (exact for images up to that size; statistics drift with scale, so a
        bigger downscale costs accuracy — see README, "Speed").
        """
        h, w = rgb.shape[:2]
        if max(h, w) <= tile or self.spec.size.fixed:
            return self(rgb)
        stats = self.norm_stats(resize(rgb, *fit_within(h, w, STATS_TILES * tile)) if max(h, w) > STATS_TILES * tile else rgb)
        # Padded once, as an untiled run pads it, and tiled on the model's grid: no tile is padded again, so
        # every downsampling layer sees the pixels an untiled run would.
        x, crop = self._pad(rgb)
        m = self.spec.size.multiple_of
        out = run_tiled(lambda t: self(t, stats), x, tile - tile % m, overlap=tile // 8, progress=progress,
                        margin=self.spec.tile_margin, align=m)
        return np.ascontiguousarray(out[crop])

    def _pad(self, rgb: RGB) -> tuple[RGB, tuple[slice, slice]]:
        """Reflect-pad a flexible model's input to its size rule (split between both ends) and the crop back."""
        h, w = rgb.shape[:2]
        ph, pw = self.spec.size.padded(h, w)
        if (ph, pw) == (h, w):
            return rgb, (slice(None), slice(None))
        (t, b), (left, r) = pad_amounts(h, ph), pad_amounts(w, pw)
        return np.pad(rgb, ((t, b), (left, r), (0, 0)), mode="reflect"), (slice(t, t + h), slice(left, left + w))

    def _prepare(self, rgb: RGB) -> tuple[npt.NDArray[np.float32], tuple[slice, slice]]:
        lo, hi = self.spec.value_range
        rule = self.spec.size
        if rule.fixed:
            x = resize(rgb, *rule.fixed)
            crop = (slice(None), slice(None))
        else:
            x, crop = self._pad(rgb)
        x = x * (hi - lo) + lo
        return x[None].astype(np.float32, copy=False), crop

    def _finish(self, y: npt.NDArray[np.float32], crop: tuple[slice, slice], h: int, w: int) -> RGB:
        lo, hi = self.spec.value_range
        y = np.clip((y[crop] - lo) / (hi - lo), 0.0, 1.0)
        if self.spec.size.fixed:
            y = resize(y, h, w)
        return y.astype(np.float32, copy=False)
