"""Full-resolution mode: tiles with whole-image normalization statistics match the untiled result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from animegan import Engine
from animegan.imageio import decode
from animegan.quality import psnr
from animegan.resample import fit_within, resize
from animegan.stylizer import RGB
from animegan.tiling import run_tiled

pytestmark = pytest.mark.slow

TILE = 384
"""Smaller than the app's 512 so the tests stay quick; the same code runs (``bench/speed.py --sizes 4k`` uses 512)."""


def photo_at(path: Path, side: int) -> RGB:
    rgb = decode(path, 40_000_000).rgb
    return resize(rgb, *fit_within(*rgb.shape[:2], side))


def save(artifacts: Path, **images: RGB) -> None:
    from PIL import Image

    for name, img in images.items():
        Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(artifacts / f"{name}.png")


def test_v2_tiled_matches_untiled(engine: Engine, photos: Path, artifacts: Path) -> None:
    """768×432: small enough to run untiled, big enough for 4 tiles of 384 (plus margins)."""
    rgb = photo_at(photos / "city_tokyo_street.jpg", 2 * TILE)
    stylizer = engine.stylizer("hayao")
    untiled = stylizer(rgb)
    tiled = stylizer.full_resolution(rgb, TILE)
    naive = run_tiled(stylizer, rgb, TILE, overlap=TILE // 8, margin=stylizer.spec.tile_margin)
    scores = {"global statistics": psnr(untiled, tiled), "tile-local statistics": psnr(untiled, naive)}
    (artifacts / "psnr.txt").write_text(f"{rgb.shape}\n{scores}\n")
    if scores["global statistics"] < 35:
        save(artifacts, untiled=untiled, tiled=tiled)
    assert scores["global statistics"] >= 35, scores
    assert scores["global statistics"] > scores["tile-local statistics"], scores


@pytest.mark.parametrize(("style", "side", "tile"), [("paprika", 2 * TILE, TILE), ("ink", TILE, TILE // 2)])
def test_v1_tiled_matches_untiled(style: str, side: int, tile: int, engine: Engine, photos: Path, artifacts: Path) -> None:
    """AnimeGAN v1's InstanceNorm statistics are grafted into its graph: tile-local ones give ≈30 dB.

    Paprika at the size of the v2 test; a second v1 style at half the size and tile to stay quick."""
    rgb = photo_at(photos / "city_tokyo_street.jpg", side)
    stylizer = engine.stylizer(style)
    untiled, tiled = stylizer(rgb), stylizer.full_resolution(rgb, tile)
    score = psnr(untiled, tiled)
    (artifacts / "psnr.txt").write_text(f"{rgb.shape}, tile {tile}: {score:.2f} dB\n")
    if score < 35:
        save(artifacts, untiled=untiled, tiled=tiled)
    assert score >= 35, score
