"""Run an image-to-image function over overlapping tiles and blend them with feathered weights.

Memory is bounded by the tile size, whatever the image size: only the accumulators are full-size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .progress import Progress, no_progress

RGB = npt.NDArray[np.float32]


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles of ``tile`` overlapping by at least ``overlap``.

    With ``align`` > 1 (``length`` and ``tile`` multiples of it) every start is a multiple of ``align``, so a
    model that downsamples sees each tile on the same pixel grid as the whole image.
    """
    if length <= tile:
        return [0]
    step = tile - overlap - (align if align > 1 else 0)  # room for rounding the starts to ``align``
    n = -(-(length - overlap) // step)
    # spread the tiles evenly so every overlap is >= ``overlap`` and the last tile ends at ``length``
    return [align * round(i * (length - tile) / (n - 1) / align) for i in range(n)] if n > 1 else [0]


def feather(height: int, width: int, overlap: int, edges: tuple[bool, bool, bool, bool]) -> npt.NDArray[np.float32]:
    """H×W×1 weight ramping linearly over ``overlap`` px on the sides that meet another tile
    (``edges`` = top, bottom, left, right); image borders keep full weight."""

    def ramp(n: int, lead: bool, trail: bool) -> npt.NDArray[np.float32]:
        w = np.ones(n, np.float32)
        r = min(overlap, n // 2)
        if r > 0:
            ramp_up = (np.arange(r, dtype=np.float32) + 0.5) / r
            if lead:
                w[:r] = ramp_up
            if trail:
                w[n - r:] = ramp_up[::-1]
        return w

    top, bottom, left, right = edges
    return (ramp(height, top, bottom)[:, None] * ramp(width, left, right)[None, :])[..., None]


def run_tiled(
    fn: Callable[[RGB], RGB],
    image: RGB,
    tile: int,
    overlap: int,
    scale: int = 1,
    progress: Progress = no_progress,
    margin: int = 0,
    align: int = 1,
) -> RGB:
    """``fn`` applied tile by tile. ``fn`` maps h×w×C to (h·scale)×(w·scale)×C'; tiles are blended
    with linear feathering over the overlap (in output pixels: ``overlap × scale``).

    ``margin`` extra pixels of context are given to ``fn`` on every side where the image continues
    and cropped from its result: a model sees padding at a tile's border, and ``margin`` should
    cover the distance over which that changes its output (its receptive field). ``align``: see
    :func:`tile_starts` (``margin`` should then be a multiple of it too).
    """
    h, w = image.shape[:2]
    ys, xs = tile_starts(h, tile, overlap, align), tile_starts(w, tile, overlap, align)
    out: RGB | None = None
    weight = np.zeros((h * scale, w * scale, 1), np.float32)
    total, done = len(ys) * len(xs), 0
    for y in ys:
        for x in xs:
            th, tw = min(tile, h - y), min(tile, w - x)
            y0, x0 = max(0, y - margin), max(0, x - margin)
            y1, x1 = min(h, y + th + margin), min(w, x + tw + margin)
            result = fn(image[y0:y1, x0:x1])
            cy, cx = (y - y0) * scale, (x - x0) * scale
            result = result[cy:cy + th * scale, cx:cx + tw * scale]
            if out is None:
                out = np.zeros((h * scale, w * scale, result.shape[2]), np.float32)
            edges = (y > 0, y + th < h, x > 0, x + tw < w)
            wgt = feather(th * scale, tw * scale, overlap * scale, edges)
            out[y * scale:(y + th) * scale, x * scale:(x + tw) * scale] += result * wgt
            weight[y * scale:(y + th) * scale, x * scale:(x + tw) * scale] += wgt
            done += 1
            progress(done / total, f"tile {done}/{total}")
    assert out is not None
    out /= np.maximum(weight, 1e-8)
    return out
