"""Process-wide settings, read once from the environment.

This is the only module that reads ``os.environ``. Everything else receives a :class:`Settings`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import InvalidOptionError

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_PATH = REPO_ROOT / "weights" / "manifest.json"


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "animegan"


@dataclass(frozen=True)
class Settings:
    """Settings of one process. Build with :meth:`from_env`; derive variants with :meth:`with_`."""

    weights_path: tuple[Path, ...] = (REPO_ROOT / "weights",)
    """Directories searched, in order, for weight files (each also as ``DIR/<kind>/FILE``)."""
    download_dir: Path = field(default_factory=lambda: _user_cache() / "weights")
    """Where ``animegan weights --download`` writes; always searched too."""
    manifest: Path = MANIFEST_PATH
    threads: int = max(1, os.cpu_count() or 1)
    """Intra-op threads of torch and onnxruntime."""
    max_side: int = 1024
    """Default processing size: longer side in pixels; the result is resized back."""
    max_pixels: int = 40_000_000
    """Largest input (width × height) accepted at all; larger files are refused before decoding."""
    max_upload_mb: int = 30
    """Largest upload the app accepts."""
    tile_size: int = 512
    """Tile side for full-resolution and upscaling passes (bounds memory)."""
    cache_dir: Path = field(default_factory=lambda: _user_cache() / "results")
    """The app's on-disk result cache."""
    cache_mb: int = 512
    model_cache_dir: Path = field(default_factory=lambda: _user_cache() / "models")
    """Derived models (ONNX exports, INT8 quantizations) built from verified weights, keyed by their SHA-256."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``ANIMEGAN_*`` variables (see README, "Configuration").

        Raises InvalidOptionError for a malformed number.
        """
        env = os.environ if environ is None else environ
        base = cls()
        extra = [Path(p).expanduser() for p in env.get("ANIMEGAN_WEIGHTS_PATH", "").split(os.pathsep) if p]
        download_dir = Path(env["ANIMEGAN_DOWNLOAD_DIR"]).expanduser() if env.get("ANIMEGAN_DOWNLOAD_DIR") else base.download_dir
        search = _unique([*base.weights_path, *extra, download_dir])
        return replace(
            base,
            weights_path=search,
            download_dir=download_dir,
            threads=_int(env, "ANIMEGAN_THREADS", base.threads, minimum=1),
            max_side=_int(env, "ANIMEGAN_MAX_SIDE", base.max_side, minimum=64),
            max_pixels=_int(env, "ANIMEGAN_MAX_PIXELS", base.max_pixels, minimum=1),
            max_upload_mb=_int(env, "ANIMEGAN_MAX_UPLOAD_MB", base.max_upload_mb, minimum=1),
            tile_size=_int(env, "ANIMEGAN_TILE_SIZE", base.tile_size, minimum=64),
            cache_dir=Path(env["ANIMEGAN_CACHE_DIR"]).expanduser() if env.get("ANIMEGAN_CACHE_DIR") else base.cache_dir,
            cache_mb=_int(env, "ANIMEGAN_CACHE_MB", base.cache_mb, minimum=0),
            model_cache_dir=(Path(env["ANIMEGAN_MODEL_CACHE_DIR"]).expanduser() if env.get("ANIMEGAN_MODEL_CACHE_DIR")
                             else base.model_cache_dir),
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (for tests and CLI flags)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise InvalidOptionError(f"{name}={raw!r} is not a whole number") from err
    if value < minimum:
        raise InvalidOptionError(f"{name}={value} is below the minimum {minimum}")
    return value


def _unique(paths: list[Path]) -> tuple[Path, ...]:
    seen: dict[Path, None] = {}
    for p in paths:
        seen.setdefault(p, None)
    return tuple(seen)


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read from the environment on first call."""
    return Settings.from_env()
