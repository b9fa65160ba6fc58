"""RealESRGANer's padding and tiling in numpy, with toy numpy networks (no weights, no torch)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest

from animegan.sr_tiling import Net, pad_input, padded_size, upscale_tiles

F32 = npt.NDArray[np.float32]
TILE_PAD, PRE_PAD = 24, 10  # animegan.upscale's values


def nearest(scale: int, calls: list[tuple[int, int]] | None = None) -> Net:
    """A ×``scale`` nearest-neighbour "network" that checks its input contract and records tile sizes."""

    def net(x: F32) -> F32:
        assert x.dtype == np.float32 and x.ndim == 4 and x.shape[:2] == (1, 3) and x.flags.c_contiguous
        if calls is not None:
            calls.append(x.shape[2:])
        return x.repeat(scale, axis=2).repeat(scale, axis=3)

    return net


def box_mean(scale: int, radius: int) -> Net:
    """A local (non-pointwise) network: a (2r+1)² box mean with edge padding, then nearest ×``scale``."""

    def net(x: F32) -> F32:
        p = np.pad(x, ((0, 0), (0, 0), (radius, radius), (radius, radius)), mode="edge")
        h, w = x.shape[2:]
        acc = np.zeros_like(x)
        for dy, dx in itertools.product(range(2 * radius + 1), repeat=2):  # same order for every pixel
            acc += p[:, :, dy:dy + h, dx:dx + w]
        return (acc / np.float32((2 * radius + 1) ** 2)).repeat(scale, axis=2).repeat(scale, axis=3)

    return net


def image(h: int, w: int, seed: int = 0) -> F32:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def nearest_ref(rgb: F32, scale: int) -> F32:
    return rgb.repeat(scale, axis=0).repeat(scale, axis=1)


@pytest.mark.parametrize(("native", "scale"), [(4, 4), (4, 2), (2, 2), (1, 1), (4, 1)])
@pytest.mark.parametrize("tile", [0, -1, 1, 7, 16, 32, 33, 64, 1000])
def test_nearest_net_gives_nearest_for_any_tile(native: int, scale: int, tile: int) -> None:
    rgb = image(37, 53, seed=tile % 97)
    calls: list[tuple[int, int]] = []
    out = upscale_tiles(nearest(scale, calls), rgb, native, scale, tile, TILE_PAD, PRE_PAD)
    assert out.shape == (37 * scale, 53 * scale, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, nearest_ref(rgb, scale))
    hp, wp = padded_size(37, 53, native, PRE_PAD)
    tiled = 0 < tile < max(hp, wp)
    assert len(calls) == (math.ceil(hp / tile) * math.ceil(wp / tile) if tiled else 1)
    assert all(th <= tile + 2 * TILE_PAD and tw <= tile + 2 * TILE_PAD for th, tw in calls) if tiled else calls == [(hp, wp)]


def test_call_count_is_what_the_caller_counts_for_progress() -> None:
    from animegan.upscale import tile_count

    for (h, w), tile, native in itertools.product([(16, 16), (37, 53), (120, 31), (61, 91)], [0, 8, 24, 50, 200], [1, 2, 4]):
        calls: list[tuple[int, int]] = []
        upscale_tiles(nearest(1, calls), image(h, w), native, 1, tile, TILE_PAD, PRE_PAD)
        assert len(calls) == tile_count(h, w, tile, native), (h, w, tile, native)


@pytest.mark.parametrize(("native", "h", "w", "expected"), [
    (4, 37, 53, (47, 63)),  # ×4: no mod pad
    (2, 37, 53, (48, 64)),  # ×2: to a multiple of 2
    (1, 37, 53, (48, 64)),  # ×1: to a multiple of 4
    (1, 38, 54, (48, 64)),
    (2, 16, 16, (26, 26)),
])
def test_padding_is_two_reflections_as_realesrganer(native: int, h: int, w: int, expected: tuple[int, int]) -> None:
    rgb = image(h, w, seed=h)
    assert padded_size(h, w, native, PRE_PAD) == expected
    x = pad_input(rgb, native, PRE_PAD)
    pre = np.pad(rgb, ((0, PRE_PAD), (0, PRE_PAD), (0, 0)), mode="reflect")
    ref = np.pad(pre, ((0, expected[0] - pre.shape[0]), (0, expected[1] - pre.shape[1]), (0, 0)), mode="reflect")
    assert x.shape == (1, 3, *expected) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_array_equal(x[0].transpose(1, 2, 0), ref)


@pytest.mark.parametrize("tile", [8, 20, 31, 64])
def test_tiles_with_enough_context_equal_one_piece(tile: int) -> None:
    """A network with a receptive radius within ``tile_pad`` gives exactly the untiled result."""
    rgb = image(45, 70, seed=tile)
    net = box_mean(2, radius=3)
    whole = upscale_tiles(net, rgb, 4, 2, 0, tile_pad=3, pre_pad=PRE_PAD)
    tiled = upscale_tiles(net, rgb, 4, 2, tile, tile_pad=3, pre_pad=PRE_PAD)
    np.testing.assert_array_equal(tiled, whole)
    short = upscale_tiles(net, rgb, 4, 2, tile, tile_pad=1, pre_pad=PRE_PAD)
    assert np.abs(short - whole).max() > 1e-3, "too little context must show at the seams (the test would prove nothing)"


@pytest.mark.parametrize("tile", [0, 16])
def test_output_is_clamped(tile: int) -> None:
    rgb = image(20, 30)

    def overshoot(x: F32) -> F32:
        return (x * 3 - 1).repeat(2, axis=2).repeat(2, axis=3)

    out = upscale_tiles(overshoot, rgb, 4, 2, tile, TILE_PAD, PRE_PAD)
    np.testing.assert_array_equal(out, np.clip(nearest_ref(rgb, 2) * 3 - 1, 0, 1))
    assert out.min() == 0 and out.max() == 1


def test_a_read_only_output_is_not_written() -> None:
    def frozen(x: F32) -> F32:
        y = x.repeat(4, axis=2).repeat(4, axis=3) * 2
        y.flags.writeable = False
        return y

    rgb = image(20, 30)
    np.testing.assert_array_equal(upscale_tiles(frozen, rgb, 4, 4, 0, TILE_PAD, PRE_PAD), np.clip(nearest_ref(rgb, 4) * 2, 0, 1))


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"reflect padding of 10×10 px needs an image larger than that, got 10×40"):
        upscale_tiles(nearest(4), image(10, 40), 4, 4, 0, TILE_PAD, PRE_PAD)
    wrong_scale = r"returned a float32 array of shape \(1, 3, 124, 124\).*expected float32 \(1, 3, 62, 62\)"
    with pytest.raises(ValueError, match=wrong_scale):
        upscale_tiles(nearest(4), image(21, 21), 4, 2, 0, TILE_PAD, PRE_PAD)

    def broken(x: F32) -> F32:
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):  # not printed and skipped, as RealESRGANer does
        upscale_tiles(broken, image(21, 21), 4, 4, 8, TILE_PAD, PRE_PAD)
