"""Size rules, padding, resizing and tiling arithmetic."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from animegan import SizeRule
from animegan.resample import fit_within, resize
from animegan.stylizer import pad_amounts
from animegan.tiling import feather, run_tiled, tile_starts


@pytest.mark.parametrize(
    ("rule", "hw", "expected"),
    [
        (SizeRule(8), (512, 512), (512, 512)),
        (SizeRule(8), (17, 23), (32, 32)),
        (SizeRule(8), (100, 33), (104, 40)),
        (SizeRule(16), (100, 33), (112, 48)),
        (SizeRule(8, min_side=1), (1, 1), (8, 8)),
        (SizeRule(fixed=(512, 512)), (17, 2000), (512, 512)),
    ],
)
def test_size_rule_padding(rule: SizeRule, hw: tuple[int, int], expected: tuple[int, int]) -> None:
    assert rule.padded(*hw) == expected


def test_pad_amounts_split_evenly() -> None:
    assert pad_amounts(17, 32) == (7, 8)
    assert pad_amounts(32, 32) == (0, 0)


def test_fit_within_keeps_aspect_and_never_enlarges() -> None:
    assert fit_within(2160, 3840, 1024) == (576, 1024)
    assert fit_within(100, 50, 1024) == (100, 50)
    assert fit_within(20, 20000, 1024) == (1, 1024)


def test_resize_directions_and_range() -> None:
    img = np.random.default_rng(1).random((50, 80, 3), dtype=np.float32)
    small, big = resize(img, 25, 40), resize(img, 100, 160)
    assert small.shape == (25, 40, 3) and big.shape == (100, 160, 3)
    assert big.min() >= 0 and big.max() <= 1 and small.dtype == np.float32


@pytest.mark.parametrize(("length", "tile", "overlap", "align"), [
    (100, 512, 64, 1), (1000, 512, 64, 1), (4000, 512, 128, 1), (513, 512, 64, 1),
    (1000, 512, 64, 8), (688, 512, 64, 8), (3840, 512, 64, 8), (2160, 512, 64, 16), (528, 512, 64, 16),
])
def test_tiles_cover_with_enough_overlap(length: int, tile: int, overlap: int, align: int) -> None:
    starts = tile_starts(length, tile, overlap, align)
    assert starts[0] == 0 and min(length, starts[-1] + tile) == length
    assert all(s % align == 0 for s in starts), starts
    for a, b in itertools.pairwise(starts):
        assert a + tile - b >= overlap


def test_feather_keeps_full_weight_at_image_borders() -> None:
    w = feather(10, 10, 4, (False, True, False, True))[..., 0]
    assert w[0, 0] == 1 and w[-1, -1] < 0.2


def test_run_tiled_identity_reassembles_exactly() -> None:
    img = np.random.default_rng(2).random((300, 700, 3), dtype=np.float32)
    out = run_tiled(lambda t: t, img, tile=128, overlap=32)
    np.testing.assert_allclose(out, img, atol=1e-6)


def test_run_tiled_with_scale() -> None:
    img = np.random.default_rng(3).random((90, 130, 3), dtype=np.float32)
    out = run_tiled(lambda t: np.repeat(np.repeat(t, 2, 0), 2, 1), img, tile=64, overlap=16, scale=2)
    np.testing.assert_allclose(out, np.repeat(np.repeat(img, 2, 0), 2, 1), atol=1e-6)
