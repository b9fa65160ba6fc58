"""The app's job layer on the real engine: cache hits are byte-identical, an unwritable cache still works."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegan import Engine, LocalService, ResultCache, StylizeOptions, comparison_pair, stylize_job

pytestmark = pytest.mark.e2e


def test_job_with_cache_and_without(engine: Engine, photos: Path, tmp_path: Path) -> None:
    data = (photos / "landscape_beach_small_256.jpg").read_bytes()
    options = StylizeOptions(style="cute", max_side=256)
    cache = ResultCache(tmp_path / "cache", 1 << 20)
    first = stylize_job(LocalService(engine), cache, data, "../beach.jpg", options, tmp_path)
    again = stylize_job(LocalService(engine), cache, data, "../beach.jpg", options, tmp_path)
    assert (first.cached, again.cached) == (False, True)
    assert first.output == tmp_path / "beach_cute.png" and again.png == first.png

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    broken = ResultCache(blocker / "cache", 1 << 20)
    uncached = stylize_job(LocalService(engine), broken, data, "beach.jpg", options, tmp_path)
    assert not broken.enabled and not uncached.cached and uncached.png == first.png


def test_comparison_pair_is_aligned_and_keeps_alpha(engine: Engine, photos: Path, tmp_path: Path) -> None:
    data = (photos / "alpha_children_rgba.png").read_bytes()
    job = stylize_job(LocalService(engine), ResultCache(tmp_path, 0), data, "kids.png",
                      StylizeOptions(style="cute", max_side=256), tmp_path)
    original, result = comparison_pair(data, job.png, engine.settings.max_pixels, max_side=300)
    assert original.size == result.size == (300, round(350 * 300 / 566))
    assert original.mode == result.mode == "RGBA"
    src_alpha = np.asarray(Image.open(photos / "alpha_children_rgba.png").getchannel("A").resize(original.size), dtype=float)
    assert np.abs(np.asarray(original.getchannel("A"), dtype=float) - src_alpha).mean() < 3
