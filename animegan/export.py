"""``python -m animegan export``: a style's generator as a standalone ONNX file."""

from __future__ import annotations

import shutil
from pathlib import Path

from .backends import open_style_backend
from .backends.graphs import GraphBackend
from .errors import BackendUnavailableError
from .pipeline import Engine
from .styles import STYLES


def export_style(engine: Engine, style_id: str, dst: Path, int8: bool = False) -> GraphBackend:
    """Write the style's generator to ``dst`` as ONNX: NHWC float32 input in the style's value range,
    dynamic height and width (PyTorch styles are exported; ONNX styles are copied), INT8 if ``int8``.

    The file comes from the verified weights through the model cache. Returns the backend that ran it
    (its ``path`` is the cached copy). Raises UnknownStyleError, WeightsError, BackendUnavailableError.
    """
    STYLES.get(style_id)
    backend = open_style_backend("onnx-int8" if int8 else "onnx", engine.style_model(style_id), engine.settings)
    if not isinstance(backend, GraphBackend):
        raise BackendUnavailableError(f"style {style_id!r} has no ONNX model")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(backend.path, dst)
    return backend
