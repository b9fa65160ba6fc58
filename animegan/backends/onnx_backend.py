"""onnxruntime: the session options every graph of the product runs with, and :class:`OrtGraph`."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..errors import WeightsError
from . import FloatArray, Precision, Runtime


def session_options(threads: int) -> ort.SessionOptions:
    """Fixed intra-op threads, one inter-op thread, full graph optimisation (NCHWc layouts, fusions)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # spinning threads only burn the other processes' cores between ops on a small machine
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # The arena reuses memory within a run; :func:`run` shrinks it after each run, so large activations go
    # back to the OS. Measured (hayao INT8): with no arena at all, every new image size ran 1.4–1.8× slower
    # (fresh pages for each tensor: 512×504 2.68 s vs 1.85 s; 1024×768 10.7 s vs 6.1 s) and peaked higher
    # (1.49 vs 1.42 GB); an arena that is never shrunk keeps 2.6 GB.
    opts.enable_cpu_mem_arena = True
    opts.log_severity_level = 3
    return opts


@functools.cache
def _run_options() -> ort.RunOptions:
    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def cancel_runs() -> None:
    """Make every onnxruntime run of this process, running or future, fail at its next node (the server is
    stopping): onnxruntime checks the flag between nodes, so a long model call ends within milliseconds."""
    _run_options().terminate = True


def run(session: ort.InferenceSession, outputs: list[str] | None, feeds: dict[str, FloatArray]) -> list[FloatArray]:
    """``session.run`` that hands the run's arena memory back to the OS when it ends (every session run
    in this project goes through here)."""
    return session.run(outputs, feeds, _run_options())


def open_session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session for ``path``. Raises WeightsError if onnxruntime cannot load it."""
    try:
        return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
        raise WeightsError(f"{path.name}: onnxruntime cannot load it ({err})") from err


class OrtGraph:
    """An ONNX file in one cached onnxruntime ``InferenceSession`` (``run`` is thread-safe in onnxruntime)."""

    runtime: Runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int, precision: Precision = "fp32") -> None:
        self.path = path
        self.precision = precision
        self.session = open_session(path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def input_shape(self, name: str) -> tuple[int | str | None, ...]:
        return tuple(next(i.shape for i in self.session.get_inputs() if i.name == name))

    def __call__(self, feeds: Mapping[str, FloatArray], outputs: Sequence[str] | None = None) -> list[FloatArray]:
        return [np.asarray(y, np.float32) for y in run(self.session, list(outputs) if outputs else None, dict(feeds))]
