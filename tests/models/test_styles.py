"""Every registered style, on real photos: loads, verifies, keeps size and mode, matches its reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegan import STYLES, Engine, StylizeOptions, decode, to_pil
from animegan.imageio import Picture
from animegan.quality import psnr

REFERENCES = Path(__file__).resolve().parent.parent / "references"
REFERENCE_PSNR_DB = 35.0  # onnxruntime/torch kernels may differ slightly between CPUs; a changed model is far below this


@pytest.fixture(scope="module")
def portrait(photos: Path) -> Picture:
    """The astronaut portrait at 160×160: small enough to run every style quickly."""
    im = Image.open(photos / "portrait_astronaut_eileen_collins.png").convert("RGB").resize((160, 160), Image.LANCZOS)
    return Picture(rgb=np.asarray(im, np.float32) / 255, mode="RGB", size=im.size)


@pytest.mark.parametrize("style", STYLES.ids())
def test_style_on_real_photo(engine: Engine, portrait: Picture, style: str, artifacts: Path, update_references: bool) -> None:
    status = engine.style_status(style)
    assert status.available, status.reason  # every style we ship weights for must run here
    opts = StylizeOptions(style=style)
    out = engine.stylize(portrait, opts).rgb
    assert out.shape == portrait.rgb.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.std() > 0.05, "output is (nearly) constant"
    assert np.abs(out - portrait.rgb).mean() > 0.02, "output is (nearly) the input"
    np.testing.assert_array_equal(out, engine.stylize(portrait, opts).rgb)  # deterministic

    ref_path = REFERENCES / f"{style}.png"
    got = np.asarray(to_pil(Picture(rgb=out, mode="RGB", size=portrait.size)), np.float32) / 255
    if update_references or not ref_path.exists():
        REFERENCES.mkdir(exist_ok=True)
        Image.fromarray(np.round(got * 255).astype(np.uint8)).save(ref_path, optimize=True)
        if not update_references:
            pytest.fail(f"no reference for {style}; wrote {ref_path}, check it and commit it")
    ref = np.asarray(Image.open(ref_path).convert("RGB"), np.float32) / 255
    score = psnr(got, ref)
    if score < REFERENCE_PSNR_DB:
        Image.fromarray(np.round(got * 255).astype(np.uint8)).save(artifacts / f"{style}_got.png")
        Image.fromarray(np.round(ref * 255).astype(np.uint8)).save(artifacts / f"{style}_reference.png")
    diff = np.abs(got - ref)
    assert score >= REFERENCE_PSNR_DB, (
        f"{style}: PSNR {score:.1f} dB vs reference (mean |diff| {diff.mean():.4f}, max {diff.max():.3f})"
    )


@pytest.mark.parametrize("style", STYLES.ids())
@pytest.mark.parametrize("size", [(23, 17), (400, 40), (1, 1)])
def test_style_keeps_odd_and_extreme_sizes(engine: Engine, photos: Path, style: str, size: tuple[int, int]) -> None:
    im = Image.open(photos / "city_tokyo_street.jpg").convert("RGB").resize(size, Image.LANCZOS)
    pic = Picture(rgb=np.asarray(im, np.float32) / 255, mode="RGB", size=size)
    out = engine.stylize(pic, StylizeOptions(style=style))
    assert to_pil(out).size == size
    assert np.isfinite(out.rgb).all()


def test_grade_makes_cyberpunk_differ_from_shinkai(engine: Engine, portrait: Picture) -> None:
    base = engine.stylize(portrait, StylizeOptions(style="shinkai")).rgb
    neon = engine.stylize(portrait, StylizeOptions(style="cyberpunk")).rgb
    # magenta highlights: more red+blue than green, relative to the plain model output
    shift = (neon[..., 0] + neon[..., 2] - 2 * neon[..., 1]).mean() - (base[..., 0] + base[..., 2] - 2 * base[..., 1]).mean()
    assert shift > 0.05


def test_opt_in_adjustments_change_only_when_asked(engine: Engine, photos: Path) -> None:
    pic = decode(photos / "lowlight_night_river_dicm25.jpg", 10**8)
    plain = engine.stylize(pic, StylizeOptions(style="cute", max_side=256)).rgb
    matched = engine.stylize(pic, StylizeOptions(style="cute", max_side=256, match_brightness=True)).rgb
    half = engine.stylize(pic, StylizeOptions(style="cute", max_side=256, strength=0.5)).rgb
    photo = engine.stylize(pic, StylizeOptions(style="cute", max_side=256, strength=0.0)).rgb
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    src_mean = float((photo @ luma).mean())
    assert abs(float((matched @ luma).mean()) - src_mean) < abs(float((plain @ luma).mean()) - src_mean) + 1e-6
    np.testing.assert_allclose(half, 0.5 * plain + 0.5 * photo, atol=1e-5)
