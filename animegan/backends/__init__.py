"""One inference interface over torch and onnxruntime; the weight file's format picks which.

Backends are imported lazily so that importing :mod:`animegan` never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
BackendName = Literal["auto", "torch", "onnx", "onnx-int8", "torch-int8"]
BACKEND_NAMES: tuple[BackendName, ...] = ("auto", "torch", "onnx", "onnx-int8", "torch-int8")


class Backend(Protocol):
    """Runs one generator. Implementations are safe to call from many threads at once."""

    name: str

    def run(self, x_nhwc: FloatArray) -> FloatArray:
        """1×H×W×3 float32 in the model's value range → 1×H'×W'×3 float32."""
        ...


def open_backend(
    path: Path,
    fmt: str,
    arch: str,
    threads: int,
    input_name: str | None = None,
    output_name: str | None = None,
) -> Backend:
    """Load a verified weight file into the backend its format needs."""
    if fmt == "torch":
        from .torch_backend import TorchBackend

        return TorchBackend.load(path, arch, threads)
    if fmt == "onnx":
        from .onnx_backend import OnnxBackend

        return OnnxBackend(path, threads, input_name, output_name)
    raise ValueError(f"no backend for weight format {fmt!r}")
