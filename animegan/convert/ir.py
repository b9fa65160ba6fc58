"""The graph form every reader produces and :mod:`.tf_graph` translates: TensorFlow ops with plain-Python
attributes, their constants, inputs and outputs. A frozen ``GraphDef``, a tfjs topology and a TFLite model
(ops mapped to their TensorFlow names) all become a :class:`TfGraph`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Constant:
    """A constant tensor as stored: ``plain`` (any dtype), ``float16`` (a float32 tensor kept in half
    precision) or ``affine`` (uint8 ``q`` meaning ``q·scale + offset`` in float32). Layout changes apply to
    the stored array, so the compact form survives them."""

    stored: Array
    kind: str = "plain"
    scale: float = 1.0
    offset: float = 0.0

    def value(self) -> Array:
        """The tensor's values (float32 for the compact kinds)."""
        if self.kind == "float16":
            return self.stored.astype(np.float32)
        if self.kind == "affine":
            return self.stored.astype(np.float32) * np.float32(self.scale) + np.float32(self.offset)
        return self.stored

    def reshaped(self, fn: Callable[[Array], Array]) -> Constant:
        """The same constant with ``fn`` (a transpose or reshape) applied to its stored array."""
        return Constant(np.array(fn(self.stored), order="C"), self.kind, self.scale, self.offset)


@dataclass(frozen=True)
class TfOp:
    """One TensorFlow op: ``inputs`` and ``outputs`` are tensor references (``node:0`` or TFLite names)."""

    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TfInput:
    """A graph input: its reference, the ONNX name it gets, and its NHWC shape (None for a dynamic size)."""

    ref: str
    name: str
    shape: tuple[int | None, ...]


@dataclass(frozen=True)
class TfGraph:
    """A TensorFlow graph to translate: ops in any order, constants by reference, inputs and (ref, ONNX name)
    outputs. ``source`` names the file in error messages."""

    ops: tuple[TfOp, ...]
    constants: Mapping[str, Constant]
    inputs: tuple[TfInput, ...]
    outputs: tuple[tuple[str, str], ...]
    source: str
