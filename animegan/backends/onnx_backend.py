"""onnxruntime backend for NHWC ONNX generators."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..errors import WeightsError
from . import FloatArray


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


class OnnxBackend:
    """One cached ``InferenceSession`` (``run`` is thread-safe in onnxruntime)."""

    def __init__(self, path: Path, threads: int, input_name: str | None = None, output_name: str | None = None,
                 name: str = "onnx") -> None:
        self.name = name
        self.path = path
        self.threads = threads
        self.session = open_session(path, threads)
        self.input_name = input_name or self.session.get_inputs()[0].name
        self.output_name = output_name or self.session.get_outputs()[0].name

    def run(self, x_nhwc: FloatArray) -> FloatArray:
        (y,) = run(self.session, [self.output_name], {self.input_name: np.ascontiguousarray(x_nhwc, dtype=np.float32)})
        return np.asarray(y, dtype=np.float32)


class OnnxGlobalNormBackend(OnnxBackend):
    """A generator with per-image normalization statistics: ``run`` uses the main graph (fp32 or INT8); the
    statistics methods use an fp32 graph with the same input and output plus input ``given`` (its shape
    fixes the statistics'), scalar ``mix`` and output ``stats`` (the v2 export with statistics, or a
    shipped graph with them grafted in), built and loaded on first use."""

    def __init__(self, path: Path, threads: int, stats_source: Callable[[], Path], input_name: str | None = None,
                 output_name: str | None = None, name: str = "onnx") -> None:
        super().__init__(path, threads, input_name, output_name, name=name)
        self._stats_source = stats_source
        self._stats_session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    def _stats_graph(self) -> ort.InferenceSession:
        with self._lock:
            if self._stats_session is None:
                self._stats_session = open_session(self._stats_source(), self.threads)
            return self._stats_session

    def _run_stats(self, x_nhwc: FloatArray, given: FloatArray, mix: float) -> tuple[FloatArray, FloatArray]:
        session = self._stats_graph()
        feeds = {self.input_name: np.ascontiguousarray(x_nhwc, dtype=np.float32), "given": given.astype(np.float32),
                 "mix": np.array(mix, np.float32)}
        y, stats = run(session, [self.output_name, "stats"], feeds)
        return np.asarray(y, np.float32), np.asarray(stats, np.float32)

    def norm_stats(self, x_nhwc: FloatArray) -> FloatArray:
        shape = {i.name: i.shape for i in self._stats_graph().get_inputs()}["given"]  # static: fixed at build
        return self._run_stats(x_nhwc, np.zeros(shape, np.float32), 0.0)[1]

    def run_with_stats(self, x_nhwc: FloatArray, stats: FloatArray) -> tuple[FloatArray, FloatArray]:
        return self._run_stats(x_nhwc, stats, 1.0)
