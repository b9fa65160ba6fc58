"""Upscaling maths and registry rules (no weights, no torch)."""

from __future__ import annotations

import itertools

import pytest

from animegan import StylizeOptions
from animegan.errors import InvalidOptionError
from animegan.upscale import (
    BAND_BYTES,
    DEFAULT_UPSCALER,
    PRE_PAD,
    TILE_PAD,
    UPSCALERS,
    bands,
    effective_tile,
    model_factor,
    tile_count,
)


@pytest.mark.parametrize(("processing", "target", "native", "expected"), [
    ((61, 47), (122, 94), 4, 2),       # not downscaled: the factor is the requested scale
    ((61, 47), (183, 141), 4, 3),
    ((61, 47), (244, 188), 4, 4),
    ((1024, 683), (4000, 2666), 4, 4),  # 2000 px photo processed at 1024, ×2: ratio 3.9 → run ×4, encoder shrinks
    ((1024, 683), (2200, 1466), 4, 3),  # ratio 2.15 → ×3, encoder shrinks by 0.72
    ((1024, 683), (8000, 5333), 4, 4),  # ratio 7.8: the model's ×4 is all it can add; the encoder enlarges
    ((100, 100), (300, 300), 2, 2),    # a native ×2 model caps at 2
])
def test_model_factor(processing: tuple[int, int], target: tuple[int, int], native: int, expected: int) -> None:
    assert model_factor(processing, target, native) == expected


@pytest.mark.parametrize(("height", "width", "budget"), [(1, 1, BAND_BYTES), (2160, 3840, BAND_BYTES), (77, 53, 200_000),
                                                         (500, 333, 10_000_000)])
def test_bands_cover_rows_within_budget(height: int, width: int, budget: int) -> None:
    rows = bands(height, width, 4, budget)
    assert rows[0][0] == 0 and rows[-1][1] == height
    assert all(a[1] == b[0] for a, b in itertools.pairwise(rows))
    assert all(y1 > y0 for y0, y1 in rows)
    row_bytes = 12 * 16 * (width + PRE_PAD)
    if budget // row_bytes > 2 * TILE_PAD + 1:  # else one-row bands: the smallest possible
        assert max(y1 - y0 + 2 * TILE_PAD for y0, y1 in rows) * row_bytes <= budget


def test_a_4k_frame_is_cut_into_bands() -> None:
    rows = bands(2160, 3840, 4)
    assert len(rows) > 1
    assert max(y1 - y0 for y0, y1 in rows) - min(y1 - y0 for y0, y1 in rows) <= 1  # equal bands


@pytest.mark.parametrize(("h", "w", "tile", "native", "expected"), [
    (100, 76, 32, 4, 4 * 3),   # padded to 110×86 → ceil(110/32)=4, ceil(86/32)=3
    (100, 76, 0, 4, 1),
    (22, 22, 32, 4, 1),        # 32×32 after pre-pad: one tile
    (23, 22, 32, 4, 2),
    (21, 21, 16, 2, 4),        # ×2 networks mod-pad to even sizes: 31 → 32 → 2 tiles per side
])
def test_tile_count(h: int, w: int, tile: int, native: int, expected: int) -> None:
    assert tile_count(h, w, tile, native) == expected


def test_registry_facts() -> None:
    assert DEFAULT_UPSCALER in UPSCALERS
    assert UPSCALERS.ids()[0] == DEFAULT_UPSCALER
    assert UPSCALERS.get("x4plus").cost == "slow"
    assert all(s.scale in (2, 4) and s.arch in ("srvgg_compact", "rrdbnet") for s in UPSCALERS)
    assert len(set(s.weights for s in UPSCALERS)) == len(UPSCALERS)


def test_unknown_upscaler_lists_the_ids() -> None:
    with pytest.raises(InvalidOptionError, match=r"unknown upscaler 'nope'.*animevideov3.*x4plus"):
        UPSCALERS.get("nope")
    with pytest.raises(InvalidOptionError, match="unknown upscaler 'nope'"):
        StylizeOptions(style="hayao", upscale=2, upscaler="nope")
    assert StylizeOptions(style="hayao", upscale=2, upscaler="general_x4v3").upscaler == "general_x4v3"


@pytest.mark.parametrize(("h", "w", "tile", "expected"), [
    (512, 512, 512, 522),    # one tile, not 512 + a 10 px sliver
    (80, 96, 64, 106 // 1),  # 106 ≤ 64 + 48: one tile
    (1024, 700, 512, 517),   # 1034 → two equal tiles per side
    (300, 2000, 256, 2010 // 7 + 1),
    (100, 100, 0, 0),
])
def test_effective_tile(h: int, w: int, tile: int, expected: int) -> None:
    eff = effective_tile(h, w, tile)
    assert eff == expected
    if tile:
        assert eff <= tile + 2 * TILE_PAD
        side = max(h, w) + PRE_PAD
        n = -(-side // eff)
        assert n * eff >= side and (n - 1) * eff < side
