"""The Hosoda style (CartoonGAN) as the product runs it: its registry facts and licence, its processing size, the
backend the measured choice gives it, and full-resolution tiles with whole-image statistics, on real photos."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from animegan import STYLES, Engine, Settings, StylizeOptions, decode
from animegan.backends import GlobalNormBackend, style_choice
from animegan.quality import MIN_PSNR, psnr
from animegan.resample import fit_within, resize
from tests.conftest import REPO, WEIGHTS_PATH

LICENCE = ("the repository (mnicnc404/CartoonGan-tensorflow) is Apache-2.0; the weights are the CartoonGAN authors' "
           "release, for which no separate licence is stated")


def photo_at(photos: Path, name: str, side: int) -> np.ndarray:
    rgb = decode(photos / name, 40_000_000).rgb
    return resize(rgb, *fit_within(*rgb.shape[:2], side))


def test_hosoda_is_a_slow_cartoongan_style_without_a_grade(engine: Engine) -> None:
    spec = STYLES.get("hosoda")
    assert (spec.label, spec.family, spec.cost, spec.grade) == ("Hosoda (Summer Wars)", "CartoonGAN", "slow", None)
    assert spec.size.multiple_of == 4 and spec.size.fixed is None and spec.value_range == (-1.0, 1.0)
    assert spec.default_side is not None and spec.default_side % 4 == 0 and 256 <= spec.default_side < Settings().max_side
    status = engine.style_status("hosoda")
    assert status.available, status.reason  # converted from the originals in ../shared (tests/conftest.py)
    assert status.license == LICENCE
    assert all(s.default_side is None for s in STYLES if s.id != "hosoda"), "the other styles keep the process default"


@pytest.mark.slow
def test_the_styles_own_size_unless_max_side_is_given(engine: Engine, photos: Path, tmp_path: Path) -> None:
    """``stylize --max-side N`` processes at N px (the result is resized back), whatever the style's default;
    without it, at the style's own size."""
    spec = STYLES.get("hosoda")
    assert spec.default_side is not None
    source = photos / "city_tokyo_street.jpg"
    env = {**os.environ, "ANIMEGAN_WEIGHTS_PATH": WEIGHTS_PATH, "ANIMEGAN_THREADS": "2", "PYTHONPATH": str(REPO),
           "ANIMEGAN_DOWNLOAD_DIR": str(tmp_path / "dl"), "ANIMEGAN_MODEL_CACHE_DIR": str(engine.settings.model_cache_dir)}
    side = spec.default_side // 2
    out = tmp_path / "out.png"
    done = subprocess.run([sys.executable, "-m", "animegan", "stylize", str(source), "-o", str(out), "--style", "hosoda",
                           "--max-side", str(side), "--face", "off", "--backend", "onnx"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    got = decode(out, 40_000_000).rgb
    want = {s: decode(engine.render(source, StylizeOptions(style="hosoda", max_side=s, backend="onnx")), 40_000_000).rgb
            for s in (side, spec.default_side)}
    assert got.shape == want[side].shape == decode(source, 40_000_000).rgb.shape
    assert np.abs(got - want[side]).max() <= 1 / 255 + 1e-6, "processed at the --max-side asked for"
    assert psnr(got, want[spec.default_side]) < psnr(got, want[side]) - 10, "not at the style's default size"
    default = tmp_path / "default.png"
    done = subprocess.run([sys.executable, "-m", "animegan", "stylize", str(source), "-o", str(default), "--style", "hosoda",
                           "--face", "off", "--backend", "onnx"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.abs(decode(default, 40_000_000).rgb - want[spec.default_side]).max() <= 1 / 255 + 1e-6, \
        "without --max-side, the style's own size"


@pytest.mark.slow
def test_auto_runs_the_measured_fastest_backend_and_matches_fp32(engine: Engine, photos: Path) -> None:
    """``python -m animegan backends`` measures onnxruntime fp32 and OpenVINO for it; ``auto`` runs what was chosen."""
    choice, _ = style_choice(engine.style_model("hosoda"), engine.settings)
    assert choice is not None and {"onnx", "openvino"} <= {t.backend for t in choice.trials}
    auto, fp32 = engine.stylizer("hosoda"), engine.stylizer("hosoda", "onnx")
    assert auto.backend.name == choice.chosen
    for name in ("portrait_obama_official.jpg", "landscape_fuji_autumn_1365x2048.jpg"):
        rgb = photo_at(photos, name, 384)
        score = psnr(auto(rgb), fp32(rgb))
        assert score >= MIN_PSNR, f"{choice.chosen} vs onnxruntime fp32 on {name}: {score:.1f} dB"


@pytest.mark.slow
def test_full_resolution_tiles_share_whole_image_statistics(engine: Engine, photos: Path) -> None:
    """Its 21 instance norms are per image: tiles normalized with the whole image's statistics (grafted into its
    graph) match the untiled result."""
    stylizer = engine.stylizer("hosoda")
    assert isinstance(stylizer.backend, GlobalNormBackend)
    rgb = photo_at(photos, "city_tokyo_street.jpg", 384)
    untiled, tiled = stylizer(rgb), stylizer.full_resolution(rgb, 192)
    assert tiled.shape == untiled.shape == rgb.shape
    assert psnr(untiled, tiled) >= 35, psnr(untiled, tiled)
