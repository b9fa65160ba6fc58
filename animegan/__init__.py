"""AnimeGAN WebUI engine: photo → anime on the CPU.

Importing this package does no I/O and does not import torch; models load on first use.

    from animegan import Engine, StylizeOptions
    engine = Engine()
    picture = engine.stylize_file("photo.jpg", StylizeOptions(style="hayao"))
    Path("anime.png").write_bytes(encode(picture))
"""

from __future__ import annotations

from .backends import BACKEND_NAMES
from .errors import (
    AnimeGANError,
    BackendUnavailableError,
    ImageTooLargeError,
    InvalidOptionError,
    UnknownStyleError,
    UnsupportedImageError,
    WeightsChecksumError,
    WeightsError,
    WeightsMissingError,
)
from .imageio import SUPPORTED_FORMATS, Picture, decode, encode, to_pil
from .pipeline import FACE_MODES, UPSCALES, Engine, StyleStatus, StylizeOptions
from .settings import Settings, get_settings
from .styles import STYLES, SizeRule, StyleSpec

__version__ = "0.1.0"

__all__ = [
    "BACKEND_NAMES",
    "FACE_MODES",
    "STYLES",
    "SUPPORTED_FORMATS",
    "UPSCALES",
    "AnimeGANError",
    "BackendUnavailableError",
    "Engine",
    "Feature",
    "ImageTooLargeError",
    "InvalidOptionError",
    "Picture",
    "Settings",
    "SizeRule",
    "StyleSpec",
    "StyleStatus",
    "StylizeOptions",
    "UnknownStyleError",
    "UnsupportedImageError",
    "WeightsChecksumError",
    "WeightsError",
    "WeightsMissingError",
    "__version__",
    "decode",
    "encode",
    "get_settings",
    "to_pil",
]
