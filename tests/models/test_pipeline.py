"""The whole pipeline on real photos in every odd mode: size, mode and alpha come back as they went in."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegan import Engine, StylizeOptions, decode, encode, to_pil
from animegan.quality import psnr

FAST = StylizeOptions(style="cute", max_side=384)


def stylize_bytes(engine: Engine, data: bytes, options: StylizeOptions = FAST, fmt: str = "png") -> Image.Image:
    pic = engine.stylize(decode(data, engine.settings.max_pixels), options)
    out = Image.open(io.BytesIO(encode(pic, fmt)))  # type: ignore[arg-type]
    out.load()
    return out


def save(im: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_rgba_photo_keeps_alpha_bit_exact(engine: Engine, photos: Path) -> None:
    src = Image.open(photos / "alpha_children_rgba.png")
    assert src.mode == "RGBA"
    out = stylize_bytes(engine, (photos / "alpha_children_rgba.png").read_bytes())
    assert out.mode == "RGBA" and out.size == src.size
    np.testing.assert_array_equal(np.asarray(out)[..., 3], np.asarray(src)[..., 3])
    opaque = np.asarray(src)[..., 3] == 255
    assert np.abs(np.asarray(out, np.float32)[opaque, :3] - np.asarray(src, np.float32)[opaque, :3]).mean() > 5


@pytest.mark.parametrize("name", ["gray_two_people_L.png", "gray_cameraman_L.png"])
def test_grey_photo_stays_grey(engine: Engine, photos: Path, name: str) -> None:
    out = stylize_bytes(engine, (photos / name).read_bytes())
    assert out.mode == "L" and out.size == Image.open(photos / name).size


def test_exif_rotated_photo_is_stylized_upright(engine: Engine, photos: Path) -> None:
    upright = Image.open(photos / "portrait_old_man_test2.jpg")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera stores for orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    out = stylize_bytes(engine, save(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert out.size == upright.size
    direct = stylize_bytes(engine, save(upright, "JPEG", quality=95))
    assert psnr(np.asarray(out, np.float32) / 255, np.asarray(direct, np.float32) / 255) > 25


def test_cmyk_palette_and_16bit_photos(engine: Engine, photos: Path) -> None:
    photo = Image.open(photos / "still_coffee_cup.png").convert("RGB")
    assert stylize_bytes(engine, save(photo.convert("CMYK"), "JPEG"), fmt="jpeg").mode == "CMYK"
    assert stylize_bytes(engine, save(photo.quantize(64))).mode == "P"
    grey16 = Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257)
    out = stylize_bytes(engine, save(grey16))
    assert out.mode.startswith("I") and np.asarray(out).max() > 255  # still 16-bit data


def test_extreme_strip_and_odd_size(engine: Engine, photos: Path) -> None:
    photo = Image.open(photos / "landscape_fuji_autumn_1365x2048.jpg").convert("RGB")
    for size in [(2000, 200), (200, 2000), (17, 23), (20000 // 10, 20 // 10)]:
        out = stylize_bytes(engine, save(photo.resize(size)))
        assert out.size == size


@pytest.mark.slow
def test_4k_photo_is_processed_under_the_max_side(engine: Engine, photos: Path) -> None:
    pic = decode(photos / "large_snow_station_3840x2160.jpg", engine.settings.max_pixels)
    out = engine.stylize(pic, StylizeOptions(style="shinkai"))
    assert max(out.rgb.shape[:2]) == engine.settings.max_side == 1024
    assert to_pil(out).size == (3840, 2160)


def test_full_resolution_mode_runs_in_tiles(engine: Engine, photos: Path) -> None:
    pic = decode(photos / "city_tokyo_street.jpg", engine.settings.max_pixels)
    out = engine.stylize(pic, StylizeOptions(style="cute", max_side=None))
    assert out.rgb.shape == pic.rgb.shape  # processed at 1280×720, not downscaled


def test_same_input_same_output(engine: Engine, photos: Path) -> None:
    data = (photos / "group_dinner_6_faces.jpg").read_bytes()
    opts = StylizeOptions(style="hayao", max_side=256)
    a = encode(engine.stylize(decode(data, 10**8), opts))
    b = encode(engine.stylize(decode(data, 10**8), opts))
    assert a == b


def test_progress_reports_named_stages(engine: Engine, photos: Path) -> None:
    seen: list[tuple[float, str]] = []
    engine.stylize_file(photos / "landscape_beach_small_256.jpg", FAST, lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"decoding", "stylizing", "done"} <= {m for _, m in seen}
