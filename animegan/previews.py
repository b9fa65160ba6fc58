"""Style preview thumbnails, made by our own engine from an example photo and cached on disk.

A thumbnail's file name carries a hash of everything that shapes it (source photo, weight checksum,
style, size), so a stale preview is never shown and nothing needs invalidating by hand.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path

from PIL import Image

from .errors import AnimeGANError
from .imageio import to_pil
from .pipeline import Engine, StylizeOptions
from .settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)

DEFAULT_SOURCE = REPO_ROOT / "examples" / "astronaut.png"
PREVIEW_VERSION = "1"
THUMB_SIDE = 192
"""Thumbnail side in pixels (square, centre crop); the model runs at this size too."""


def preview_dir(settings: Settings) -> Path:
    """``settings.preview_dir`` if it can be written, else a private temporary folder."""
    try:
        settings.preview_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.preview_dir, prefix=".probe-"):
            pass
        return settings.preview_dir
    except OSError as err:
        log.warning("preview cache %s is not writable (%s); using a temporary folder", settings.preview_dir, err)
        return Path(tempfile.mkdtemp(prefix="animegan-previews-"))


def style_previews(settings: Settings, source: Path = DEFAULT_SOURCE, side: int = THUMB_SIDE) -> dict[str, Path]:
    """A square WebP thumbnail per available style, keyed by style id (registry order).

    Cached files are reused as they are (``preview_dir`` may be read-only, as in the Docker image); missing
    ones are generated with a private :class:`Engine`, so the models loaded here are freed when it returns.
    A style that fails is logged and left out.
    """
    data = source.read_bytes()
    photo_hash = hashlib.sha256(data).hexdigest()
    engine = Engine(settings)
    folder: Path | None = None  # where new previews go: looked for (and probed) only when one is missing
    out: dict[str, Path] = {}
    for status in engine.styles():
        if not status.available:
            continue
        spec = status.item
        sha = engine.weights.locate(spec.weights).entry.sha256
        key = hashlib.sha256(f"{PREVIEW_VERSION}|{photo_hash}|{spec!r}|{sha}|{side}".encode()).hexdigest()[:16]
        name = f"{spec.id}-{key}.webp"
        if (settings.preview_dir / name).is_file():
            out[spec.id] = settings.preview_dir / name
            continue
        folder = folder or preview_dir(settings)
        path = folder / name
        if not path.is_file():
            try:
                picture = engine.stylize_file(data, StylizeOptions(style=spec.id, max_side=side))
            except AnimeGANError as err:
                log.warning("no preview for style %r: %s", spec.id, err)
                continue
            _square(to_pil(picture).convert("RGB"), side).save(path, "WEBP", quality=88)
        out[spec.id] = path
    return out


def _square(im: Image.Image, side: int) -> Image.Image:
    w, h = im.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    return im.crop(box).resize((side, side), Image.Resampling.LANCZOS)
