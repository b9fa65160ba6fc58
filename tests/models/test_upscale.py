"""The Real-ESRGAN upscaling pass on real weights and real photos (small images: these models are slow on a CPU)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from animegan import Engine, Picture, StylizeOptions, decode, encode
from animegan.errors import InvalidOptionError
from animegan.imageio import to_pil
from animegan.quality import psnr
from animegan.resample import resize
from animegan.upscale import (
    UPSCALERS,
    UpscaleError,
    bands,
    build_model,
    effective_tile,
    fold_x2,
    load_upscaler,
    tile_count,
)
from tests.conftest import WEIGHTS_PATH, make_settings
from tests.measures import gradient_energy

NOT_HERE = {"x2plus": "RealESRGAN_x2plus.pth is not in ../shared/weights (see upscale/PROVENANCE.md)"}
"""Registered upscalers whose weights we do not have; every other one must run."""


def save(folder: Path, **images: np.ndarray) -> None:
    for name, rgb in images.items():
        Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)).save(folder / f"{name}.png")


def crop(photos: Path, name: str, box: tuple[int, int, int, int], size: tuple[int, int] | None = None) -> Picture:
    """A decoded real photo cut to ``box`` (x0, y0, x1, y1), optionally resized to ``size`` (w, h)."""
    pic = decode(photos / name, 10**8)
    x0, y0, x1, y1 = box
    rgb = pic.rgb[y0:y1, x0:x1]
    if size:
        rgb = resize(rgb, size[1], size[0])
    alpha = None if pic.alpha is None else pic.alpha[y0:y1, x0:x1]
    if alpha is not None and size:
        alpha = np.round(resize(alpha[..., None].astype(np.float32) / 255, size[1], size[0])[..., 0] * 255).astype(np.uint8)
    return replace(pic, rgb=np.ascontiguousarray(rgb), alpha=alpha, size=(rgb.shape[1], rgb.shape[0]))


@pytest.fixture(scope="module")
def stylized(engine: Engine, photos: Path) -> np.ndarray:
    """A small real stylized picture (the fast 'cute' style on a face-and-background crop), 96×80."""
    pic = crop(photos, "portrait_astronaut_eileen_collins.png", (140, 40, 380, 240), size=(96, 80))
    return engine.stylize(pic, StylizeOptions(style="cute", max_side=None)).rgb


def bicubic(rgb: np.ndarray, factor: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    return resize(rgb, h * factor, w * factor)


def test_real_packages_import() -> None:
    """basicsr-fixed + realesrgan import with this torchvision (stock basicsr needs the removed functional_tensor)."""
    import basicsr
    import realesrgan
    from basicsr.archs.rrdbnet_arch import RRDBNet
    from realesrgan import RealESRGANer
    from realesrgan.archs.srvgg_arch import SRVGGNetCompact

    from animegan.upscale import build_model

    assert importlib.util.find_spec("torchvision.transforms.functional_tensor") is None
    assert version("basicsr-fixed") == "1.4.2" and version("realesrgan") == "0.3.0" and realesrgan.RealESRGANer is RealESRGANer
    assert basicsr.archs.rrdbnet_arch.RRDBNet is RRDBNet
    assert isinstance(build_model(UPSCALERS.get("animevideov3")), SRVGGNetCompact)
    assert isinstance(build_model(UPSCALERS.get("x4plus_anime_6b")), RRDBNet)


@pytest.mark.slow
@pytest.mark.parametrize("upscaler_id", UPSCALERS.ids())
def test_each_upscaler_runs_on_a_real_photo(engine: Engine, photos: Path, artifacts: Path, upscaler_id: str) -> None:
    spec = UPSCALERS.get(upscaler_id)
    status = engine.upscalers.status(upscaler_id)
    if upscaler_id in NOT_HERE:
        assert not status.available and spec.weights in status.reason
        pytest.skip(NOT_HERE[upscaler_id])
    assert status.available, status.reason
    # x4plus needs ~3 s per 1000 input pixels here: keep its input tiny
    size = (20, 17) if spec.cost == "slow" else (43, 37)
    pic = crop(photos, "portrait_astronaut_eileen_collins.png", (180, 60, 180 + 4 * size[0], 60 + 4 * size[1]), size=size)
    up = engine.upscalers.get(upscaler_id)
    out = up(pic.rgb, spec.scale)
    ref = bicubic(pic.rgb, spec.scale)
    save(artifacts, model=out, bicubic=ref)
    assert out.shape == (size[1] * spec.scale, size[0] * spec.scale, 3) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    # the model adds detail, but shrunk back it must be the input again (no shift, no garbage)
    back = resize(out, size[1], size[0])
    diff = float(np.abs(back - pic.rgb).mean())
    shift = float(np.abs(out.mean(axis=(0, 1)) - ref.mean(axis=(0, 1))).max())
    assert diff < 0.04 and shift < 0.02, f"{upscaler_id}: mean |shrunk back - input| {diff:.4f}, channel mean shift {shift:.4f}"
    assert engine.upscalers.get(upscaler_id) is up  # loaded once


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_dimensions_exact_on_odd_sizes(engine: Engine, photos: Path, scale: int) -> None:
    pic = crop(photos, "landscape_beach_small_256.jpg", (10, 20, 57, 81))  # 47×61
    out = engine.stylize(pic, StylizeOptions(style="cute", upscale=scale))
    assert out.rgb.shape == (61 * scale, 47 * scale, 3)
    assert out.output_size == (47 * scale, 61 * scale)
    assert Image.open(io.BytesIO(encode(out))).size == (47 * scale, 61 * scale)


def test_processing_downscaled_then_upscaled(engine: Engine, photos: Path) -> None:
    """A photo shrunk to max_side: the model runs at the factor that reaches the output, the encoder does the rest."""
    pic = crop(photos, "still_coffee_cup.png", (0, 0, 301, 199))
    out = engine.stylize(pic, StylizeOptions(style="cute", max_side=128, upscale=2))
    assert out.rgb.shape[:2] == (85 * 4, 128 * 4)  # ratio 602/128 = 4.7 → the model's ×4
    assert to_pil(out).size == (602, 398)
    out3 = engine.stylize(pic, StylizeOptions(style="cute", max_side=256, upscale=2))
    assert out3.rgb.shape[:2] == (169 * 3, 256 * 3)  # ratio 602/256 = 2.35 → ×3, then shrunk
    assert to_pil(out3).size == (602, 398)


def test_tiled_matches_untiled(engine: Engine, stylized: np.ndarray, artifacts: Path) -> None:
    up = engine.upscalers.get("animevideov3")
    whole = replace(up, tile=0)(stylized, 4)
    tiled = replace(up, tile=32)(stylized, 4)  # 2×2 tiles of 53 px: a vertical and a horizontal seam
    save(artifacts, whole=whole, tiled=tiled)
    score = psnr(whole, tiled)
    assert score >= 40, f"tiled vs untiled PSNR {score:.1f} dB, max |diff| {np.abs(whole - tiled).max():.4f}"


@pytest.mark.parametrize("factor", [2, 3])
def test_bands_match_one_piece(engine: Engine, stylized: np.ndarray, factor: int) -> None:
    """Bands (memory bound) are exact: integer factors put every band edge on a pixel edge."""
    up = engine.upscalers.get("animevideov3")
    scale = up.network_scale(factor)  # the folded ×2 network for ×2, the ×4 one for ×3
    budget = 12 * scale * scale * 106 * 75
    one = replace(up, tile=0)(stylized, factor)
    banded = replace(up, tile=0, band_bytes=budget)(stylized, factor)
    assert banded.shape == one.shape
    assert len(bands(80, 96, scale, budget)) == 3
    assert np.abs(banded - one).max() < 1e-4


def test_sharper_than_bicubic_with_the_same_colours(engine: Engine, stylized: np.ndarray, artifacts: Path) -> None:
    out = engine.upscalers.get(None)(stylized, 2)
    ref = bicubic(stylized, 2)
    save(artifacts, upscaled=out, bicubic=ref)
    sharp, soft = gradient_energy(out), gradient_energy(ref)
    colour = float(np.abs(out.mean(axis=(0, 1)) - ref.mean(axis=(0, 1))).max())
    diff = float(np.abs(out - ref).mean())
    assert sharp > 1.3 * soft, f"Laplacian variance {sharp:.5f} vs bicubic {soft:.5f}"
    assert diff < 0.03 and colour < 0.02, f"mean |diff| {diff:.4f}, channel mean shift {colour:.4f}"


def test_progress_reports_every_tile(engine: Engine, stylized: np.ndarray) -> None:
    up = engine.upscalers.get(None)
    calls: list[tuple[float, str]] = []
    replace(up, tile=32)(stylized, 2, progress=lambda f, m: calls.append((f, m)))
    expected = tile_count(80, 96, effective_tile(80, 96, 32), 4)
    assert expected == 4
    assert len(calls) == expected > 1
    assert [f for f, _ in calls] == sorted(f for f, _ in calls) and calls[-1][0] == 1.0
    assert calls[-1][1] == f"upscaling tile {expected}/{expected}"


def test_alpha_is_kept_and_upscaled(engine: Engine, photos: Path, tmp_path: Path) -> None:
    pic = crop(photos, "alpha_children_rgba.png", (0, 0, 566, 350), size=(71, 45))
    assert pic.alpha is not None and pic.alpha.min() == 0 and pic.alpha.max() == 255
    out = engine.stylize(pic, StylizeOptions(style="cute", upscale=2))
    back = decode(encode(out, "png"), 10**8)
    assert back.mode == "RGBA" and back.size == (142, 90) and back.alpha is not None
    ref = np.round(resize(pic.alpha[..., None].astype(np.float32) / 255, 90, 142)[..., 0] * 255)
    assert np.abs(back.alpha.astype(np.float32) - ref).max() <= 1
    assert (back.alpha[ref == 0] == 0).all() and (back.alpha[ref == 255] == 255).all()


def test_16_bit_keeps_its_precision(engine: Engine, photos: Path) -> None:
    pic8 = crop(photos, "landscape_beach_small_256.jpg", (30, 30, 93, 71))  # 63×41
    # a real 16-bit PNG: the photo plus a fine vertical ramp that 8 bits cannot hold
    ramp = np.linspace(0, 1 / 255, 41, dtype=np.float32)[:, None, None]
    rgb16 = np.round(np.clip(pic8.rgb * 0.9 + ramp, 0, 1) * 65535).astype(np.uint16)
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    assert ok
    pic = decode(png.tobytes(), 10**8)
    assert pic.bit_depth == 16
    out = engine.stylize(pic, StylizeOptions(style="cute", upscale=2))
    arr = cv2.imdecode(np.frombuffer(encode(out, "png"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert arr.dtype == np.uint16 and arr.shape == (82, 126, 3)
    assert (arr % 257 != 0).mean() > 0.5  # not 8-bit values stretched to 16 bits


def test_grayscale_stays_grayscale(engine: Engine, photos: Path) -> None:
    pic = crop(photos, "gray_cameraman_L.png", (200, 60, 253, 117))  # 53×57, mode L
    assert pic.mode == "L"
    out = engine.stylize(pic, StylizeOptions(style="cute", upscale=3))
    im = Image.open(io.BytesIO(encode(out, "png")))
    assert im.mode == "L" and im.size == (159, 171)


def test_unavailable_without_weights(tmp_path: Path) -> None:
    empty = Engine(make_settings(tmp_path, ANIMEGAN_WEIGHTS_PATH=str(tmp_path / "none")).with_(weights_path=(tmp_path,)))
    feature = empty.features()["upscale"]
    assert not feature.available and "realesr-animevideov3.pth" in feature.reason and "ANIMEGAN_WEIGHTS_PATH" in feature.reason
    with pytest.raises(InvalidOptionError, match="upscaling is unavailable"):
        empty.plan(StylizeOptions(style="hayao", upscale=2))
    assert [name for name, _ in empty.plan(StylizeOptions(style="hayao"))] == ["preparing", "stylizing"]


def test_plan_puts_upscaling_last_and_refuses_a_missing_model(engine: Engine) -> None:
    assert engine.features()["upscale"].available
    names = [name for name, _ in engine.plan(StylizeOptions(style="hayao", upscale=2))]
    assert names[-1] == "upscaling" and names.index("stylizing") < names.index("upscaling")
    missing = re.escape("upscaler 'x2plus' is unavailable: weight file 'RealESRGAN_x2plus.pth'")
    with pytest.raises(InvalidOptionError, match=missing):
        engine.plan(StylizeOptions(style="hayao", upscale=2, upscaler="x2plus"))


def test_tiny_images(engine: Engine) -> None:
    up = engine.upscalers.get(None)
    for h, w in ((1, 1), (3, 5), (17, 2)):
        rgb = np.random.default_rng(h * w).random((h, w, 3), dtype=np.float32)
        assert up(rgb, 2).shape == (2 * h, 2 * w, 3)


@pytest.mark.slow
def test_cli_upscaler_choice(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    from animegan.cli import main
    from animegan.settings import get_settings
    from tests.conftest import WEIGHTS_PATH

    monkeypatch.setenv("ANIMEGAN_WEIGHTS_PATH", WEIGHTS_PATH)
    monkeypatch.setenv("ANIMEGAN_THREADS", "2")
    get_settings.cache_clear()
    try:
        src = tmp_path / "in.png"
        Image.open(photos / "landscape_beach_small_256.jpg").crop((0, 0, 45, 33)).save(src)
        assert main(["upscalers", "--json"]) == 0
        rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
        assert rows["animevideov3"]["default"] and rows["x4plus"]["cost"] == "slow" and not rows["x2plus"]["available"]
        assert main(["stylize", str(src), "-o", str(tmp_path / "out.png"), "-s", "cute", "--upscale", "3",
                     "--upscaler", "general_x4v3"]) == 0
        assert Image.open(tmp_path / "out.png").size == (135, 99)
        assert main(["stylize", str(src), "-o", str(tmp_path / "x.png"), "-s", "cute", "--upscale", "2",
                     "--upscaler", "x2plus"]) == 3  # weights missing: the weights exit code, before any file
        assert "RealESRGAN_x2plus.pth" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()


def test_a_model_failure_is_raised_not_printed(engine: Engine) -> None:
    """RealESRGANer's tile loop prints a RuntimeError and carries on; ours stops with a clear error."""
    from animegan.backends.graphs import open_graph
    from animegan.upscale import Networks, Upscaler

    up = engine.upscalers.get(None)
    networks = Networks(up.spec, up.networks.path, up.networks.source_sha256, engine.settings)
    # a real graph that refuses the call: the face detector has no input "x"
    networks._nets[2] = open_graph(engine.weights.resolve("detection_mobilenet0.25_Final.onnx"), "onnxruntime", 2)
    with pytest.raises(UpscaleError, match=r"upscaler 'animevideov3' failed on a 30×30 px tile"):
        Upscaler(up.spec, networks, tile=0)(np.zeros((20, 20, 3), np.float32), 2)


@pytest.mark.slow
def test_the_measured_runtime_matches_pytorch_and_upscaling_runs_without_torch(engine: Engine, photos: Path,
                                                                              artifacts: Path, tmp_path: Path) -> None:
    """Each network runs its derived ONNX model in the runtime measured fastest here, equal to PyTorch's network
    within the precision's error; once built, a process without torch, basicsr and realesrgan upscales the same."""
    import torch

    from animegan.backends.torch_backend import load_state_dict

    up = engine.upscalers.get(None)
    where = {factor: up.runtime(factor) for factor in (2, 3, 4)}
    assert re.fullmatch(r"(onnxruntime fp32|openvino (bf16|fp32)) ×2 \(folded\)", where[2]), where
    assert where[3] == where[4] and where[4].endswith(" ×4"), where
    spec = up.spec
    state = load_state_dict(engine.weights.resolve(spec.weights))
    pic = crop(photos, "portrait_astronaut_eileen_collins.png", (100, 20, 420, 340), size=(128, 128))
    for factor in (2, 4):
        model = build_model(spec, factor)
        model.load_state_dict(fold_x2(state, spec.blocks) if factor == 2 else state, strict=True)
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(pic.rgb.transpose(2, 0, 1)[None]))
            want = model.eval()(x)[0].clamp(0, 1).permute(1, 2, 0).numpy()
        (got,) = up.networks.get(factor)({"x": x.numpy()})
        got = np.clip(got[0].transpose(1, 2, 0), 0, 1)
        save(artifacts, **{f"runtime_x{factor}": got, f"torch_x{factor}": want})
        score = psnr(got, want)
        assert score >= 40, f"×{factor} ({where[factor]}) vs PyTorch: PSNR {score:.1f} dB"
    out = tmp_path / "up.png"
    src = tmp_path / "in.png"
    to_pil(pic).save(src)
    code = ("import sys; sys.modules.update(torch=None, basicsr=None, realesrgan=None)\n"
            "from animegan import Engine, StylizeOptions, decode, encode\n"
            "e = Engine(); assert e.upscalers.status(None).available, e.upscalers.status(None).reason\n"
            f"p = e.stylize(decode({str(src)!r}, 10**8), StylizeOptions(style='cute', upscale=2, face='off'))\n"
            f"open({str(out)!r}, 'wb').write(encode(p))\n")
    env = {**os.environ, "ANIMEGAN_WEIGHTS_PATH": WEIGHTS_PATH, "ANIMEGAN_MODEL_CACHE_DIR": str(engine.settings.model_cache_dir),
           "ANIMEGAN_DOWNLOAD_DIR": str(tmp_path / "dl")}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    with Image.open(out) as im:
        assert im.size == (256, 256)


@pytest.mark.slow
@pytest.mark.parametrize("upscaler_id", ["animevideov3", "general_x4v3"])
def test_folded_x2_equals_x4_then_area_downscale(engine: Engine, photos: Path, upscaler_id: str) -> None:
    """The ×2 network folded from the ×4 one is "×4, then INTER_AREA by 2" (a 2×2 box average), to float error."""
    import torch

    from animegan.backends.torch_backend import load_state_dict

    spec = UPSCALERS.get(upscaler_id)
    state = load_state_dict(engine.weights.resolve(spec.weights))
    x4, x2 = build_model(spec), build_model(spec, 2)
    x4.load_state_dict(state, strict=True)
    x2.load_state_dict(fold_x2(state, spec.blocks), strict=True)
    rgb = crop(photos, "city_tokyo_street.jpg", (200, 100, 460, 300), size=(65, 50)).rgb
    with torch.inference_mode():
        x = torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None]
        y4 = x4.eval()(x)[0].permute(1, 2, 0).numpy()
        y2 = x2.eval()(x)[0].permute(1, 2, 0).numpy()
    area = cv2.resize(np.ascontiguousarray(y4), (65 * 2, 50 * 2), interpolation=cv2.INTER_AREA)
    box = y4.reshape(50 * 2, 2, 65 * 2, 2, 3).mean(axis=(1, 3))
    assert np.abs(area - box).max() < 1e-5, "INTER_AREA by exactly 2 is the 2×2 box average"
    assert np.abs(y2 - area).max() < 1e-4 * max(1.0, float(np.abs(area).max()))
    # the whole pass clamps before averaging in the old path and after it in the folded one: equal except near 0 and 1
    up = engine.upscalers.get(upscaler_id)
    folded, old = up(rgb, 2), cv2.resize(up(rgb, 4), (65 * 2, 50 * 2), interpolation=cv2.INTER_AREA)
    assert psnr(folded, old) >= 50


def test_derived_upscaler_models_are_cached_with_their_record(engine: Engine) -> None:
    """Each network's ONNX model is derived from the verified .pth once, then reused (a tampered file is
    rebuilt: that part of ``derived.cached`` is tested in test_backends)."""
    up = engine.upscalers.get("animevideov3")
    up.runtime(2)
    sha = engine.weights.locate(up.spec.weights).entry.sha256
    assert sha is not None
    cache = engine.settings.model_cache_dir
    built = {}
    for kind in ("onnx", "onnx-x2"):
        (model,) = cache.glob(f"{sha[:16]}-{kind}-r*.onnx")
        record = json.loads(model.with_suffix(".json").read_text())
        assert record["source_sha256"] == sha and record["kind"] == kind and record["max_abs_err"] < 1e-4
        built[model] = model.stat().st_mtime_ns
    again = load_upscaler(up.spec, engine.weights, engine.settings)
    assert again.runtime(2) == up.runtime(2)
    assert {m: m.stat().st_mtime_ns for m in built} == built, "a cached model must be reused, not rebuilt"
