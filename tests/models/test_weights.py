"""Weights resolve only when their SHA-256 matches; missing or corrupt files are reported, not fatal."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from animegan import Engine, StylizeOptions, WeightsChecksumError, WeightsMissingError
from animegan.cli import main as cli_main
from tests.conftest import SHIPPED_PATH, WEIGHTS_PATH, make_settings

ANIME = Path(SHIPPED_PATH) / "anime"


@pytest.fixture()
def partial_weights(tmp_path: Path) -> Path:
    """A weights folder with Cute intact, Shinkai corrupted (one byte flipped) and everything else missing."""
    d = tmp_path / "w"
    d.mkdir()
    shutil.copy(ANIME / "animeganv3_tiny_cute.onnx", d)
    data = bytearray((ANIME / "animeganv3_shinkai37.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "animeganv3_shinkai37.onnx").write_bytes(bytes(data))
    return d


@pytest.fixture()
def partial_engine(tmp_path: Path, partial_weights: Path) -> Engine:
    return Engine(make_settings(tmp_path, ANIMEGAN_WEIGHTS_PATH=str(partial_weights)))


def test_every_shipped_weight_the_product_uses_verifies(engine: Engine) -> None:
    """Every weight file in ../shared that the manifest lists resolves (a missing or corrupt one is a failure,
    not a skip); the one it does not list (YuNet) is unused."""
    shipped = sorted(p.name for d in WEIGHTS_PATH.split(os.pathsep) for p in Path(d).glob("*/*")
                     if p.suffix in (".pt", ".pth", ".onnx"))
    assert set(shipped) - set(engine.weights.entries) == {"face_detection_yunet_2026may.onnx"}
    for name in shipped:
        if name in engine.weights.entries:
            status = engine.weights.status(name)
            assert status.state == "ok", status.reason


def test_missing_weight_names_file_folders_and_fix(partial_engine: Engine, partial_weights: Path) -> None:
    with pytest.raises(WeightsMissingError) as info:
        partial_engine.stylizer("hayao")
    msg = str(info.value)
    assert "animeganv2_hayao_bryandlee_generator.pt" in msg and str(partial_weights) in msg and "ANIMEGAN_WEIGHTS_PATH" in msg


def test_corrupt_weight_names_file_and_fix(partial_engine: Engine) -> None:
    with pytest.raises(WeightsChecksumError) as info:
        partial_engine.stylizer("shinkai")
    msg = str(info.value)
    assert "animeganv3_shinkai37.onnx" in msg and "corrupt" in msg and "replace it" in msg


def test_other_styles_still_work(partial_engine: Engine) -> None:
    status = {s.item.id: s for s in partial_engine.styles()}
    assert status["cute"].available
    assert not status["shinkai"].available and "corrupt" in status["shinkai"].reason
    assert not status["hayao"].available and "not found" in status["hayao"].reason
    from animegan.imageio import Picture

    rgb = np.random.default_rng(0).random((48, 64, 3), dtype=np.float32)
    out = partial_engine.stylize(Picture(rgb=rgb, mode="RGB", size=(64, 48)), StylizeOptions(style="cute"))
    assert out.rgb.shape == (48, 64, 3)


def test_cli_weights_command_reports_states(partial_weights: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import animegan.settings as settings_mod

    monkeypatch.setenv("ANIMEGAN_WEIGHTS_PATH", str(partial_weights))
    settings_mod.get_settings.cache_clear()
    try:
        assert cli_main(["weights", "--json"]) == 0
        rows = {r["file"]: r for r in json.loads(capsys.readouterr().out)}
        assert rows["animeganv3_tiny_cute.onnx"]["state"] == "ok"
        assert rows["animeganv3_shinkai37.onnx"]["state"] == "corrupt"
        assert rows["animeganv2_hayao_bryandlee_generator.pt"]["state"] == "missing"
        assert cli_main(["stylize", "x.png", "-o", "y.png", "--style", "shinkai"]) == 4  # no input found first
    finally:
        settings_mod.get_settings.cache_clear()
