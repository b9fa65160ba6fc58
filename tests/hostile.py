"""A corpus of hostile and odd image files, generated (nothing stored): name → (bytes, expectation).

Expectation is either ``"ok"`` (a correct result must come back) or a regex the error message must match.
Shared by the engine tests here and the app's robustness tests.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
from PIL import Image, ImageCms

RNG = np.random.default_rng(7)


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def photo_like(w: int = 96, h: int = 64) -> Image.Image:
    """A smooth colourful picture (not noise), so stylization has something to do."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([128 + 100 * np.sin(x / 9), 128 + 100 * np.cos(y / 7), 128 + 60 * np.sin((x + y) / 13)], axis=2)
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares a huge image."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def bad_crc_png() -> bytes:
    data = bytearray(_save(photo_like(), "PNG"))
    data[29] ^= 0xFF  # inside the IHDR CRC
    return bytes(data)


def corrupt_exif_jpeg() -> bytes:
    jpeg = _save(photo_like(), "JPEG")
    app1 = b"Exif\x00\x00" + b"MM\x00\x2a\x00\x00\x00\x08" + b"\xff" * 40
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def animated(fmt: str) -> bytes:
    frames = [photo_like(), photo_like().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)


def with_icc() -> bytes:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return _save(photo_like(), "PNG", icc_profile=icc)


def palette_with_transparency() -> bytes:
    p = photo_like().quantize(32)
    return _save(p, "PNG", transparency=0)


def la_image() -> bytes:
    im = photo_like().convert("L")
    im.putalpha(Image.linear_gradient("L").resize(im.size))
    return _save(im, "PNG")


def exif_oriented(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(photo_like(), "JPEG", exif=exif.tobytes())


SUPPORTED = r"supported formats: PNG, JPEG"

CORPUS: dict[str, tuple[bytes, str]] = {
    "zero_bytes.jpg": (b"", r"empty"),
    "truncated.jpg": (_save(Image.fromarray(RNG.integers(0, 256, (160, 160, 3), dtype=np.uint8)), "JPEG")[:2000],
                      r"truncated|damaged"),
    "bad_crc.png": (bad_crc_png(), r"damaged|truncated|" + SUPPORTED),
    "random_bytes.png": (RNG.integers(0, 256, 4096, dtype=np.uint8).tobytes(), r"not an image"),
    "notes.txt.jpg": (b"Just some text that is not an image at all.\n" * 20, r"not an image"),
    "page.html.png": (b"<!DOCTYPE html><html><body>hi</body></html>", r"HTML files are not supported"),
    "drawing.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>', r"SVG"),
    "doc.pdf": (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", r"PDF files are not supported"),
    "photo.heic": (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, r"HEIC/HEIF files are not supported.*PNG"),
    "bomb.png": (png_bomb(), r"megapixels; the limit is"),
    "animated.gif": (animated("GIF"), "ok"),
    "animated.webp": (animated("WEBP"), "ok"),
    "one_pixel.png": (_save(Image.new("RGB", (1, 1), (255, 0, 128)), "PNG"), "ok"),
    "three_by_two.png": (_save(photo_like(3, 2), "PNG"), "ok"),
    "strip_20000x20.png": (_save(photo_like(20000, 20), "PNG"), "ok"),
    "sixteen_bit.png": (_save(Image.fromarray(np.asarray(photo_like().convert("L"), np.uint16) * 257), "PNG"), "ok"),
    "cmyk.jpg": (_save(photo_like().convert("CMYK"), "JPEG"), "ok"),
    "palette_transparent.png": (palette_with_transparency(), "ok"),
    "la.png": (la_image(), "ok"),
    "corrupt_exif.jpg": (corrupt_exif_jpeg(), "ok"),
    "icc_profile.png": (with_icc(), "ok"),
    **{f"exif_orientation_{o}.jpg": (exif_oriented(o), "ok") for o in range(2, 9)},
}


def expected_size(name: str, data: bytes) -> tuple[int, int]:
    """Display size of a corpus image that should succeed (EXIF 5–8 swap width and height)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the corrupt-EXIF sample makes Pillow warn
        w, h = Image.open(io.BytesIO(data)).size
    if name.startswith("exif_orientation_") and int(name.split("_")[2][0]) >= 5:
        return h, w
    return w, h
