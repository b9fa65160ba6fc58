"""The ``torch-bf16`` backend (an AOTInductor package, convolutions in bf16) on the real v2 weights and photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from animegan import Engine, Settings
from animegan.backends import BackendUnavailableError, GlobalNormBackend
from animegan.backends.compiled import kind, native_bf16
from animegan.quality import MIN_PSNR, MIN_SSIM, psnr, ssim
from tests.conftest import engine_with_own_cache
from tests.models.test_backends import GUARD_SIDE, photo


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    zen4, zen3 = tmp_path / "zen4", tmp_path / "zen3"
    zen4.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma avx512f avx512_bf16 avx512_vnni\n\n")
    zen3.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma\nbugs\t\t: avx512_bf16\n\n")
    assert native_bf16(zen4)
    assert not native_bf16(zen3), "only the flags line counts"
    assert not native_bf16(tmp_path / "no-such-file")
    assert kind(zen4) != kind(zen3) == kind(zen3), "a package is built per set of vector instructions"


@pytest.fixture(scope="module")
def bf16_engine(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return engine_with_own_cache(settings, tmp_path_factory.mktemp("bf16") / "models")


def test_bf16_package_is_checked_on_every_photo_and_auto_takes_it_only_on_a_native_cpu(
    bf16_engine: Engine, photos: Path, artifacts: Path
) -> None:
    """Forced once, the package is built (about a minute) with its guard; on every shared photo it must stay within
    PSNR/SSIM of the exact fp32 generator, at any size; ``auto`` then takes it where bf16 is native."""
    bf16 = bf16_engine.stylizer("hayao", "torch-bf16")
    (record_path,) = bf16_engine.settings.model_cache_dir.glob("*-torch-bf16-*.json")
    record = json.loads(record_path.read_text())
    assert record["passed"], record
    exact = bf16_engine.stylizer("hayao", "torch")
    rows = []
    for path in sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".png")):
        x = photo(photos, path.name, GUARD_SIDE)
        a, b = exact(x), bf16(x)
        rows.append((psnr(a, b), ssim(a, b), path.name))
    rows.sort()
    report = "\n".join(f"{n:40} PSNR {p:6.2f} dB  SSIM {s:.4f}" for p, s, n in rows)
    (artifacts / "bf16_vs_exact_fp32.txt").write_text(report)
    assert all(p >= MIN_PSNR and s >= MIN_SSIM for p, s, _ in rows), f"bf16 vs exact fp32, worst first:\n{report}"
    odd = (photo(photos, "city_tokyo_street.jpg", 60)[:37, :50] * 2 - 1)[None].astype(np.float32)
    assert bf16.backend.run(odd).shape == odd.shape, "sizes off the package's grid are padded and cropped back"
    auto = Engine(bf16_engine.settings).stylizer("hayao").backend.name
    assert (auto == "torch-bf16") == native_bf16(), auto


def test_bf16_tiles_share_whole_image_statistics(bf16_engine: Engine, photos: Path) -> None:
    """Full resolution with ``torch-bf16`` normalizes every tile with the whole image's statistics (through the
    fp32 statistics graph), so the tiled result matches the untiled one."""
    stylizer = bf16_engine.stylizer("hayao", "torch-bf16")
    assert isinstance(stylizer.backend, GlobalNormBackend)
    rgb = photo(photos, "city_tokyo_street.jpg", 768)[:432]
    tiled, whole = stylizer.full_resolution(rgb, tile=384), stylizer(rgb)
    assert tiled.shape == whole.shape == rgb.shape
    assert psnr(tiled, whole) >= 35.0


def test_without_a_compiler_the_bf16_build_is_a_clear_error_and_nothing_is_cached(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_with_own_cache(settings, tmp_path / "models")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(BackendUnavailableError, match=r"needs a C\+\+ compiler"):
        engine.stylizer("hayao", "torch-bf16")
    assert not list(engine.settings.model_cache_dir.glob("*-torch-bf16-*.pt2"))
