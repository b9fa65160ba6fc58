"""AnimeGAN WebUI engine: photo → anime on the CPU.

Importing this package does no I/O and does not import torch; models load on first use.

    from animegan import Engine, StylizeOptions
    engine = Engine()
    picture = engine.stylize_file("photo.jpg", StylizeOptions(style="hayao"))
    Path("anime.png").write_bytes(encode(picture))
"""

from __future__ import annotations

from .availability import Availability
from .backends import BACKEND_NAMES, cancel_model_runs
from .batch import BatchInput, BatchResult, ItemResult, expand_uploads, run_batch
from .cache import ResultCache, Scratch
from .errors import (
    AnimeGANError,
    BackendUnavailableError,
    ImageTooLargeError,
    InvalidOptionError,
    JobCancelledError,
    UnknownStyleError,
    UnsupportedImageError,
    UnsupportedVideoError,
    VideoTooLargeError,
    WeightsChecksumError,
    WeightsError,
    WeightsMissingError,
)
from .files import FileResult
from .imageio import SUPPORTED_FORMATS, Face, Picture, decode, encode, to_pil
from .jobs import JobResult, comparison_pair, preview_photo, queue_limit, stylize_job
from .live import FAST_STYLE, LIVE_SIDES, LiveSession, LiveStats
from .pipeline import FACE_MODES, UPSCALES, Engine, OnnxModel, StylizeOptions
from .previews import style_previews
from .service import LocalService, Service
from .settings import Settings, get_settings
from .styles import STYLES, SizeRule, StyleSpec
from .upscale import DEFAULT_UPSCALER, UPSCALERS, UpscalerSpec
from .video import VIDEO_SUFFIXES, VideoInfo, VideoOptions, VideoResult, convert_video, probe_video
from .weights import install_help

__version__ = "0.1.0"

__all__ = [
    "BACKEND_NAMES",
    "DEFAULT_UPSCALER",
    "FACE_MODES",
    "FAST_STYLE",
    "LIVE_SIDES",
    "STYLES",
    "SUPPORTED_FORMATS",
    "UPSCALERS",
    "UPSCALES",
    "VIDEO_SUFFIXES",
    "AnimeGANError",
    "Availability",
    "BackendUnavailableError",
    "BatchInput",
    "BatchResult",
    "Engine",
    "Face",
    "FileResult",
    "ImageTooLargeError",
    "InvalidOptionError",
    "ItemResult",
    "JobCancelledError",
    "JobResult",
    "LiveSession",
    "LiveStats",
    "LocalService",
    "OnnxModel",
    "Picture",
    "ResultCache",
    "Scratch",
    "Service",
    "Settings",
    "SizeRule",
    "StyleSpec",
    "StylizeOptions",
    "UnknownStyleError",
    "UnsupportedImageError",
    "UnsupportedVideoError",
    "UpscalerSpec",
    "VideoInfo",
    "VideoOptions",
    "VideoResult",
    "VideoTooLargeError",
    "WeightsChecksumError",
    "WeightsError",
    "WeightsMissingError",
    "__version__",
    "cancel_model_runs",
    "comparison_pair",
    "convert_video",
    "decode",
    "encode",
    "expand_uploads",
    "get_settings",
    "install_help",
    "preview_photo",
    "probe_video",
    "queue_limit",
    "run_batch",
    "style_previews",
    "stylize_job",
    "to_pil",
]
