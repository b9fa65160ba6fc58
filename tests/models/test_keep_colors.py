"""``keep_colors``: the photo's chroma (Cb, Cr as PIL converts) with the style's luminance, on real photos."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegan import Engine, StylizeOptions
from animegan.cache import result_key


def ycbcr(png: bytes, size: tuple[int, int]) -> np.ndarray:
    """H×W×3 float Y, Cb, Cr in 0..255 of an encoded picture, resized to ``size``."""
    im = Image.open(io.BytesIO(png)).convert("RGB")
    if im.size != size:
        im = im.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(im.convert("YCbCr"), dtype=np.float32)


def compare(engine: Engine, photo: Path, **options: object) -> tuple[float, float, float, float]:
    """Mean absolute errors in 0..255 levels: (chroma kept vs the photo's, chroma of the plain style vs the photo's,
    luma kept vs the plain style's), over the pixels whose colour fits in RGB, and the share of those pixels.

    Compared at the processing size, where the chroma was taken. A pixel at an RGB bound (a saturated colour the
    style made much brighter or darker) keeps its hue and luminance but not its full saturation: left out.
    """
    data = photo.read_bytes()
    plain = engine.render(data, StylizeOptions(**options))  # type: ignore[arg-type]  # the tests' keyword options
    kept = engine.render(data, StylizeOptions(**options, keep_colors=True))  # type: ignore[arg-type]
    w, h = Image.open(io.BytesIO(kept)).size
    side = int(options["max_side"])  # type: ignore[call-overload]  # an int in every test
    size = (side, round(h * side / w)) if w >= h else (round(w * side / h), side)
    source, k, p = ycbcr(data, size), ycbcr(kept, size), ycbcr(plain, size)
    rgb = np.asarray(Image.open(io.BytesIO(kept)).convert("RGB").resize(size, Image.Resampling.LANCZOS))
    fits = ((rgb > 3) & (rgb < 252)).all(axis=-1)
    chroma_kept = np.abs(k[..., 1:] - source[..., 1:]).mean(axis=-1)[fits]
    chroma_plain = np.abs(p[..., 1:] - source[..., 1:]).mean(axis=-1)[fits]
    return (float(chroma_kept.mean()), float(chroma_plain.mean()), float(np.abs(k[..., 0] - p[..., 0]).mean()),
            float(fits.mean()))


@pytest.mark.parametrize(("style", "name"), [("hayao", "city_tokyo_street.jpg"), ("cyberpunk", "landscape_beach_small_256.jpg"),
                                             ("ink", "still_coffee_cup.png")])
def test_the_photos_chroma_and_the_styles_luminance(engine: Engine, photos: Path, style: str, name: str) -> None:
    kept, plain, luma, share = compare(engine, photos / name, style=style, max_side=384)
    assert share > 0.3, f"{style}: only {share:.0%} of the pixels can hold the photo's colour"
    assert kept < 2.0, f"{style}: the result's chroma is {kept:.2f} levels from the photo's ({share:.0%} of the pixels)"
    assert plain > 2.5 * kept, f"{style}: the plain style changes the chroma by only {plain:.2f} levels"
    assert luma < 2.0, f"{style}: the luminance moved {luma:.2f} levels from the style's"


def test_with_faces_and_upscaling(engine: Engine, photos: Path) -> None:
    assert engine.features()["faces"].available and engine.features()["upscale"].available
    kept, plain, luma, share = compare(engine, photos / "portrait_old_man_test2.jpg", style="shinkai", max_side=256,
                                       face="on", upscale=2)
    assert share > 0.5 and kept < 2.5 and plain > 2.5 * kept and luma < 2.5, (kept, plain, luma, share)


def test_keep_colors_is_part_of_the_cache_key() -> None:
    a, b = StylizeOptions(style="hayao"), StylizeOptions(style="hayao", keep_colors=True)
    assert result_key(b"x", a) != result_key(b"x", b)
    assert [n for n, _ in Engine().plan(b)][-1] == "colours"
