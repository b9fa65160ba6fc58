"""Full-resolution mode: tiles with whole-image GroupNorm statistics match the untiled result."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animegan import Engine
from animegan.imageio import decode
from animegan.quality import psnr
from animegan.resample import fit_within, resize
from animegan.tiling import run_tiled

TILE = 512


def test_v2_tiled_matches_untiled(engine: Engine, photos: Path, artifacts: Path) -> None:
    """1024×576: small enough to run untiled, big enough for 6 tiles of 512 (plus margins)."""
    rgb = decode(photos / "city_tokyo_street.jpg", 40_000_000).rgb
    rgb = resize(rgb, *fit_within(*rgb.shape[:2], 2 * TILE))
    stylizer = engine.stylizer("hayao")
    untiled = stylizer(rgb)
    tiled = stylizer.full_resolution(rgb, TILE)
    naive = run_tiled(stylizer, rgb, TILE, overlap=TILE // 8, margin=stylizer.spec.tile_margin)
    scores = {"global statistics": psnr(untiled, tiled), "tile-local statistics": psnr(untiled, naive)}
    (artifacts / "psnr.txt").write_text(f"{rgb.shape}\n{scores}\n")
    if scores["global statistics"] < 35:
        from PIL import Image

        for name, img in (("untiled", untiled), ("tiled", tiled)):
            Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(artifacts / f"{name}.png")
    assert scores["global statistics"] >= 35, scores
    assert scores["global statistics"] > scores["tile-local statistics"], scores
