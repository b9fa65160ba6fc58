"""OpenVINO against onnxruntime fp32 (the reference) for every model, on every shared photo; the measured choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from animegan import STYLES, Engine, Settings
from animegan.backends import cpu, openvino_precision, style_choice
from animegan.backends.choice import Choice, cached_choices
from animegan.backends.graphs import open_graph
from animegan.imageio import decode
from animegan.quality import MIN_PSNR, psnr
from animegan.resample import fit_within, resize
from tests.conftest import engine_with_own_cache

pytestmark = pytest.mark.slow

SIDE = 256
"""Every style on every photo in two runtimes: small enough to stay quick, big enough for real content."""
BF16_PSNR, INT8_PSNR = 40.0, MIN_PSNR
"""What a reduced-precision model must reach against fp32 on every photo, when ``auto`` may use it."""


def shared_photos(photos: Path) -> list[tuple[str, np.ndarray]]:
    out = []
    for path in sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".png")):
        rgb = decode(path, 40_000_000).rgb
        out.append((path.name, resize(rgb, *fit_within(*rgb.shape[:2], SIDE))))
    return out


def choose_detector(engine: Engine) -> tuple[Choice | None, None]:
    """The detector's cached choice (measured when the engine loaded it)."""
    settings = engine.settings
    found = cached_choices(settings.measure_dir or settings.model_cache_dir, settings.threads)
    sha = engine.weights.locate("detection_mobilenet0.25_Final.onnx").entry.sha256
    return next((c for key, c in found.items() if key.startswith(sha[:16])), None), None


@pytest.fixture(scope="module")
def every_photo(photos: Path) -> list[tuple[str, np.ndarray]]:
    return shared_photos(photos)


@pytest.mark.parametrize("style", STYLES.ids())
def test_openvino_matches_fp32_on_every_photo_where_auto_may_use_it(style: str, engine: Engine, artifacts: Path,
                                                                     every_photo: list[tuple[str, np.ndarray]]) -> None:
    status = engine.style_status(style)
    if not status.available:
        pytest.skip(status.reason)
    fp32, fast = engine.stylizer(style, "onnx"), engine.stylizer(style, "openvino")
    choice, _ = style_choice(engine.style_model(style), engine.settings)
    assert choice is not None
    precision = choice.precision("openvino")
    rows = sorted((psnr(fp32(rgb), fast(rgb)), name) for name, rgb in every_photo)
    report = "\n".join(f"{name:40} PSNR {score:6.2f} dB" for score, name in rows)
    (artifacts / f"openvino_{precision}_vs_fp32.txt").write_text(report)
    if precision is None:  # failed its guard at every precision: auto must never take it
        assert choice.chosen != "openvino", choice
        return
    assert fast.backend.precision == precision  # type: ignore[attr-defined]
    assert rows[0][0] >= BF16_PSNR, f"{style}: OpenVINO {precision} vs onnxruntime fp32, worst first:\n{report}"
    expected = openvino_precision(engine.settings)
    assert precision in (expected, "fp32"), choice  # the CPU's precision, or fp32 where that failed the guard


def test_forcing_the_fp32_policy_keeps_openvino_at_fp32(settings: Settings, tmp_path: Path,
                                                        every_photo: list[tuple[str, np.ndarray]]) -> None:
    """``ANIMEGAN_PRECISION=fp32`` (and any CPU without native bf16): OpenVINO is fp32 and equals onnxruntime fp32."""
    engine = engine_with_own_cache(settings.with_(precision="fp32"), tmp_path / "models")
    fp32, fast = engine.stylizer("hayao", "onnx"), engine.stylizer("hayao", "openvino")
    assert fast.backend.precision == "fp32"  # type: ignore[attr-defined]
    for _, rgb in every_photo[:4]:
        assert np.abs(fp32(rgb) - fast(rgb)).max() < 2e-3
    choice, _ = style_choice(engine.style_model("hayao"), engine.settings, measure=False)
    assert choice is not None and all(t.precision != "bf16" for t in choice.trials)


def test_int8_in_both_runtimes_is_within_30_db_of_fp32_on_every_photo(settings: Settings, tmp_path: Path,
                                                                     every_photo: list[tuple[str, np.ndarray]]) -> None:
    engine = engine_with_own_cache(settings, tmp_path / "models")
    fp32 = engine.stylizer("shinkai", "onnx")
    for name in ("onnx-int8", "openvino-int8"):
        int8 = engine.stylizer("shinkai", name)  # type: ignore[arg-type]
        worst = min((psnr(fp32(rgb), int8(rgb)), photo) for photo, rgb in every_photo)
        assert worst[0] >= INT8_PSNR, f"{name} vs fp32: worst {worst}"


def test_upscalers_and_the_face_detector_run_in_the_measured_runtime(engine: Engine,
                                                                     every_photo: list[tuple[str, np.ndarray]]) -> None:
    up = engine.upscalers.get(None)
    where = up.runtime(2)
    if cpu.native_bf16():
        assert where.startswith("openvino"), where
    detector = engine.face_detector()
    choice, _ = choose_detector(engine)
    assert choice is not None and choice.chosen in detector.name.replace("onnxruntime", "onnx"), (choice, detector.name)

    path = up.networks.get(2).path
    reference = open_graph(path, "onnxruntime", 2)
    for _, rgb in every_photo:  # a 64² crop of each: the upscaler's output is 4× that
        x = np.ascontiguousarray(rgb[:64, :64].transpose(2, 0, 1)[None])
        (want,), (got,) = reference({"x": x}), up.networks.get(2)({"x": x})
        assert psnr(np.clip(want, 0, 1), np.clip(got, 0, 1)) >= BF16_PSNR
    faces = [len(detector.detect(rgb, engine.settings.face_threshold)) for _, rgb in every_photo]
    assert sum(faces) > 10, faces  # the group photos have faces: the detector works in whichever runtime it runs
