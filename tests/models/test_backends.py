"""Backend choice, ONNX export, OpenVINO and the INT8 quality guard, on the real weights and real photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from animegan import Engine, Settings
from animegan.backends import BackendUnavailableError, GlobalNormBackend, cpu, style_choice
from animegan.cli import main as cli_main
from animegan.imageio import decode
from animegan.quality import MIN_PSNR, MIN_SSIM, psnr, ssim
from animegan.resample import fit_within, resize
from animegan.settings import get_settings
from tests.conftest import WEIGHTS_PATH, engine_with_own_cache, make_settings

GUARD_SIDE = 384  # the guard runs fp32 and INT8 on every shared photo: keep it quick


def photo(photos: Path, name: str, side: int) -> np.ndarray:
    rgb = decode(photos / name, 40_000_000).rgb
    return resize(rgb, *fit_within(*rgb.shape[:2], side))


@pytest.mark.slow
def test_auto_runs_v2_through_its_onnx_export_and_agrees_with_torch(engine: Engine, photos: Path) -> None:
    auto = engine.stylizer("hayao")
    choice, _ = style_choice(engine.style_model("hayao"), engine.settings, measure=False)
    assert choice is not None and auto.backend.name == choice.chosen, "auto runs what this CPU measured fastest"
    if cpu.native_bf16():
        assert auto.backend.name == "openvino", choice  # measured 4-5× faster than onnxruntime fp32 wherever bf16 is native
    x = photo(photos, "portrait_obama_official.jpg", 256)
    fp32, torch_out = engine.stylizer("hayao", "onnx")(x), engine.stylizer("hayao", "torch")(x)
    assert fp32.shape == torch_out.shape == x.shape
    assert np.abs(fp32 - torch_out).max() < 2e-3, "the ONNX export must match PyTorch"


def test_a_backend_that_cannot_run_a_style_is_a_clear_error(engine: Engine) -> None:
    choices = r"auto, openvino, openvino-int8, onnx-int8, onnx"
    with pytest.raises(BackendUnavailableError, match=rf"'torch' cannot run 'animeganv3_shinkai37.onnx'.*{choices}"):
        engine.stylizer("shinkai", "torch")


@pytest.mark.slow
def test_derived_models_come_from_verified_weights_and_are_cached(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ANIMEGAN_MODEL_CACHE_DIR=str(tmp_path / "models"))
    engine = Engine(settings)
    engine.stylizer("hayao", "onnx")
    (model,) = settings.model_cache_dir.glob("*-onnx-r*.onnx")
    record = json.loads(model.with_suffix(".json").read_text())
    assert record["source_sha256"] == engine.weights.locate("animeganv2_hayao_bryandlee_generator.pt").entry.sha256
    assert record["max_abs_err"] < 1e-3
    built = model.stat().st_mtime_ns
    Engine(settings).stylizer("hayao", "onnx")
    assert model.stat().st_mtime_ns == built, "a cached export must be reused"
    with model.open("ab") as f:
        f.write(b"tampered")
    Engine(settings).stylizer("hayao", "onnx")
    assert json.loads(model.with_suffix(".json").read_text())["sha256"] == record["sha256"], "a tampered file is rebuilt"


def test_export_cli_writes_a_dynamic_onnx_model_matching_pytorch(
    tmp_path: Path, settings: Settings, engine: Engine, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANIMEGAN_WEIGHTS_PATH", WEIGHTS_PATH)
    monkeypatch.setenv("ANIMEGAN_MODEL_CACHE_DIR", str(settings.model_cache_dir))
    get_settings.cache_clear()
    out = tmp_path / "hayao.onnx"
    try:
        assert cli_main(["export", "--style", "hayao", "--format", "onnx", "-o", str(out)]) == 0
    finally:
        get_settings.cache_clear()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.shape[0] == 1 and inp.shape[3] == 3 and all(isinstance(d, str) for d in inp.shape[1:3]), inp.shape
    torch_backend = engine.stylizer("hayao", "torch").backend
    for h, w in ((136, 200), (256, 192)):
        x = (resize(photo(photos, "city_tokyo_street.jpg", 400), h, w) * 2 - 1)[None].astype(np.float32)
        (y,) = session.run(None, {inp.name: x})
        assert y.shape == x.shape
        assert np.abs(y - torch_backend.run(x)).max() < 2e-3


@pytest.fixture(scope="module")
def int8_engine(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return engine_with_own_cache(settings, tmp_path_factory.mktemp("int8") / "models")


@pytest.mark.slow
@pytest.mark.parametrize("style", ["hayao"])
def test_int8_quality_guard_on_every_photo(style: str, int8_engine: Engine, photos: Path, artifacts: Path) -> None:
    """The INT8 model is built (forced once) with its build-time guard; on every shared photo it must
    stay within PSNR/SSIM of fp32 — or else fail the guard, and then auto must never choose it."""
    engine = int8_engine
    int8 = engine.stylizer(style, "onnx-int8")
    fp32 = engine.stylizer(style, "onnx")
    rows = []
    for path in sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".png")):
        x = photo(photos, path.name, GUARD_SIDE)
        a, b = fp32(x), int8(x)
        rows.append((path.name, psnr(a, b), ssim(a, b)))
    worst = min(rows, key=lambda r: r[1])
    report = "\n".join(f"{n:40} PSNR {p:6.2f} dB  SSIM {s:.4f}" for n, p, s in rows)
    (artifacts / "int8_vs_fp32.txt").write_text(report)
    all_pass = all(p >= MIN_PSNR and s >= MIN_SSIM for _, p, s in rows)
    record = json.loads(next(engine.settings.model_cache_dir.glob("*-onnx-int8-r*.json")).read_text())
    passed_at_build = record["passed"]
    fresh = Engine(engine.settings)
    auto = fresh.stylizer(style).backend.name
    choice, _ = style_choice(fresh.style_model(style), fresh.settings, measure=False)
    assert choice is not None and auto == choice.chosen
    tried = {t.backend for t in choice.trials}
    assert ("onnx-int8" in tried) == passed_at_build, "an INT8 build that failed its guard is never measured"
    if passed_at_build:
        assert all_pass, f"INT8 passed its build-time guard but fails on real photos (worst {worst}):\n{report}"


@pytest.mark.slow
def test_default_backend_is_within_30_db_of_the_exact_fp32_generator_on_every_photo(
    int8_engine: Engine, photos: Path, artifacts: Path
) -> None:
    """What a user gets after ``prepare`` (``auto``: INT8 if its build is usable, else the fp32 export) against
    the exact fp32 PyTorch generator, on every shared photo (issue 16's quality target; worst case reported)."""
    int8_engine.stylizer("hayao", "onnx-int8")  # built as `prepare` builds it
    auto = Engine(int8_engine.settings).stylizer("hayao")
    exact = int8_engine.stylizer("hayao", "torch")
    rows = []
    for path in sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".png")):
        x = photo(photos, path.name, GUARD_SIDE)
        rows.append((psnr(exact(x), auto(x)), path.name))
    rows.sort()
    report = "\n".join(f"{n:40} PSNR {p:6.2f} dB" for p, n in rows)
    (artifacts / f"{auto.backend.name}_vs_exact_fp32.txt").write_text(report)
    assert rows[0][0] >= MIN_PSNR, f"{auto.backend.name} vs the exact fp32 generator, worst first:\n{report}"


@pytest.mark.slow
def test_prepare_builds_int8_once_and_auto_follows_its_measurement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path)
    for key, value in (("ANIMEGAN_WEIGHTS_PATH", WEIGHTS_PATH), ("ANIMEGAN_MODEL_CACHE_DIR", str(settings.model_cache_dir))):
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        assert cli_main(["prepare", "--style", "cute", "paprika", "--json"]) == 0
        rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
        (built,) = settings.model_cache_dir.glob("*-onnx-int8-r*.onnx")
        mtime = built.stat().st_mtime_ns
        assert cli_main(["prepare", "--style", "cute"]) == 0
        assert built.stat().st_mtime_ns == mtime, "a second prepare must reuse the cached build"
        assert cli_main(["prepare", "--style", "no_such_style"]) == 2
        capsys.readouterr()
        assert cli_main(["backends", "--json"]) == 0
        table = json.loads(capsys.readouterr().out)
    finally:
        get_settings.cache_clear()
    record = json.loads(built.with_suffix(".json").read_text())
    assert record["passed"]
    assert "int8" not in rows["paprika"]["note"], rows["paprika"]  # v1 has no INT8 path
    assert "onnx-int8" in rows["cute"]["note"] and "openvino-int8" in rows["cute"]["note"], rows["cute"]
    auto = Engine(settings).stylizer("cute").backend.name
    assert rows["cute"]["backend"] == auto, (rows, record)
    cute = [r for r in table if r["model"] == "cute"]
    assert {r["backend"] for r in cute} >= {"onnx", "openvino", "onnx-int8", "openvino-int8"}
    (chosen,) = [r for r in cute if r["chosen"]]
    assert chosen["backend"] == auto and chosen["passed"]
    assert chosen["seconds"] == min(r["seconds"] for r in cute if r["passed"] and r["seconds"] is not None)


def test_v1_statistics_graph_is_grafted_from_the_verified_weights(engine: Engine, photos: Path) -> None:
    """The v1 styles' full-resolution graph: given their own statistics, it reproduces the shipped graph."""
    backend = engine.stylizer("paprika", "onnx").backend
    assert isinstance(backend, GlobalNormBackend)
    x = photo(photos, "portrait_obama_official.jpg", 128)[None, :128, :80] * 2 - 1
    stats = backend.norm_stats(x)
    assert stats.shape == (25088,)  # 40 InstanceNorms: a mean and a variance per channel
    y, again = backend.run_with_stats(x, stats)
    np.testing.assert_allclose(y, backend.run(x), atol=1e-5)
    np.testing.assert_allclose(again, stats, rtol=1e-4, atol=1e-5)
    sha = engine.weights.locate("animeganv1_paprika.onnx").entry.sha256
    (record,) = engine.settings.model_cache_dir.glob(f"{sha[:16]}-onnx-stats-*.json")
    assert json.loads(record.read_text())["norm_moments"] == 80
