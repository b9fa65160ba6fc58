"""One user request, as the app runs it: cache lookup, stylize, encode, save under a safe name.

Also the pair of images the app shows side by side (original and result at one display size).
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .cache import ResultCache, result_key
from .imageio import decode, to_pil
from .naming import safe_stem, unique_name
from .pipeline import StylizeOptions
from .progress import Progress, no_progress
from .service import Service
from .settings import Settings

DISPLAY_MAX_SIDE = 2048
"""Longest side of the images the app shows for comparison (downloads stay full size)."""
QUEUE_FLOOR, QUEUE_CEILING = 64, 1024
"""The automatic queue limit admits at least 64 and at most 1024 waiting users."""
QUEUE_MEMORY_SHARE = 0.25
"""Share of the memory available at start-up that the automatic limit lets waiting users take."""


@dataclass(frozen=True)
class JobResult:
    """A finished request: the full-quality PNG on disk and how it was obtained."""

    name: str
    """The input's name as the user gave it (display only, never used as a path)."""
    output: Path
    png: bytes
    size: tuple[int, int]
    cached: bool
    seconds: float


def engine_salt(settings: Settings) -> str:
    """Part of every cache key: changes when the manifest (hence any weight file) changes."""
    return hashlib.sha256(settings.manifest.read_bytes()).hexdigest()


def output_name(name: str, style: str, taken: set[str] | None = None) -> str:
    """A safe, unique PNG file name for the result of ``name`` in ``style`` (``../x/cat.jpg`` → ``cat_hayao.png``)."""
    return unique_name(safe_stem(name), f"_{style}.png", set() if taken is None else taken)


def stylize_job(
    service: Service,
    cache: ResultCache,
    data: bytes,
    name: str,
    options: StylizeOptions,
    out_dir: Path,
    progress: Progress = no_progress,
    taken: set[str] | None = None,
) -> JobResult:
    """Stylize image bytes (or fetch the identical earlier result) and write the PNG into ``out_dir``.

    The PNG keeps the source's alpha, mode and bit depth. Raises what :meth:`Service.render`
    raises (UnsupportedImageError, ImageTooLargeError, WeightsError, InvalidOptionError).
    """
    start = time.perf_counter()
    key = result_key(data, options, engine_salt(service.engine.settings))
    png = cache.get(key)
    cached = png is not None
    if png is None:
        png = service.render(data, options, "png", progress)
        cache.put(key, png)
    progress(1.0, "done")
    out = out_dir / output_name(name, options.style, taken)
    out.write_bytes(png)
    with Image.open(io.BytesIO(png)) as im:
        size = im.size
    return JobResult(name, out, png, size, cached, time.perf_counter() - start)


def queue_limit(settings: Settings, available_bytes: int | None = None) -> int:
    """How many users may wait in the app's queue: ``settings.queue_size``, or when that is 0 a
    memory-aware number: a quarter of the available memory (``available_bytes``, read from the
    system when None) in shares of ``settings.queue_user_mb``, between 64 and 1024.

    Waiting costs little memory: Gradio keeps uploads on disk until a job runs.
    """
    if settings.queue_size:
        return settings.queue_size
    if available_bytes is None:
        available_bytes = available_memory()
    share = int(available_bytes * QUEUE_MEMORY_SHARE) // (settings.queue_user_mb << 20)
    return max(QUEUE_FLOOR, min(QUEUE_CEILING, share))


def available_memory() -> int:
    """Bytes of memory available to new work (Linux ``MemAvailable``; else free physical pages)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def comparison_pair(
    data: bytes, png: bytes, max_pixels: int, max_side: int = DISPLAY_MAX_SIDE
) -> tuple[Image.Image, Image.Image]:
    """Original and result as 8-bit RGB(A) images of one size (the result's, capped at ``max_side``).

    The original is decoded like the engine does (EXIF orientation applied, any supported format),
    so the two line up pixel for pixel in a compare slider.
    """
    result = Image.open(io.BytesIO(png))
    result.load()
    original = to_pil(decode(data, max_pixels))
    w, h = result.size
    scale = min(1.0, max_side / max(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    lanczos = Image.Resampling.LANCZOS
    return _displayable(original).resize(size, lanczos), _displayable(result).resize(size, lanczos)


def preview_photo(data: bytes, max_side: int, max_pixels: int) -> bytes:
    """The photo as a PNG at most ``max_side`` px on its longer side (EXIF orientation applied, alpha kept): what a
    preview stylizes, so that neither its model nor its encoder works at the photo's full size.

    Raises UnsupportedImageError / ImageTooLargeError like :func:`animegan.imageio.decode`.
    """
    im = _displayable(to_pil(decode(data, max_pixels)))
    im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def _displayable(im: Image.Image) -> Image.Image:
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    if im.mode.startswith("I"):  # 16-bit grey: browsers show 8 bits
        im = Image.fromarray((np.asarray(im, dtype=np.uint32) >> 8).astype(np.uint8), "L")
    return im.convert("RGBA" if has_alpha else "RGB")
