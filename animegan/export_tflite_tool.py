"""ONNX → TFLite for one fixed-size graph, with TensorFlow: ``python export_tflite_tool.py SRC.onnx DST.tflite``.

Run by the mobile tool environment's interpreter (``make mobile-tools``: TensorFlow, onnx, numpy), never imported by
the engine, and it imports nothing of ``animegan``. ``SRC`` is a wrapper graph of :mod:`animegan.mobile` with a fixed
1×3×H×W input, shape computations already folded. Each ONNX node becomes the TensorFlow ops of its exact ONNX
semantics; 4-D tensors are kept in TFLite's NHWC order where that needs no transpose (a tensor is stored with a
permutation of its ONNX axes, and an ONNX Transpose only changes that permutation). The result takes and gives
1×H×W×3 float32 (NHWC). Exit status 3 and one line on stderr for an ONNX op this converter does not know.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

NCHW_AS_NHWC = (0, 2, 3, 1)
"""A stored NHWC tensor of an ONNX NCHW tensor: stored axis i is ONNX axis NCHW_AS_NHWC[i]."""


class Unsupported(Exception):
    """An ONNX op or attribute this converter cannot express."""


class Value:
    """A tensor during conversion: a numpy constant, or a TensorFlow tensor stored with its axes permuted.

    ``perm[i]`` is the ONNX axis of stored axis ``i`` (identity: stored as ONNX has it).
    """

    def __init__(self, data: Any, perm: Sequence[int] | None = None) -> None:
        self.data = data
        self.perm = tuple(perm) if perm is not None else tuple(range(len(data.shape)))

    @property
    def const(self) -> bool:
        return isinstance(self.data, np.ndarray)

    @property
    def rank(self) -> int:
        return len(self.perm)

    def shape(self) -> list[int]:
        """The ONNX (logical) shape."""
        stored = [int(d) for d in self.data.shape]
        out = [0] * len(stored)
        for i, axis in enumerate(self.perm):
            out[axis] = stored[i]
        return out


def main(argv: list[str]) -> int:
    src, dst = argv
    try:
        tflite = convert(onnx.load(src))
    except Unsupported as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    with open(dst, "wb") as f:
        f.write(tflite)
    print(f"tensorflow {importlib.import_module('tensorflow').__version__}")
    return 0


def convert(model: onnx.ModelProto) -> bytes:
    """The TFLite flatbuffer of ``model`` (one fixed-size 1×3×H×W input and output). Raises Unsupported."""
    tf: Any = importlib.import_module("tensorflow")
    graph = model.graph
    (inp,) = graph.input
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    if len(dims) != 4 or not all(dims):
        raise Unsupported(f"input {inp.name!r} must have a fixed 1×3×H×W shape, not {dims}")
    n, c, h, w = dims
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    ops = Ops(tf)

    @tf.function(input_signature=[tf.TensorSpec([n, h, w, c], tf.float32, name=inp.name)])
    def run(x_nhwc: Any) -> Any:
        values: dict[str, Value] = {k: Value(v) for k, v in consts.items()}
        values[inp.name] = Value(x_nhwc, NCHW_AS_NHWC)
        values[""] = Value(np.zeros(0, np.float32))
        for node in graph.node:
            fn = getattr(ops, node.op_type, None)
            if fn is None:
                raise Unsupported(f"ONNX op {node.op_type} ({node.name}) has no TFLite form here")
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            outs = fn([values[i] for i in node.input], attrs)
            for name, value in zip(node.output, outs if isinstance(outs, list) else [outs], strict=False):
                values[name] = value
        y = values[graph.output[0].name]
        return tf.identity(ops.stored(y, NCHW_AS_NHWC), name="output")

    converter = tf.lite.TFLiteConverter.from_concrete_functions([run.get_concrete_function()], run)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return bytes(converter.convert())


def _inverse(perm: Sequence[int]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


class Ops:
    """One method per ONNX op: ``(inputs, attributes) -> Value`` (or a list of them)."""

    def __init__(self, tf: Any) -> None:
        self.tf = tf

    # ---- layout ----------------------------------------------------------------------------------

    def stored(self, v: Value, perm: Sequence[int]) -> Any:
        """``v``'s data stored with permutation ``perm`` (a TensorFlow tensor, transposed if needed)."""
        perm = tuple(perm)
        data = v.data if not v.const else self.tf.constant(v.data)
        if v.perm == perm:
            return data
        # stored axis i must hold ONNX axis perm[i], which v keeps at stored axis v.perm.index(perm[i])
        return self.tf.transpose(data, [v.perm.index(p) for p in perm])

    def logical(self, v: Value) -> Any:
        return self.stored(v, range(v.rank))

    def _const_as(self, v: Value, rank: int, perm: Sequence[int]) -> np.ndarray:
        """A numpy constant broadcast to ``rank`` dimensions (leading ones) and permuted like a ``perm`` tensor."""
        a = np.asarray(v.data)
        a = a.reshape((1,) * (rank - a.ndim) + a.shape)
        return np.ascontiguousarray(a.transpose(perm))

    def _binary(self, fn: Callable[[Any, Any], Any], npfn: Callable[[Any, Any], Any], a: Value, b: Value) -> Value:
        if a.const and b.const:
            return Value(np.asarray(npfn(a.data, b.data)))
        ref = a if not a.const and (b.const or a.rank >= b.rank) else b
        perm = ref.perm

        def as_ref(v: Value) -> Any:
            if v.const:
                return self._const_as(v, ref.rank, perm).astype(np.float32 if v.data.dtype.kind == "f" else v.data.dtype)
            if v.rank != ref.rank:
                if v.rank > ref.rank:
                    raise Unsupported("broadcast of a higher-rank tensor")
                x = self.tf.reshape(self.logical(v), [1] * (ref.rank - v.rank) + v.shape())
                return self.stored(Value(x), perm)
            return self.stored(v, perm)

        return Value(fn(as_ref(a), as_ref(b)), perm)

    def _unary(self, fn: Callable[[Any], Any], npfn: Callable[[Any], Any], v: Value) -> Value:
        return Value(np.asarray(npfn(v.data))) if v.const else Value(fn(v.data), v.perm)

    # ---- elementwise -----------------------------------------------------------------------------

    def Add(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._binary(self.tf.add, np.add, *i)

    def Sub(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._binary(self.tf.subtract, np.subtract, *i)

    def Mul(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._binary(self.tf.multiply, np.multiply, *i)

    def Div(self, i: list[Value], a: dict[str, Any]) -> Value:
        def npdiv(x: Any, y: Any) -> Any:
            return np.floor_divide(x, y) if np.asarray(x).dtype.kind in "iu" else np.divide(x, y)

        return self._binary(self.tf.divide, npdiv, *i)

    def Pow(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._binary(self.tf.pow, np.power, *i)

    def Min(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._binary(self.tf.minimum, np.minimum, *i)

    def Max(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._binary(self.tf.maximum, np.maximum, *i)

    def Sqrt(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._unary(self.tf.sqrt, np.sqrt, i[0])

    def Reciprocal(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._unary(self.tf.math.reciprocal, np.reciprocal, i[0])

    def Exp(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._unary(self.tf.exp, np.exp, i[0])

    def Neg(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._unary(self.tf.negative, np.negative, i[0])

    def Abs(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._unary(self.tf.abs, np.abs, i[0])

    def Tanh(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._unary(self.tf.tanh, np.tanh, i[0])

    def Sigmoid(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._unary(self.tf.sigmoid, lambda x: 1 / (1 + np.exp(-x)), i[0])

    def Relu(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._unary(self.tf.nn.relu, lambda x: np.maximum(x, 0), i[0])

    def LeakyRelu(self, i: list[Value], a: dict[str, Any]) -> Value:
        alpha = float(a.get("alpha", 0.01))
        return self._unary(lambda x: self.tf.nn.leaky_relu(x, alpha), lambda x: np.where(x > 0, x, alpha * x), i[0])

    def Clip(self, i: list[Value], a: dict[str, Any]) -> Value:
        lo = float(i[1].data) if len(i) > 1 and i[1].data.size else float(a.get("min", -np.inf))
        hi = float(i[2].data) if len(i) > 2 and i[2].data.size else float(a.get("max", np.inf))
        return self._unary(lambda x: self.tf.clip_by_value(x, lo, hi), lambda x: np.clip(x, lo, hi), i[0])

    def Identity(self, i: list[Value], a: dict[str, Any]) -> Value:
        return i[0]

    def Cast(self, i: list[Value], a: dict[str, Any]) -> Value:
        to = onnx.helper.tensor_dtype_to_np_dtype(a["to"])
        if i[0].const:
            return Value(i[0].data.astype(to))
        if to != np.float32:
            raise Unsupported(f"Cast of a computed tensor to {to}")
        return i[0]

    # ---- convolutions and normalisation ------------------------------------------------------------

    def _same_pads(self, size: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dil: Sequence[int],
                   mode: bytes) -> list[int]:
        begins, ends = [], []
        for n, k, s, d in zip(size, kernel, strides, dil, strict=True):
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            small = total // 2
            begins.append(small if mode == b"SAME_UPPER" else total - small)
            ends.append(total - begins[-1])
        return begins + ends

    def Conv(self, i: list[Value], a: dict[str, Any]) -> Value:
        tf = self.tf
        x, weight = i[0], i[1].data
        if x.rank != 4 or not i[1].const:
            raise Unsupported("Conv other than 2-D with constant weights")
        out_c, in_per_group, kh, kw = weight.shape
        group = int(a.get("group", 1))
        strides, dil = list(a.get("strides", [1, 1])), list(a.get("dilations", [1, 1]))
        auto = a.get("auto_pad", b"NOTSET")
        shape = x.shape()
        pads = list(a.get("pads", [0, 0, 0, 0])) if auto in (b"NOTSET", b"VALID") else \
            self._same_pads(shape[2:], [kh, kw], strides, dil, auto)
        y = self.stored(x, NCHW_AS_NHWC)
        if any(pads):
            y = tf.pad(y, [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]])
        if group == 1:
            y = tf.nn.conv2d(y, weight.transpose(2, 3, 1, 0), [1, *strides, 1], "VALID", dilations=[1, *dil, 1])
        elif group == shape[1] and in_per_group == 1:
            mult = out_c // group
            filt = weight.reshape(group, mult, kh, kw).transpose(2, 3, 0, 1)
            if strides[0] != strides[1]:
                raise Unsupported("depthwise Conv with unequal strides")
            y = tf.nn.depthwise_conv2d(y, filt, [1, *strides, 1], "VALID", dilations=dil)
        else:
            raise Unsupported(f"grouped Conv with group={group}")
        if len(i) > 2:
            y = y + i[2].data.astype(np.float32)
        return Value(y, NCHW_AS_NHWC)

    def ConvTranspose(self, i: list[Value], a: dict[str, Any]) -> Value:
        tf = self.tf
        x, weight = i[0], i[1].data
        if x.rank != 4 or int(a.get("group", 1)) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
            raise Unsupported("ConvTranspose other than 2-D, ungrouped, undilated")
        _, out_c, kh, kw = weight.shape
        strides = list(a.get("strides", [1, 1]))
        pads = list(a.get("pads", [0, 0, 0, 0]))
        extra = list(a.get("output_padding", [0, 0]))
        n, _, h, w = x.shape()
        full = [(h - 1) * strides[0] + kh + extra[0], (w - 1) * strides[1] + kw + extra[1]]
        y = tf.nn.conv2d_transpose(self.stored(x, NCHW_AS_NHWC), weight.transpose(2, 3, 1, 0),
                                   [n, full[0], full[1], out_c], [1, *strides, 1], "VALID")
        y = y[:, pads[0]:full[0] - pads[2], pads[1]:full[1] - pads[3], :]
        if len(i) > 2:
            y = y + i[2].data.astype(np.float32)
        return Value(y, NCHW_AS_NHWC)

    def InstanceNormalization(self, i: list[Value], a: dict[str, Any]) -> Value:
        tf = self.tf
        x = self.logical(i[0])
        axes = list(range(2, i[0].rank))
        mean = tf.reduce_mean(x, axes, keepdims=True)
        var = tf.reduce_mean(tf.square(x - mean), axes, keepdims=True)
        shape = [1, -1] + [1] * len(axes)
        y = (x - mean) * tf.math.rsqrt(var + float(a.get("epsilon", 1e-5)))
        return Value(y * i[1].data.reshape(shape) + i[2].data.reshape(shape))

    # ---- reductions ------------------------------------------------------------------------------

    def _reduce(self, fn: Callable[..., Any], npfn: Callable[..., Any], i: list[Value], a: dict[str, Any]) -> Value:
        x = i[0]
        axes = a.get("axes")
        if axes is None and len(i) > 1 and i[1].data.size:
            axes = [int(v) for v in i[1].data]
        axes = list(range(x.rank)) if axes is None else [int(v) % x.rank for v in axes]
        keep = bool(a.get("keepdims", 1))
        if x.const:
            return Value(np.asarray(npfn(x.data, axis=tuple(axes), keepdims=keep)))
        stored_axes = [x.perm.index(ax) for ax in axes]
        if keep:
            return Value(fn(x.data, stored_axes, keepdims=True), x.perm)
        return Value(fn(self.logical(x), axes, keepdims=False))

    def ReduceMean(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._reduce(self.tf.reduce_mean, np.mean, i, a)

    def ReduceSum(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._reduce(self.tf.reduce_sum, np.sum, i, a)

    def GlobalAveragePool(self, i: list[Value], a: dict[str, Any]) -> Value:
        return self._reduce(self.tf.reduce_mean, np.mean, i[:1], {"axes": list(range(2, i[0].rank))})

    def Softmax(self, i: list[Value], a: dict[str, Any]) -> Value:
        x = i[0]
        axis = int(a.get("axis", -1)) % x.rank
        return Value(self.tf.nn.softmax(x.data, axis=x.perm.index(axis)), x.perm)

    # ---- shapes ----------------------------------------------------------------------------------

    def Transpose(self, i: list[Value], a: dict[str, Any]) -> Value:
        x = i[0]
        perm = list(a.get("perm", reversed(range(x.rank))))
        if x.const:
            return Value(np.ascontiguousarray(x.data.transpose(perm)))
        # new ONNX axis j is old ONNX axis perm[j]: stored axis s (old axis x.perm[s]) becomes new axis perm.index(...)
        return Value(x.data, [perm.index(p) for p in x.perm])

    def Shape(self, i: list[Value], a: dict[str, Any]) -> Value:
        shape = np.array(i[0].shape(), np.int64)
        return Value(shape[int(a.get("start", 0)):a.get("end")])

    def Reshape(self, i: list[Value], a: dict[str, Any]) -> Value:
        x, target = i[0], [int(v) for v in i[1].data]
        shape = x.shape()
        target = [shape[k] if v == 0 else v for k, v in enumerate(target)]
        if x.const:
            return Value(x.data.reshape(target))
        return Value(self.tf.reshape(self.logical(x), target))

    def Flatten(self, i: list[Value], a: dict[str, Any]) -> Value:
        shape = i[0].shape()
        axis = int(a.get("axis", 1))
        return self.Reshape([i[0], Value(np.array([int(np.prod(shape[:axis])), -1]))], {})

    def Squeeze(self, i: list[Value], a: dict[str, Any]) -> Value:
        x = i[0]
        axes = a.get("axes") or ([int(v) for v in i[1].data] if len(i) > 1 else None)
        shape = x.shape()
        axes = [k for k, d in enumerate(shape) if d == 1] if axes is None else [int(v) % x.rank for v in axes]
        return self.Reshape([x, Value(np.array([d for k, d in enumerate(shape) if k not in axes]))], {})

    def Unsqueeze(self, i: list[Value], a: dict[str, Any]) -> Value:
        x = i[0]
        axes = a.get("axes") or [int(v) for v in i[1].data]
        shape = x.shape()
        rank = len(shape) + len(axes)
        axes = sorted(int(v) % rank for v in axes)
        for ax in axes:
            shape.insert(ax, 1)
        return self.Reshape([x, Value(np.array(shape))], {})

    def Concat(self, i: list[Value], a: dict[str, Any]) -> Value:
        axis = int(a["axis"])
        if all(v.const for v in i):
            return Value(np.concatenate([v.data for v in i], axis=axis))
        ref = next(v for v in i if not v.const)
        axis %= ref.rank
        parts = [self.stored(v, ref.perm) for v in i]
        return Value(self.tf.concat(parts, ref.perm.index(axis)), ref.perm)

    def Slice(self, i: list[Value], a: dict[str, Any]) -> Value:
        x = i[0]
        starts, ends = [int(v) for v in i[1].data], [int(v) for v in i[2].data]
        axes = [int(v) for v in i[3].data] if len(i) > 3 and i[3].data.size else list(range(len(starts)))
        steps = [int(v) for v in i[4].data] if len(i) > 4 and i[4].data.size else [1] * len(starts)
        index: list[slice] = [slice(None)] * x.rank
        for s, e, ax, st in zip(starts, ends, axes, steps, strict=True):
            index[x.perm.index(ax % x.rank) if not x.const else ax % x.rank] = slice(s, e, st)
        if x.const:
            return Value(x.data[tuple(index)])
        if any(st != 1 for st in steps):
            raise Unsupported("Slice with steps")
        shape = [int(d) for d in x.data.shape]
        begin = [sl.indices(d)[0] if sl != slice(None) else 0 for sl, d in zip(index, shape, strict=True)]
        end = [sl.indices(d)[1] if sl != slice(None) else d for sl, d in zip(index, shape, strict=True)]
        return Value(self.tf.slice(x.data, begin, [e - b for b, e in zip(begin, end, strict=True)]), x.perm)

    def Gather(self, i: list[Value], a: dict[str, Any]) -> Value:
        x, idx = i
        axis = int(a.get("axis", 0))
        if x.const and idx.const:
            return Value(np.take(x.data, idx.data, axis=axis))
        raise Unsupported("Gather on a computed tensor")

    def Expand(self, i: list[Value], a: dict[str, Any]) -> Value:
        x, shape = i[0], [int(v) for v in i[1].data]
        if x.const:
            return Value(np.broadcast_to(x.data, np.broadcast_shapes(x.data.shape, tuple(shape))).copy())
        return Value(self.tf.broadcast_to(self.logical(x), np.broadcast_shapes(tuple(x.shape()), tuple(shape))))

    def ConstantOfShape(self, i: list[Value], a: dict[str, Any]) -> Value:
        fill = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return Value(np.full([int(v) for v in i[0].data], fill.reshape(-1)[0], fill.dtype))

    def Constant(self, i: list[Value], a: dict[str, Any]) -> Value:
        if "value" not in a:
            raise Unsupported("Constant without a tensor value")
        return Value(numpy_helper.to_array(a["value"]))

    def MatMul(self, i: list[Value], a: dict[str, Any]) -> Value:
        x, y = (self.tf.constant(v.data.astype(np.float32)) if v.const else self.logical(v) for v in i)
        return Value(self.tf.linalg.matmul(x, y))

    # ---- resampling ------------------------------------------------------------------------------

    def Resize(self, i: list[Value], a: dict[str, Any]) -> Value:
        tf = self.tf
        x = i[0]
        mode, coords = a.get("mode", b"nearest"), a.get("coordinate_transformation_mode", b"half_pixel")
        shape = x.shape()
        if len(i) > 3 and i[3].data.size:
            size = [int(v) for v in i[3].data]
        else:
            size = [int(np.floor(d * s)) for d, s in zip(shape, i[2].data, strict=True)]
        if x.rank != 4 or size[:2] != shape[:2]:
            raise Unsupported("Resize other than of the last two axes of a 4-D tensor")
        y = self.stored(x, NCHW_AS_NHWC)
        if mode == b"linear" and coords in (b"asymmetric", b"align_corners", b"half_pixel", b"pytorch_half_pixel"):
            if coords == b"pytorch_half_pixel" and min(size[2:]) == 1:
                raise Unsupported("Resize pytorch_half_pixel to size 1")
            y = tf.compat.v1.image.resize_bilinear(y, size[2:], align_corners=coords == b"align_corners",
                                                   half_pixel_centers=coords in (b"half_pixel", b"pytorch_half_pixel"))
        elif mode == b"nearest" and coords == b"asymmetric" and a.get("nearest_mode", b"round_prefer_floor") == b"floor":
            y = tf.compat.v1.image.resize_nearest_neighbor(y, size[2:], align_corners=False, half_pixel_centers=False)
        else:
            raise Unsupported(f"Resize mode {mode.decode()} with {coords.decode()} coordinates")
        return Value(y, NCHW_AS_NHWC)

    def Pad(self, i: list[Value], a: dict[str, Any]) -> Value:
        x = i[0]
        pads = [int(v) for v in (i[1].data if len(i) > 1 else a["pads"])]
        mode = a.get("mode", b"constant")
        value = float(i[2].data) if len(i) > 2 and i[2].data.size else 0.0
        if len(i) > 3 and i[3].data.size:
            raise Unsupported("Pad with axes")
        r = x.rank
        logical = [[pads[k], pads[k + r]] for k in range(r)]
        stored = [logical[p] for p in x.perm]
        tf_mode = {b"constant": "CONSTANT", b"reflect": "REFLECT"}.get(mode)
        if tf_mode is None:
            raise Unsupported(f"Pad mode {mode.decode()}")
        data = x.data if not x.const else self.tf.constant(x.data)
        return Value(self.tf.pad(data, stored, tf_mode, constant_values=value), x.perm)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
