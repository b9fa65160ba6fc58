"""ONNX graphs in a runtime (onnxruntime or OpenVINO) and the backends over them.

A :class:`Graph` is one loaded ONNX file: named float32 inputs in, the named outputs back. Every model of the product
(styles, the face detector, the upscalers) runs as a graph; :class:`GraphBackend` makes one a style :class:`Backend`,
:class:`GlobalNormGraphBackend` adds the whole-image statistics graph of full-resolution mode. The runtimes are
imported on first use only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from . import FloatArray, Precision, Runtime


class Graph(Protocol):
    """One ONNX graph loaded in a runtime. Calls are safe from many threads at once."""

    path: Path
    runtime: Runtime
    precision: Precision
    input_names: list[str]
    output_names: list[str]

    def input_shape(self, name: str) -> tuple[int | str | None, ...]:
        """The declared shape of input ``name`` (a symbol or None for a dynamic axis)."""
        ...

    def __call__(self, feeds: Mapping[str, FloatArray], outputs: Sequence[str] | None = None) -> list[FloatArray]:
        """Run once: ``outputs`` (default: every output, in order) as float32 arrays the caller owns."""
        ...


def open_graph(path: Path, runtime: Runtime, threads: int, precision: Precision = "fp32",
               fp32_tail: str | None = None) -> Graph:
    """Load ``path`` (a verified or derived ONNX file) in ``runtime``. ``precision`` is OpenVINO's inference
    precision (``bf16`` or ``fp32``; an INT8 graph's quantized layers run in int8 either way) and the label of the
    graph; ``fp32_tail`` names the tensor after which OpenVINO stays at fp32 (see ``StyleSpec.fp32_tail``).
    Raises WeightsError if the runtime cannot load the file, ImportError if the runtime is not installed."""
    if runtime == "openvino":
        from .openvino_backend import OvGraph

        return OvGraph(path, threads, precision, fp32_tail)
    from .onnx_backend import OrtGraph

    return OrtGraph(path, threads, precision)


class GraphBackend:
    """A generator graph as a style :class:`Backend`: one NHWC input, one output."""

    def __init__(self, graph: Graph, input_name: str | None = None, output_name: str | None = None, name: str = "onnx") -> None:
        self.name = name
        self.graph = graph
        self.path = graph.path
        self.input_name = input_name or graph.input_names[0]
        self.output_name = output_name or graph.output_names[0]

    @property
    def precision(self) -> Precision:
        return self.graph.precision

    def run(self, x_nhwc: FloatArray) -> FloatArray:
        (y,) = self.graph({self.input_name: np.ascontiguousarray(x_nhwc, dtype=np.float32)}, [self.output_name])
        return y


class GlobalNormGraphBackend(GraphBackend):
    """A generator with per-image normalization statistics: ``run`` uses the main graph (any precision); the
    statistics methods use a second graph with the same input and output plus input ``given`` (its shape fixes the
    statistics'), scalar ``mix`` and output ``stats`` (the v2 export with statistics, or a shipped graph with them
    grafted in), opened by ``stats_graph`` on first use (in the main graph's runtime and precision)."""

    def __init__(self, graph: Graph, stats_graph: Callable[[], Graph], input_name: str | None = None,
                 output_name: str | None = None, name: str = "onnx") -> None:
        super().__init__(graph, input_name, output_name, name)
        self._open_stats = stats_graph
        self._stats: Graph | None = None
        self._lock = threading.Lock()

    def _stats_graph(self) -> Graph:
        with self._lock:
            if self._stats is None:
                self._stats = self._open_stats()
            return self._stats

    def _run_stats(self, x_nhwc: FloatArray, given: FloatArray, mix: float) -> tuple[FloatArray, FloatArray]:
        feeds = {self.input_name: np.ascontiguousarray(x_nhwc, dtype=np.float32), "given": given.astype(np.float32),
                 "mix": np.array(mix, np.float32)}
        y, stats = self._stats_graph()(feeds, [self.output_name, "stats"])
        return y, stats

    def norm_stats(self, x_nhwc: FloatArray) -> FloatArray:
        shape = self._stats_graph().input_shape("given")  # static: fixed at build
        return self._run_stats(x_nhwc, np.zeros([int(d) for d in shape if d is not None], np.float32), 0.0)[1]

    def run_with_stats(self, x_nhwc: FloatArray, stats: FloatArray) -> tuple[FloatArray, FloatArray]:
        return self._run_stats(x_nhwc, stats, 1.0)
