"""Real-ESRGAN's padding and tiling in numpy: what ``realesrgan.RealESRGANer`` does around a network
(``pre_process`` / ``process`` / ``tile_process`` / ``post_process``), without torch.

The geometry is RealESRGANer's, call for call: the image is reflect-padded at the bottom and right by
``pre_pad``, then (for a network whose native scale is 2 or 1, whose weights unshuffle pixels) reflect-padded
to a multiple of 2 or 4; it is cut into ``tile``-sided tiles in row-major order, each run with up to
``tile_pad`` px of context on every side, and the tiles' cores are put together and cropped back to the
input's size times the output scale. The mod padding follows the *native* scale while the tiles are put
together at the network's *output* scale (they differ for a folded ×2 network made from a ×4 one).

Unlike RealESRGANer, a network error is not printed and skipped: it propagates.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

Net = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]
"""One network call on one tile: 1×3×h×w float32 NCHW in [0, 1] → 1×3×(h·s)×(w·s)."""

MOD_PAD = {2: 2, 1: 4}
"""Native scale → the multiple RealESRGANer pads to (RRDBNet ×2 / ×1 pixel-unshuffle by 2 / 4)."""


def padded_size(height: int, width: int, native: int, pre_pad: int) -> tuple[int, int]:
    """(H, W) of the network input for an ``height × width`` image: after the pre-pad and the mod pad."""
    h, w = height + pre_pad, width + pre_pad
    mod = MOD_PAD.get(native)
    if mod:
        h, w = h + -h % mod, w + -w % mod
    return h, w


def _reflect_pad_end(x_nchw: npt.NDArray[np.float32], height: int, width: int, pad_h: int, pad_w: int) -> None:
    """Fill ``x_nchw[..., height:height+pad_h, :]`` and ``[..., width:width+pad_w]`` in place with the reflection
    (edge pixel not repeated, as torch's and numpy's "reflect") of the valid ``height × width`` corner."""
    if pad_h >= height or pad_w >= width:
        raise ValueError(f"reflect padding of {pad_h}×{pad_w} px needs an image larger than that, got {height}×{width} px; "
                         "edge-pad small images first")
    if pad_h:
        x_nchw[:, :, height:height + pad_h, :width] = x_nchw[:, :, height - 1 - pad_h:height - 1, :width][:, :, ::-1]
    if pad_w:  # over the padded rows too: reflection is separable, so this also fills the corner
        rows = height + pad_h
        x_nchw[:, :, :rows, width:width + pad_w] = x_nchw[:, :, :rows, width - 1 - pad_w:width - 1][:, :, :, ::-1]


def pad_input(rgb_hwc: npt.NDArray[np.float32], native: int, pre_pad: int) -> npt.NDArray[np.float32]:
    """h×w×3 RGB → the C-contiguous 1×3×H×W float32 network input of :func:`padded_size` (RealESRGANer's
    ``pre_process``: reflect pre-pad, then reflect mod pad of the pre-padded image).

    Raises ValueError if a side is not larger than the padding it is reflected into.
    """
    h, w = rgb_hwc.shape[:2]
    hp, wp = padded_size(h, w, native, pre_pad)
    x_nchw = np.empty((1, 3, hp, wp), np.float32)
    x_nchw[0, :, :h, :w] = rgb_hwc.transpose(2, 0, 1)
    _reflect_pad_end(x_nchw, h, w, pre_pad, pre_pad)
    # two steps, as RealESRGANer: the mod pad reflects the pre-padded image, not the original one
    _reflect_pad_end(x_nchw, h + pre_pad, w + pre_pad, hp - h - pre_pad, wp - w - pre_pad)
    return x_nchw


def _checked(y_nchw: npt.NDArray[np.float32], shape: tuple[int, int, int, int]) -> npt.NDArray[np.float32]:
    if y_nchw.shape != shape or y_nchw.dtype != np.float32:
        raise ValueError(f"the network returned a {y_nchw.dtype} array of shape {y_nchw.shape} for a "
                         f"{shape[3]}×{shape[2]} px output tile; expected float32 {shape}")
    return y_nchw


def upscale_tiles(net: Net, rgb_hwc: npt.NDArray[np.float32], native: int, scale: int, tile: int,
                  tile_pad: int, pre_pad: int) -> npt.NDArray[np.float32]:
    """h×w×3 float32 RGB in [0, 1] → clamped (h·scale)×(w·scale)×3 float32, as RealESRGANer (pre-pad, mod-pad,
    tiles with context, crop back).

    ``native`` is the network's native scale (it decides the mod pad), ``scale`` the factor ``net`` produces.
    ``tile`` ≤ 0, or at least the longer padded side, runs ``net`` once on the whole padded image; otherwise
    ``ceil(H / tile) · ceil(W / tile)`` times (H×W from :func:`padded_size`), row by row. Each input is
    C-contiguous and lives in a buffer reused for the next tile: ``net`` must not keep it. The result may be
    a view into ``net``'s output (untiled). Raises ValueError if the image is not larger than ``pre_pad`` or
    ``net`` returns another shape or dtype; whatever ``net`` raises propagates.
    """
    h, w = rgb_hwc.shape[:2]
    x_nchw = pad_input(rgb_hwc, native, pre_pad)
    hp, wp = x_nchw.shape[2:]
    out_h, out_w = h * scale, w * scale
    if not 0 < tile < max(hp, wp):
        y_nchw = _checked(net(x_nchw), (1, 3, hp * scale, wp * scale))
        core = y_nchw[0, :, :out_h, :out_w]
        if y_nchw.flags.writeable:
            np.clip(core, 0, 1, out=core)
        else:
            core = np.clip(core, 0, 1)
        return core.transpose(1, 2, 0)

    out = np.empty((out_h, out_w, 3), np.float32)
    # one buffer for every tile's input: a view of its start is a C-contiguous 1×3×th×tw array
    buffer = np.empty(3 * min(hp, tile + 2 * tile_pad) * min(wp, tile + 2 * tile_pad), np.float32)
    for y0 in range(0, hp, tile):
        y1 = min(y0 + tile, hp)
        cy0, cy1 = max(y0 - tile_pad, 0), min(y1 + tile_pad, hp)
        for x0 in range(0, wp, tile):
            x1 = min(x0 + tile, wp)
            cx0, cx1 = max(x0 - tile_pad, 0), min(x1 + tile_pad, wp)
            th, tw = cy1 - cy0, cx1 - cx0
            x_tile = buffer[:3 * th * tw].reshape(1, 3, th, tw)
            np.copyto(x_tile, x_nchw[:, :, cy0:cy1, cx0:cx1])
            y_tile = _checked(net(x_tile), (1, 3, th * scale, tw * scale))
            # the tile's core, less what falls in the padding: a tile wholly in the padding is still run
            # (the call count is RealESRGANer's), and nothing of it is kept
            oy0, oy1 = y0 * scale, min(y1 * scale, out_h)
            ox0, ox1 = x0 * scale, min(x1 * scale, out_w)
            if oy0 < oy1 and ox0 < ox1:
                ty, tx = (y0 - cy0) * scale, (x0 - cx0) * scale
                dst = out[oy0:oy1, ox0:ox1]
                # copy, then clamp in place: faster than np.clip reading the transposed tile
                np.copyto(dst, y_tile[0, :, ty:ty + oy1 - oy0, tx:tx + ox1 - ox0].transpose(1, 2, 0))
                np.clip(dst, 0, 1, out=dst)
    return out
