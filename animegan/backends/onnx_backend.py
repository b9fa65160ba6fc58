"""onnxruntime backend for NHWC ONNX generators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..errors import WeightsError
from . import FloatArray


def session_options(threads: int) -> ort.SessionOptions:
    """Fixed intra-op threads, one inter-op thread, full graph optimisation."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return opts


class OnnxBackend:
    """One cached ``InferenceSession`` (``run`` is thread-safe in onnxruntime)."""

    name = "onnx"

    def __init__(self, path: Path, threads: int, input_name: str | None = None, output_name: str | None = None) -> None:
        try:
            self.session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
            raise WeightsError(f"{path.name}: onnxruntime cannot load it ({err})") from err
        self.input_name = input_name or self.session.get_inputs()[0].name
        self.output_name = output_name or self.session.get_outputs()[0].name

    def run(self, x_nhwc: FloatArray) -> FloatArray:
        (y,) = self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(x_nhwc, dtype=np.float32)})
        return np.asarray(y, dtype=np.float32)
