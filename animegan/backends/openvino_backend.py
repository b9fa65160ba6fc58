"""OpenVINO: :class:`OvGraph` runs an ONNX file as it is (no conversion step), at fp32 or bf16 inference precision.

On a CPU with native bf16 (AMX or AVX512-BF16) OpenVINO's bf16 precision runs our generators 2–5× faster than
onnxruntime fp32 (docs/speed.md); elsewhere ``fp32`` runs like onnxruntime. An INT8 (QDQ) graph runs its quantized
layers in int8 at either precision. One compiled model serves every input size.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from ..errors import WeightsError
from . import FloatArray, Precision, Runtime

log = logging.getLogger(__name__)

_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
"""OpenVINO's ``INFERENCE_PRECISION_HINT`` for each precision (an INT8 graph keeps fp32 around its int8 layers)."""


@functools.cache
def core() -> ov.Core:
    """The process's one OpenVINO core."""
    return ov.Core()


def capabilities() -> list[str]:
    """What OpenVINO's CPU plugin can compute in here, e.g. ``['BF16', 'FP32', 'INT8', ...]``."""
    return [str(c) for c in core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


def _output(model: ov.Model, tensor: str) -> ov.Output:
    """The output port that produces the tensor named ``tensor`` in an ONNX graph read by OpenVINO."""
    for op in model.get_ops():
        for port in op.outputs():
            if tensor in port.get_names():
                return port
    raise WeightsError(f"the graph has no tensor {tensor!r}")


def _split(path: Path, tensor: str) -> tuple[ov.Model, ov.Model]:
    """The graph cut at ``tensor``: the head (the graph's inputs → ``tensor``) and the tail (the graph's inputs and
    ``tensor`` as an input named ``TAIL_INPUT`` → the graph's outputs)."""
    full = core().read_model(str(path))
    head = ov.Model([_output(full, tensor)], full.get_parameters(), "head")
    rest = core().read_model(str(path))  # a second copy: the tail's surgery must not touch the head
    port = _output(rest, tensor)
    given = ov.opset13.parameter(port.get_partial_shape(), port.get_element_type(), name=TAIL_INPUT)
    for target in list(port.get_target_inputs()):
        target.replace_source_output(given.output(0))
    return head, ov.Model(rest.get_results(), [*rest.get_parameters(), given], "tail")


TAIL_INPUT = "fp32_tail_input"


_running: set[ov.InferRequest] = set()
_running_lock = threading.Lock()
_cancelled = threading.Event()


def cancel_runs() -> None:
    """Make every OpenVINO run of this process, running or future, fail (the server is stopping)."""
    _cancelled.set()
    with _running_lock:
        for request in _running:
            request.cancel()


class _Compiled:
    """One compiled model and a pool of its infer requests (one per concurrent caller)."""

    def __init__(self, model: ov.Model | str, config: dict[str, Any]) -> None:
        self.model = core().compile_model(model, "CPU", config)
        self._requests: queue.SimpleQueue[ov.InferRequest] = queue.SimpleQueue()

    def __call__(self, feeds: dict[str, FloatArray], names: Sequence[str]) -> list[FloatArray]:
        try:
            request = self._requests.get_nowait()
        except queue.Empty:
            request = self.model.create_infer_request()
        with _running_lock:
            if _cancelled.is_set():
                raise RuntimeError("OpenVINO runs were cancelled: the server is stopping")
            _running.add(request)
        try:
            request.start_async(feeds, share_inputs=True)
            request.wait()
            return [np.array(request.get_tensor(self.model.output(n)).data, np.float32) for n in names]
        finally:
            with _running_lock:
                _running.discard(request)
            self._requests.put(request)


class OvGraph:
    """An ONNX file compiled by OpenVINO for the CPU. With ``fp32_tail`` (a tensor name) at bf16 it is two compiled
    models: the graph up to that tensor at bf16 and the rest at fp32."""

    runtime: Runtime = "openvino"

    def __init__(self, path: Path, threads: int, precision: Precision = "fp32", fp32_tail: str | None = None) -> None:
        self.path = path
        self.precision = precision
        self._fp32: _Compiled | None = None
        self._lock = threading.Lock()
        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
            "ENABLE_CPU_PINNING": False,  # the app's other threads (decoding, the web server) share these cores
        }
        self.config = config
        self._tail: _Compiled | None = None
        self._cut = fp32_tail if precision == "bf16" else None
        try:
            if self._cut is None:
                self._main = _Compiled(str(path), config)
            else:
                head, tail = _split(path, self._cut)
                self._main = _Compiled(head, config)
                self._tail = _Compiled(tail, {**config, "INFERENCE_PRECISION_HINT": "f32"})
        except WeightsError:
            raise
        except Exception as err:  # OpenVINO raises RuntimeError for every load failure
            raise WeightsError(f"{path.name}: OpenVINO cannot load it ({err})") from err
        last = self._tail or self._main
        self.input_names = [p.get_any_name() for p in self._main.model.inputs]
        self.output_names = [p.get_any_name() for p in last.model.outputs]

    def input_shape(self, name: str) -> tuple[int | str | None, ...]:
        shape = self._main.model.input(name).get_partial_shape()
        return tuple(d.get_length() if d.is_static else None for d in shape)

    def __call__(self, feeds: Mapping[str, FloatArray], outputs: Sequence[str] | None = None) -> list[FloatArray]:
        names = list(outputs) if outputs else self.output_names
        if self._tail is None or self._cut is None:
            result = self._main(dict(feeds), names)
        else:
            (cut,) = self._main(dict(feeds), [self._cut])
            result = self._tail({**feeds, TAIL_INPUT: cut}, names)
        if self.precision == "bf16" and not all(np.isfinite(y).all() for y in result):
            return self._exact()(dict(feeds), names)
        return result

    def _exact(self) -> _Compiled:
        """The whole graph at fp32, for the rare input whose bf16 run overflows (a flat image, whose normalization
        variances are 0): compiled on first need."""
        with self._lock:
            if self._fp32 is None:
                log.info("%s: bf16 gave non-finite values on an input; running such inputs at fp32", self.path.name)
                self._fp32 = _Compiled(str(self.path), {**self.config, "INFERENCE_PRECISION_HINT": "f32"})
            return self._fp32
