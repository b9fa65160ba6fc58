"""Process-wide settings, read once from the environment.

This is the only module that reads ``os.environ``. Everything else receives a :class:`Settings`.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

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
    """Bound of the result cache in MiB (least recently used results go first); 0 disables it."""
    preview_dir: Path = field(default_factory=lambda: _user_cache() / "previews")
    """Where the app keeps its style preview thumbnails."""
    batch_max_files: int = 100
    """Most images one batch request (files plus zip members) may hold."""
    batch_max_mb: int = 300
    """Largest total size of a batch's images after unzipping, in MiB (zip-bomb guard)."""
    video_max_side: int = 512
    """Default processing size of video frames (longer side); frames are resized back to the video's size."""
    video_max_seconds: int = 300
    """Longest video accepted, in seconds."""
    video_max_frames: int = 9000
    """Most frames accepted in one video."""
    video_max_pixels: int = 3840 * 2160
    """Largest video frame (width × height) accepted."""
    video_max_mb: int = 500
    """Largest video file accepted, in megabytes."""
    live_side: int = 256
    """Processing size (longer side) of live webcam frames."""
    face_threshold: float = 0.9
    """Face detector confidence needed to treat a detection as a face (0-1)."""
    face_min_size: int = 24
    """Smallest face handled, in processing pixels (shorter side of its box); smaller ones keep the plain result."""
    face_max: int = 16
    """At most this many faces are stylized per picture (the largest); bounds the time on crowds."""
    face_detect_side: int = 1024
    """The detector sees the photo shrunk to this longer side (faces under ~16 px there are not found)."""
    model_cache_dir: Path = field(default_factory=lambda: _user_cache() / "models")
    """Derived models (ONNX exports, INT8 quantizations) built from verified weights, keyed by their SHA-256."""
    measure_dir: Path | None = None
    """Where the measured backend choices of this CPU are cached (default: the model cache; the Docker image, whose
    model cache is read-only, keeps them under /tmp)."""
    precision: Literal["auto", "fp32"] = "auto"
    """``auto``: OpenVINO computes in bf16 on a CPU with native bf16; ``fp32``: never below fp32 (INT8 models are
    still measured)."""
    weights_mirror: str | None = None
    """Base URL of a mirror of the weights' public hosts: ``https://HOST/PATH`` is fetched as ``MIRROR/HOST/PATH``."""
    download_timeout: float = 30.0
    """Seconds a weight download may wait to connect or for the next bytes before that source counts as failed."""
    queue_size: int = 0
    """Most users the app's queue admits waiting; 0 = automatic (memory-aware, see :func:`animegan.jobs.queue_limit`)."""
    queue_user_mb: int = 16
    """Memory set aside per waiting user by the automatic queue limit, in MiB (uploads wait on disk, not here)."""

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
            preview_dir=Path(env["ANIMEGAN_PREVIEW_DIR"]).expanduser() if env.get("ANIMEGAN_PREVIEW_DIR") else base.preview_dir,
            batch_max_files=_int(env, "ANIMEGAN_BATCH_MAX_FILES", base.batch_max_files, minimum=1),
            batch_max_mb=_int(env, "ANIMEGAN_BATCH_MAX_MB", base.batch_max_mb, minimum=1),
            video_max_side=_int(env, "ANIMEGAN_VIDEO_MAX_SIDE", base.video_max_side, minimum=64),
            video_max_seconds=_int(env, "ANIMEGAN_VIDEO_MAX_SECONDS", base.video_max_seconds, minimum=1),
            video_max_frames=_int(env, "ANIMEGAN_VIDEO_MAX_FRAMES", base.video_max_frames, minimum=1),
            video_max_pixels=_int(env, "ANIMEGAN_VIDEO_MAX_PIXELS", base.video_max_pixels, minimum=1),
            video_max_mb=_int(env, "ANIMEGAN_VIDEO_MAX_MB", base.video_max_mb, minimum=1),
            live_side=_int(env, "ANIMEGAN_LIVE_SIDE", base.live_side, minimum=64),
            face_threshold=_float(env, "ANIMEGAN_FACE_THRESHOLD", base.face_threshold, 0.0, 1.0),
            face_min_size=_int(env, "ANIMEGAN_FACE_MIN_SIZE", base.face_min_size, minimum=1),
            face_max=_int(env, "ANIMEGAN_FACE_MAX", base.face_max, minimum=0),
            face_detect_side=_int(env, "ANIMEGAN_FACE_DETECT_SIDE", base.face_detect_side, minimum=64),
            model_cache_dir=(Path(env["ANIMEGAN_MODEL_CACHE_DIR"]).expanduser() if env.get("ANIMEGAN_MODEL_CACHE_DIR")
                             else base.model_cache_dir),
            measure_dir=Path(env["ANIMEGAN_MEASURE_DIR"]).expanduser() if env.get("ANIMEGAN_MEASURE_DIR") else None,
            precision=_choice(env, "ANIMEGAN_PRECISION", ("auto", "fp32"), base.precision),
            weights_mirror=_mirror(env.get("ANIMEGAN_WEIGHTS_MIRROR")),
            download_timeout=_float(env, "ANIMEGAN_DOWNLOAD_TIMEOUT", base.download_timeout, 0.1, 3600.0),
            queue_size=_int(env, "ANIMEGAN_QUEUE_SIZE", base.queue_size, minimum=0),
            queue_user_mb=_int(env, "ANIMEGAN_QUEUE_USER_MB", base.queue_user_mb, minimum=1),
        )

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (for tests and CLI flags); an unknown field name raises TypeError."""
        return replace(self, **changes)


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


def _float(env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as err:
        raise InvalidOptionError(f"{name}={raw!r} is not a number") from err
    if not minimum <= value <= maximum:
        raise InvalidOptionError(f"{name}={value} must be between {minimum} and {maximum}")
    return value


_Option = TypeVar("_Option", bound=str)


def _choice(env: Mapping[str, str], name: str, allowed: tuple[_Option, ...], default: _Option) -> _Option:
    raw = env.get(name) or default
    for option in allowed:
        if raw == option:
            return option
    raise InvalidOptionError(f"{name}={raw!r} must be one of {', '.join(allowed)}")


def _mirror(raw: str | None) -> str | None:
    if not raw:
        return None
    if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", raw):
        raise InvalidOptionError(f"ANIMEGAN_WEIGHTS_MIRROR={raw!r} is not an http(s)://host[:port][/path] URL")
    return raw.rstrip("/")


def _unique(paths: list[Path]) -> tuple[Path, ...]:
    seen: dict[Path, None] = {}
    for p in paths:
        seen.setdefault(p, None)
    return tuple(seen)


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read from the environment on first call."""
    return Settings.from_env()
