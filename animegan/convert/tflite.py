"""Read a TFLite flatbuffer (with the pure-Python ``tflite`` package) into plain tensors and ops, and map a
float model's ops onto their TensorFlow equivalents for :mod:`.tf_graph`.

Everything is read eagerly inside one guard, so a truncated or foreign file raises
:class:`~animegan.errors.WeightsError` naming it instead of a flatbuffers error from deep inside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import WeightsError
from .ir import Constant, TfGraph, TfInput, TfOp

_OPTIONS = {
    "CONV_2D": ("Conv2DOptions", ("Padding", "StrideH", "StrideW", "DilationHFactor", "DilationWFactor",
                                  "FusedActivationFunction")),
    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", ("Padding", "StrideH", "StrideW", "DilationHFactor",
                                                     "DilationWFactor", "DepthMultiplier", "FusedActivationFunction")),
    "ADD": ("AddOptions", ("FusedActivationFunction",)),
    "SUB": ("SubOptions", ("FusedActivationFunction",)),
    "MUL": ("MulOptions", ("FusedActivationFunction",)),
    "DIV": ("DivOptions", ("FusedActivationFunction",)),
    "MEAN": ("ReducerOptions", ("KeepDims",)),
    "SUM": ("ReducerOptions", ("KeepDims",)),
    "MIRROR_PAD": ("MirrorPadOptions", ("Mode",)),
    "LEAKY_RELU": ("LeakyReluOptions", ("Alpha",)),
    "RESIZE_BILINEAR": ("ResizeBilinearOptions", ("AlignCorners", "HalfPixelCenters")),
    "SOFTMAX": ("SoftmaxOptions", ("Beta",)),
}
"""The builtin options read for each op: the ``tflite`` class and its fields."""


@dataclass(frozen=True)
class Tensor:
    """One tensor: its constant value (None for activations) and quantization (per-axis scales, zero points)."""

    name: str
    shape: tuple[int, ...]
    signature: tuple[int, ...]
    dtype: str
    data: npt.NDArray[Any] | None
    scales: npt.NDArray[np.float32] | None = None
    zero_points: npt.NDArray[np.int64] | None = None


@dataclass(frozen=True)
class Op:
    """One operator: builtin name, tensor indices (-1: optional input left out) and its options."""

    code: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Model:
    """The first subgraph of a TFLite model."""

    source: str
    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def constant(self, index: int, where: str) -> npt.NDArray[Any]:
        """The value of tensor ``index``; raises WeightsError (``where`` says which input) if it is not a constant."""
        tensor = self.tensors[index] if index >= 0 else None
        if tensor is None or tensor.data is None:
            raise WeightsError(f"{where} is not a constant tensor")
        return tensor.data


def read_model(path: Path) -> Model:
    """Parse ``path`` as a TFLite model. Raises WeightsError naming it if it is not one (or is damaged)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise WeightsError(f"{path}: cannot read the TFLite file ({err})") from err
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise WeightsError(f"{path}: not a TFLite model (no 'TFL3' identifier)")
    try:
        return _parse(data, str(path))
    except WeightsError:
        raise
    except Exception as err:  # flatbuffers reads past the end of a damaged file with many exception types
        raise WeightsError(f"{path}: the TFLite flatbuffer is damaged or truncated ({type(err).__name__}: {err})") from err


def _parse(data: bytes, source: str) -> Model:
    import tflite

    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() < 1:
        raise WeightsError(f"{source}: the TFLite model has no subgraph")
    graph = model.Subgraphs(0)
    type_names = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
    op_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    tensors = []
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        dtype = type_names.get(t.Type(), str(t.Type()))
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        signature = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else shape
        buffer = model.Buffers(t.Buffer())
        value = None
        if buffer is not None and buffer.DataLength():
            np_type = _NUMPY.get(dtype)
            if np_type is None:
                raise WeightsError(f"{source}: constant {t.Name().decode()!r} has unsupported type {dtype}")
            raw = buffer.DataAsNumpy().tobytes()
            count = int(np.prod(shape, dtype=np.int64))
            if len(raw) != count * np.dtype(np_type).itemsize:
                raise WeightsError(f"{source}: constant {t.Name().decode()!r} holds {len(raw)} bytes for shape {list(shape)}")
            value = np.frombuffer(raw, np.dtype(np_type).newbyteorder("<")).astype(np_type).reshape(shape)
        q = t.Quantization()
        scales = zeros = None
        if q is not None and q.ScaleLength():
            scales = q.ScaleAsNumpy().astype(np.float32)
            zeros = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros_like(scales, np.int64)
        tensors.append(Tensor(t.Name().decode(), shape, signature, dtype, value, scales, zeros))
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        opcode = model.OperatorCodes(op.OpcodeIndex())
        code = op_names.get(max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode()), "CUSTOM")
        options: dict[str, Any] = {}
        if code in _OPTIONS and op.BuiltinOptions() is not None:
            cls_name, fields = _OPTIONS[code]
            table = op.BuiltinOptions()
            opts = getattr(tflite, cls_name)()
            opts.Init(table.Bytes, table.Pos)
            options = {f: getattr(opts, f)() for f in fields}
        ins = tuple(int(x) for x in op.InputsAsNumpy()) if op.InputsLength() else ()
        outs = tuple(int(x) for x in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        if any(x >= len(tensors) for x in (*ins, *outs)):
            raise WeightsError(f"{source}: operator {i} ({code}) refers to a tensor that does not exist")
        ops.append(Op(code, ins, outs, options))
    return Model(source, tuple(tensors), tuple(ops), tuple(int(x) for x in graph.InputsAsNumpy()),
                 tuple(int(x) for x in graph.OutputsAsNumpy()))


_NUMPY: dict[str, type[np.generic]] = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32,
                                       "INT64": np.int64, "INT8": np.int8, "UINT8": np.uint8}

_BINARY = {"ADD": "AddV2", "SUB": "Sub", "MUL": "Mul", "DIV": "RealDiv"}
_PLAIN = {"SQUARED_DIFFERENCE": "SquaredDifference", "SQRT": "Sqrt", "RSQRT": "Rsqrt", "TANH": "Tanh",
          "TRANSPOSE": "Transpose", "RESHAPE": "Reshape"}


def to_tf_graph(model: Model) -> TfGraph:
    """A float TFLite model (fp32 activations; fp32 or fp16 weights) as a :class:`TfGraph`.

    Tensors keep their TFLite names. Raises WeightsError for quantized activations, a fused activation or
    any op outside the ones mapped here.
    """
    names = [t.name for t in model.tensors]
    constants = {t.name: Constant(t.data) for t in model.tensors if t.data is not None}
    ops: list[TfOp] = []
    for index, op in enumerate(model.ops):
        where = f"{model.source}: operator {index} ({op.code})"
        ins = tuple(names[i] for i in op.inputs if i >= 0)
        outs = tuple(names[i] for i in op.outputs)
        if op.options.get("FusedActivationFunction", 0):
            raise WeightsError(f"{where} fuses an activation; only unfused ops are supported")
        if op.code == "DEQUANTIZE":
            value = model.constant(op.inputs[0], f"{where}: the dequantized input")
            if value.dtype != np.float16:
                raise WeightsError(f"{where} dequantizes {value.dtype} data; only float16 weights are supported")
            constants[outs[0]] = Constant(value.astype(np.float32))
        elif op.code == "CONV_2D":
            if ins[1] not in constants:
                raise WeightsError(f"{where}: the filter is not a constant tensor")
            weight = constants[ins[1]].value()
            hwio = f"{ins[1]}/hwio"
            constants[hwio] = Constant(np.transpose(weight, (1, 2, 3, 0)))
            attrs = {"padding": _padding(op, where), "strides": [1, op.options["StrideH"], op.options["StrideW"], 1],
                     "dilations": [1, op.options["DilationHFactor"], op.options["DilationWFactor"], 1]}
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                ops.append(TfOp(outs[0], "_FusedConv2D", (ins[0], hwio, ins[2]), outs,
                                {**attrs, "fused_ops": [b"BiasAdd"], "num_args": 1}))
            else:
                ops.append(TfOp(outs[0], "Conv2D", (ins[0], hwio), outs, attrs))
        elif op.code in _BINARY:
            ops.append(TfOp(outs[0], _BINARY[op.code], ins, outs))
        elif op.code in _PLAIN:
            if op.code == "RESHAPE" and len(ins) < 2:
                raise WeightsError(f"{where} has no shape input")
            ops.append(TfOp(outs[0], _PLAIN[op.code], ins, outs))
        elif op.code in ("MEAN", "SUM"):
            ops.append(TfOp(outs[0], op.code.title(), ins, outs, {"keep_dims": bool(op.options.get("KeepDims", False))}))
        elif op.code == "MIRROR_PAD":
            mode = {0: b"REFLECT", 1: b"SYMMETRIC"}.get(op.options.get("Mode", 0), b"?")
            ops.append(TfOp(outs[0], "MirrorPad", ins, outs, {"mode": mode}))
        elif op.code == "LEAKY_RELU":
            ops.append(TfOp(outs[0], "LeakyRelu", ins, outs, {"alpha": float(op.options["Alpha"])}))
        elif op.code == "RESIZE_BILINEAR":
            ops.append(TfOp(outs[0], "ResizeBilinear", ins, outs, {
                "align_corners": bool(op.options.get("AlignCorners", False)),
                "half_pixel_centers": bool(op.options.get("HalfPixelCenters", False))}))
        elif op.code == "SOFTMAX":
            ops.append(TfOp(outs[0], "Softmax", ins, outs, {"beta": float(op.options.get("Beta", 1.0))}))
        else:
            raise WeightsError(f"{where} is not supported by the TFLite → ONNX converter (quantized activations "
                               f"and this op are not)")
    inputs = []
    for i in model.inputs:
        t = model.tensors[i]
        if t.dtype != "FLOAT32":
            raise WeightsError(f"{model.source}: input {t.name!r} is {t.dtype}; only float32 inputs are supported")
        inputs.append(TfInput(t.name, t.name, tuple(None if d < 0 else d for d in t.signature)))
    outputs = tuple((names[i], names[i]) for i in model.outputs)
    return TfGraph(tuple(ops), constants, tuple(inputs), outputs, model.source)


def _padding(op: Op, where: str) -> bytes:
    padding = {0: b"SAME", 1: b"VALID"}.get(op.options.get("Padding", -1))
    if padding is None:
        raise WeightsError(f"{where} has an unknown padding {op.options.get('Padding')!r}")
    return padding
