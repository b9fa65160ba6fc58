"""Decode any supported image into a :class:`Picture` and encode a Picture back, restoring its mode.

Image modes (grey, palette, CMYK, 16-bit, alpha) are handled here only: every other step sees
RGB float32 pixels in [0, 1].
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Literal

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageTooLargeError, UnsupportedImageError
from .resample import resize

log = logging.getLogger(__name__)

RGB = npt.NDArray[np.float32]
Source = Path | str | bytes | BinaryIO
OutputFormat = Literal["png", "jpeg", "webp"]

SUPPORTED_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "BMP", "TIFF", "GIF", "PPM", "TGA", "ICO")
"""Pillow formats we accept; MPO is how Pillow names many phone JPEGs."""

# Pillow's own bomb check runs before ours can; keep it out of the way, ours is stricter and clearer.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class Face:
    """One detected face, in source-image pixels."""

    box: tuple[float, float, float, float]
    """x0, y0, x1, y1."""
    score: float
    """Detector confidence in [0, 1]."""
    landmarks: tuple[tuple[float, float], ...] = ()
    """Left eye, right eye, nose tip, left mouth corner, right mouth corner (x, y)."""


@dataclass(frozen=True)
class Picture:
    """Pixels plus what the encoder needs to restore the source's kind of file.

    ``rgb`` is the working image (H×W×3 float32 in [0, 1]); ``alpha`` is the source's alpha channel
    untouched (source size, source dtype); ``size`` is the source's (width, height) after EXIF
    orientation, and the output is ``size × scale``.
    """

    rgb: RGB
    mode: str
    bit_depth: int = 8
    alpha: npt.NDArray[np.uint8] | npt.NDArray[np.uint16] | None = None
    size: tuple[int, int] = (0, 0)
    icc_profile: bytes | None = None
    source_format: str | None = None
    photo: RGB | None = None
    """The input pixels at processing size, kept for steps that look at the photo (faces)."""
    scale: int = 1
    faces: tuple[Face, ...] = field(default=())
    """The faces the face pass found, in source pixels."""

    @property
    def output_size(self) -> tuple[int, int]:
        return self.size[0] * self.scale, self.size[1] * self.scale


def _open(source: Source) -> Image.Image:
    if isinstance(source, (str, Path)):
        return Image.open(Path(source))
    if isinstance(source, bytes):
        return Image.open(io.BytesIO(source))
    return Image.open(source)


def _sniff(head: bytes) -> str | None:
    """A name for common formats Pillow cannot read, for a better message."""
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1", b"ftyphevc"):
        return "HEIC/HEIF"
    if head[4:12] == b"ftypavif":
        return "AVIF"
    if head.startswith(b"%PDF"):
        return "PDF"
    if head.lstrip().startswith((b"<svg", b"<?xml")):
        return "SVG/XML"
    if head.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")):
        return "HTML"
    return None


def _head(source: Source) -> bytes:
    if isinstance(source, bytes):
        return source[:32]
    if isinstance(source, (str, Path)):
        with Path(source).open("rb") as f:
            return f.read(32)
    pos = source.tell()
    head = source.read(32)
    source.seek(pos)
    return head


def _png_16bit(head: bytes) -> bool:
    # IHDR: bytes 24 (bit depth) and 25 (colour type 2 = RGB, 6 = RGBA)
    return head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 26 and head[24] == 16 and head[25] in (2, 6)


def _read_all(source: Source) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, (str, Path)):
        return Path(source).read_bytes()
    source.seek(0)
    return source.read()


def _unsupported(detail: str) -> UnsupportedImageError:
    return UnsupportedImageError(f"{detail}; supported formats: {', '.join(f for f in SUPPORTED_FORMATS if f != 'MPO')}")


def decode(source: Source, max_pixels: int) -> Picture:
    """Read an image file (path, bytes or binary stream) into a Picture.

    EXIF orientation is applied; the first frame of an animation is used.
    Raises UnsupportedImageError (empty, corrupt, not an image, unsupported format) or
    ImageTooLargeError (more than ``max_pixels`` pixels, checked before decoding).
    """
    try:
        head = _head(source)
    except OSError as err:
        raise UnsupportedImageError(f"cannot read the file: {err.strerror or err}") from err
    if not head:
        raise UnsupportedImageError("the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = _open(source)
    except UnidentifiedImageError as err:
        kind = _sniff(head)
        raise _unsupported(f"{kind} files are not supported" if kind else "this is not an image file we can read") from err
    except (OSError, ValueError, SyntaxError) as err:
        raise _unsupported(f"the image header is damaged ({err})") from err
    with im:
        if im.format not in SUPPORTED_FORMATS:
            raise _unsupported(f"{im.format} images are not supported")
        w, h = im.size
        if w < 1 or h < 1:
            raise UnsupportedImageError(f"the image has no pixels ({w}×{h})")
        if w * h > max_pixels:
            raise ImageTooLargeError(
                f"the image is {w}×{h} = {w * h / 1e6:.1f} megapixels; the limit is {max_pixels / 1e6:.1f} megapixels"
            )
        try:
            im.seek(0)
            im.load()
            oriented = _orient(im)
            pic = _to_picture(oriented, im.format, im.info.get("icc_profile"))
        except (OSError, ValueError, SyntaxError, EOFError) as err:
            raise UnsupportedImageError(f"the image data is damaged or truncated ({err})") from err
    if _png_16bit(head) and pic.bit_depth == 8:
        pic = _decode_png16(_read_all(source), pic)
    return pic


def _orient(im: Image.Image) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on corrupt EXIF; we log it once below
            return ImageOps.exif_transpose(im) or im
    except Exception as err:  # a corrupt EXIF block must not lose the picture
        log.warning("ignoring unreadable EXIF orientation: %s", err)
        return im


def _to_picture(im: Image.Image, fmt: str | None, icc: bytes | None) -> Picture:
    mode = im.mode
    size = im.size
    alpha: npt.NDArray[np.uint8] | None = None
    bit_depth = 8
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        grey = np.asarray(im, dtype=np.float64)
        grey = np.clip(grey, 0, 65535) / 65535.0
        grey_rgb = np.repeat(grey[..., None], 3, axis=2)
        return Picture(rgb=grey_rgb.astype(np.float32), mode="I;16", bit_depth=16, size=size, icc_profile=None, source_format=fmt)
    if mode == "F":
        im, mode = im.convert("L"), "L"
    if mode == "P":
        has_alpha = "transparency" in im.info or (im.palette is not None and im.palette.mode == "RGBA")
        if has_alpha:
            im, mode = im.convert("RGBA"), "RGBA"
    if mode == "PA":
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "RGBa", "LA", "La"):
        im = im.convert("RGBA" if mode.startswith("RGB") else "LA")
        mode = im.mode
        alpha = np.array(im.getchannel("A"), dtype=np.uint8)
    out_mode = {"1": "L", "RGBX": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}.get(mode, mode)
    if out_mode not in ("RGB", "RGBA", "L", "LA", "P", "CMYK"):
        raise UnsupportedImageError(f"image mode {mode!r} is not supported")
    rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    keep_icc = icc if out_mode in ("RGB", "RGBA", "P") else None
    return Picture(rgb=rgb, mode=out_mode, bit_depth=bit_depth, alpha=alpha, size=size, icc_profile=keep_icc, source_format=fmt)


def _decode_png16(data: bytes, pic: Picture) -> Picture:
    """Pillow reads 48/64-bit PNGs as 8-bit; OpenCV keeps the 16 bits."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3 or (arr.shape[1], arr.shape[0]) != pic.size:
        return pic  # EXIF-rotated or odd: keep Pillow's 8-bit reading
    rgb = cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2RGB).astype(np.float32) / 65535.0
    alpha = arr[..., 3].astype(np.uint16) if arr.shape[2] == 4 else None  # uint16 already: a copy, typed
    return replace(pic, rgb=rgb, alpha=alpha, bit_depth=16, mode="RGBA" if alpha is not None else "RGB")


def _alpha_at(pic: Picture, width: int, height: int) -> np.ndarray | None:
    if pic.alpha is None:
        return None
    if pic.alpha.shape[:2] == (height, width):
        return pic.alpha
    peak = 65535.0 if pic.alpha.dtype == np.uint16 else 255.0
    scaled = resize(pic.alpha.astype(np.float32)[..., None] / peak, height, width)[..., 0]
    return np.round(scaled * peak).astype(pic.alpha.dtype)


def to_pil(pic: Picture) -> Image.Image:
    """The result as a Pillow image at ``output_size``, in the source's mode where 8-bit allows it.

    16-bit RGB(A) cannot be held by Pillow and comes back as 8-bit; use :func:`encode` to keep 16 bits.
    """
    width, height = pic.output_size
    rgb = resize(pic.rgb, height, width)
    alpha = _alpha_at(pic, width, height)
    if pic.mode == "I;16":
        grey = np.round((rgb @ np.array([0.299, 0.587, 0.114], np.float32)) * 65535).astype(np.uint16)
        return Image.fromarray(grey)  # mode I;16
    rgb8 = np.round(rgb * 255).astype(np.uint8)
    im = Image.fromarray(rgb8, "RGB")
    if alpha is not None:
        a8 = alpha if alpha.dtype == np.uint8 else (alpha.astype(np.uint32) * 255 // 65535).astype(np.uint8)
        if pic.mode == "LA":
            im = im.convert("L")
            im.putalpha(Image.fromarray(a8, "L"))
            return im
        im.putalpha(Image.fromarray(a8, "L"))
        return im
    if pic.mode == "L":
        return im.convert("L")
    if pic.mode == "P":
        return im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    if pic.mode == "CMYK":
        return im.convert("CMYK")
    return im


PNG_COMPRESS_LEVEL = 1
"""zlib level of 8-bit PNG results: the fastest; same bytes for the same input (deterministic)."""


def encode(pic: Picture, fmt: OutputFormat = "png", quality: int = 95) -> bytes:
    """The result as file bytes. PNG keeps mode, alpha and 16-bit depth; JPEG flattens alpha onto white."""
    if fmt == "png" and pic.bit_depth == 16 and pic.mode in ("RGB", "RGBA"):
        return _encode_png16(pic)
    im = to_pil(pic)
    buf = io.BytesIO()
    if fmt == "jpeg":
        if im.mode in ("RGBA", "LA"):
            base = Image.new("RGB", im.size, "white")
            base.paste(im.convert("RGBA"), mask=im.getchannel("A"))
            im = base if pic.mode != "LA" else base.convert("L")
        elif im.mode in ("P", "I;16"):
            im = im.convert("RGB" if im.mode == "P" else "L")
        im.save(buf, "JPEG", quality=quality, icc_profile=pic.icc_profile)
    elif fmt == "webp":
        im.save(buf, "WEBP", quality=quality, icc_profile=pic.icc_profile)
    else:
        if im.mode == "CMYK":
            im = im.convert("RGB")
        # zlib level 1: measured 5.3× faster than Pillow's default 6 at 1024×768 (3–6× at 512²) for files
        # 11–16 % larger; at level 6 the encoder took ~4 % of a whole `hayao` request (docs/speed.md)
        im.save(buf, "PNG", icc_profile=pic.icc_profile, compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def _encode_png16(pic: Picture) -> bytes:
    width, height = pic.output_size
    rgb16 = np.round(resize(pic.rgb, height, width) * 65535).astype(np.uint16)
    bgr = cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR)
    alpha = _alpha_at(pic, width, height)
    if alpha is not None:
        a16 = alpha if alpha.dtype == np.uint16 else alpha.astype(np.uint16) * 257
        bgr = np.dstack([bgr, a16])
    ok, data = cv2.imencode(".png", bgr)
    if not ok:
        raise UnsupportedImageError("could not encode the 16-bit PNG result")
    return data.tobytes()


def format_for(path: Path) -> OutputFormat:
    """Output format from a file name's extension (PNG for anything unknown)."""
    ext = path.suffix.lower()
    return "jpeg" if ext in (".jpg", ".jpeg") else "webp" if ext == ".webp" else "png"
