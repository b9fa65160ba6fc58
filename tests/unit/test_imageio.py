"""Every image mode decodes to RGB floats and encodes back to its own mode, size and alpha."""

from __future__ import annotations

import io
from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image

from animegan import ImageTooLargeError, UnsupportedImageError, decode, encode, to_pil

RNG = np.random.default_rng(0)


def png_bytes(im: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def gradient(w: int = 40, h: int = 30) -> np.ndarray:
    x = np.linspace(0, 255, w)[None, :, None]
    y = np.linspace(0, 255, h)[:, None, None]
    return np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                           np.full((h, w, 1), 128.0)], axis=2).astype(np.uint8)


def roundtrip(data: bytes, fmt: str = "png") -> tuple[object, Image.Image]:
    pic = decode(data, max_pixels=10_000_000)
    out = Image.open(io.BytesIO(encode(pic, fmt)))  # type: ignore[arg-type]
    out.load()
    return pic, out


def test_rgb_roundtrip_is_near_lossless() -> None:
    src = gradient()
    pic, out = roundtrip(png_bytes(Image.fromarray(src)))
    assert pic.mode == "RGB" and out.mode == "RGB" and out.size == (40, 30)
    assert np.abs(np.asarray(out, np.int16) - src).max() <= 1


def test_rgba_alpha_is_bit_exact() -> None:
    alpha = RNG.integers(0, 256, (30, 40), dtype=np.uint8)
    im = Image.fromarray(np.dstack([gradient(), alpha]), "RGBA")
    _pic, out = roundtrip(png_bytes(im))
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out)[..., 3], alpha)


def test_grey_l_and_la() -> None:
    grey = gradient()[..., 0]
    pic, out = roundtrip(png_bytes(Image.fromarray(grey, "L")))
    assert (pic.mode, out.mode) == ("L", "L")
    la = Image.fromarray(grey, "L")
    la.putalpha(Image.fromarray(255 - grey, "L"))
    pic, out = roundtrip(png_bytes(la))
    assert (pic.mode, out.mode) == ("LA", "LA")
    np.testing.assert_array_equal(np.asarray(out)[..., 1], 255 - grey)


def test_palette_with_and_without_transparency() -> None:
    p = Image.fromarray(gradient()).quantize(16)
    pic, out = roundtrip(png_bytes(p))
    assert (pic.mode, out.mode) == ("P", "P")
    p.info["transparency"] = 0
    pic, out = roundtrip(png_bytes(p, transparency=0))
    assert out.mode == "RGBA"
    assert (np.asarray(out)[..., 3] == 0).any() and (np.asarray(out)[..., 3] == 255).any()


def test_cmyk_jpeg_decodes_to_rgb_and_keeps_cmyk_in_jpeg() -> None:
    cmyk = Image.fromarray(gradient()).convert("CMYK")
    pic, out = roundtrip(png_bytes(cmyk, "JPEG", quality=95), fmt="jpeg")
    assert pic.mode == "CMYK" and out.mode == "CMYK"
    _, png = roundtrip(png_bytes(cmyk, "JPEG", quality=95), fmt="png")
    assert png.mode == "RGB"


def test_16bit_grey_png_keeps_16_bits() -> None:
    grey16 = (np.linspace(0, 65535, 40 * 30).reshape(30, 40)).astype(np.uint16)
    pic, out = roundtrip(png_bytes(Image.fromarray(grey16)))
    assert pic.bit_depth == 16 and out.mode.startswith("I")
    assert np.abs(np.asarray(out, np.int64) - grey16).max() <= 1


def test_16bit_rgba_png_keeps_16_bits_and_alpha() -> None:
    rgb16 = (gradient().astype(np.uint16) * 257) + 3
    alpha16 = RNG.integers(0, 65536, (30, 40), dtype=np.uint16)
    ok, data = cv2.imencode(".png", np.dstack([rgb16[..., ::-1], alpha16]))
    assert ok
    pic = decode(data.tobytes(), max_pixels=10**7)
    assert (pic.bit_depth, pic.mode) == (16, "RGBA")
    back = cv2.imdecode(np.frombuffer(encode(pic), np.uint8), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and back.shape == (30, 40, 4)
    np.testing.assert_array_equal(back[..., 3], alpha16)
    assert np.abs(back[..., 2::-1].astype(np.int64) - rgb16).max() <= 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    """A 40×30 picture stored with orientation 5–8 is displayed (and output) as 30×40."""
    im = Image.fromarray(gradient())
    exif = Image.Exif()
    exif[0x0112] = orientation
    pic = decode(png_bytes(im, "JPEG", exif=exif.tobytes()), max_pixels=10**7)
    expect = (30, 40) if orientation >= 5 else (40, 30)
    assert pic.size == expect and to_pil(pic).size == expect


def test_exif_transposed_pixels_match_pillow() -> None:
    im = Image.fromarray(gradient())
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    pic = decode(png_bytes(im, "PNG", exif=exif.tobytes()), max_pixels=10**7)
    expected = np.asarray(im.transpose(Image.Transpose.ROTATE_270))
    assert np.abs(np.asarray(to_pil(pic), np.int16) - expected).max() <= 1


def test_extreme_aspect_and_tiny_sizes() -> None:
    for w, h in [(1, 1), (3, 2), (17, 23), (2000, 20)]:
        _pic, out = roundtrip(png_bytes(Image.new("RGB", (w, h), (200, 10, 10))))
        assert out.size == (w, h)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "supported formats"),
        (b"hello, this is text, not a picture" * 10, "not an image"),
        (b"<html><body>hi</body></html>", "HTML"),
        (b"%PDF-1.4\n%...", "PDF"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
    ],
)
def test_bad_files_give_clear_errors(data: bytes, needle: str) -> None:
    with pytest.raises(UnsupportedImageError, match=needle):
        decode(data, max_pixels=10**7)


def test_truncated_jpeg_is_reported() -> None:
    data = png_bytes(Image.fromarray(RNG.integers(0, 256, (200, 200, 3), dtype=np.uint8)), "JPEG")
    with pytest.raises(UnsupportedImageError, match=r"truncated|damaged"):
        decode(data[: len(data) // 3], max_pixels=10**7)


def test_pixel_limit_is_checked_before_decoding() -> None:
    data = png_bytes(Image.new("L", (3000, 3000)))
    with pytest.raises(ImageTooLargeError, match=r"9\.0 megapixels"):
        decode(data, max_pixels=1_000_000)


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("RGB", (20, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    pic = decode(buf.getvalue(), max_pixels=10**7)
    assert pic.rgb[5, 5, 0] > 0.9 and pic.rgb[5, 5, 2] < 0.1


def test_output_size_follows_scale() -> None:
    pic = decode(png_bytes(Image.fromarray(gradient())), max_pixels=10**7)
    assert to_pil(replace(pic, scale=3)).size == (120, 90)
