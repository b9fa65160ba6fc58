"""Translate a TensorFlow graph (NHWC, float32 images) into an ONNX graph that runs in NCHW.

The input is a small intermediate form, :class:`TfGraph`: TensorFlow ops with plain-Python attributes and
their constants. A frozen ``GraphDef`` (``.pb``), a tfjs topology (a ``GraphDef`` in JSON) and a TFLite
model (ops mapped to their TensorFlow names) are all read into it, so one translation serves all three.

Layout: every 4-D image tensor is kept in NCHW as soon as an op that needs it (convolution, padding,
resizing, a spatial mean) sees it; elementwise ops follow their operands, and ops that depend on the
memory order (reshape, transpose, shape arithmetic) get NHWC back through one shared ``Transpose``. The
graph input and output stay NHWC as in TensorFlow. Normalization moments become ``GlobalAveragePool`` of
``x`` and of ``(x − mean)²``, the pattern :mod:`animegan.backends.graft` recognises.

Integer tensors (TensorFlow int32 shape arithmetic) are int64 in ONNX; every op of that kind here
works on non-negative sizes. Constant subgraphs (weight reads, ``ExpandDims`` of kernels, ``Range``
over ranks...) are folded in numpy. Anything outside the supported ops raises
:class:`~animegan.errors.WeightsError` naming the op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import WeightsError
from .ir import Constant, TfGraph, TfOp

IR_VERSION = 8
OPSET = 17
"""The ONNX format written: the same as the tf2onnx 1.17 files we shipped before (onnxruntime ≥ 1.14)."""
PRODUCER = "animegan.convert"
PRODUCER_VERSION = "1"
"""Recorded in every file; bump when the translation changes its output."""

NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)
Array = npt.NDArray[Any]


@dataclass(frozen=True)
class _Value:
    """A runtime tensor: its ONNX name, rank, and whether a 4-D tensor is stored NCHW (TF order is NHWC)."""

    name: str
    rank: int | None
    nchw: bool = False


def to_onnx(graph: TfGraph) -> onnx.ModelProto:
    """The ONNX model computing ``graph``'s outputs from its inputs (see the module docstring).

    Raises WeightsError (naming ``graph.source`` and the op) for an unsupported op or attribute, a
    missing tensor, or a graph onnx.checker rejects.
    """
    return _Translator(graph).run()


class _Translator:
    def __init__(self, graph: TfGraph) -> None:
        self.graph = graph
        self.consts: dict[str, Constant] = dict(graph.constants)
        self.values: dict[str, _Value] = {}
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.names: set[str] = set()
        self.emitted: dict[tuple[Any, ...], str] = {}
        self.decoded = 0

    # ---- driver --------------------------------------------------------------------------------

    def run(self) -> onnx.ModelProto:
        ops = self._ordered_ops()
        self.names.update(name for _, name in self.graph.outputs)  # reserved for the final nodes
        inputs = []
        for spec in self.graph.inputs:
            dims = [d if d is not None else ("batch", "height", "width", "channels")[i] if len(spec.shape) == 4 else f"d{i}"
                    for i, d in enumerate(spec.shape)]
            inputs.append(helper.make_tensor_value_info(spec.name, TensorProto.FLOAT, dims))
            self.names.add(spec.name)
            self.values[spec.ref] = _Value(spec.name, len(spec.shape))
        for op in ops:
            handler = _HANDLERS.get(op.op)
            if handler is None:
                raise WeightsError(f"{self.graph.source}: TensorFlow op {op.op!r} (node {op.name!r}) is not supported "
                                   f"by the converter")
            if all(ref in self.consts for ref in op.inputs) and op.op in _FOLDABLE:
                self._fold(op)
            else:
                handler(self, op)
        outputs = []
        for ref, name in self.graph.outputs:
            value = self._nhwc(self._value(ref, "graph output"))
            self.nodes.append(helper.make_node("Identity", [value.name], [name], name=f"{name}/output"))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None] * (value.rank or 0)))
        graph = helper.make_graph(self.nodes, "graph", inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                                  producer_name=PRODUCER, producer_version=PRODUCER_VERSION)
        _drop_identities(model)
        try:
            onnx.checker.check_model(model, full_check=True)
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
            raise WeightsError(f"{self.graph.source}: the translated ONNX graph is invalid: {err}") from err
        for declared, found in zip(model.graph.output, inferred.graph.output, strict=True):
            declared.type.CopyFrom(found.type)  # static output sizes where the graph fixes them
            for dim in declared.type.tensor_type.shape.dim:
                if dim.dim_param.startswith("unk__"):  # inference's placeholder names say nothing
                    dim.ClearField("dim_param")
        return model

    def _ordered_ops(self) -> list[TfOp]:
        """The ops the outputs depend on, in a deterministic topological order (depth-first from the outputs)."""
        producer = {out: op for op in self.graph.ops for out in op.outputs}
        known = set(self.consts) | {i.ref for i in self.graph.inputs}
        order: list[TfOp] = []
        state: dict[str, int] = {}  # 1: inputs being visited, 2: placed

        def dependency(ref: str) -> TfOp | None:
            op = producer.get(ref)
            if op is None and ref not in known:
                raise WeightsError(f"{self.graph.source}: tensor {ref!r} is used but never produced")
            if op is not None and state.get(op.name) == 1:
                raise WeightsError(f"{self.graph.source}: the graph has a cycle through {op.name!r}")
            return op if op is not None and state.get(op.name) != 2 else None

        for ref, _ in self.graph.outputs:
            root = dependency(ref)
            stack = [(root, 0)] if root is not None else []
            while stack:
                op, i = stack.pop()
                if i == 0:
                    if state.get(op.name) == 2:
                        continue
                    state[op.name] = 1
                if i < len(op.inputs):
                    stack.append((op, i + 1))
                    dep = dependency(op.inputs[i])
                    if dep is not None:
                        stack.append((dep, 0))
                else:
                    state[op.name] = 2
                    order.append(op)
        return order

    # ---- ONNX building blocks ------------------------------------------------------------------

    def _unique(self, name: str) -> str:
        out, n = name, 1
        while out in self.names:
            out = f"{name}_{n}"
            n += 1
        self.names.add(out)
        return out

    def _node(self, op_type: str, inputs: Sequence[str], name: str, **attrs: Any) -> str:
        """Append one node; returns the name of its (single) output."""
        out = self._unique(name)
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def _initializer(self, array: Array, name: str) -> str:
        out = self._unique(name)
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), out))
        return out

    def _materialize(self, ref: str, const: Constant, layout: str = "") -> str:
        """An ONNX tensor holding ``const`` (uint8/fp16 stored compactly, decoded by Cast → Mul → Add nodes)."""
        key = (ref, layout)
        if key in self.emitted:
            return self.emitted[key]
        base = ref + layout
        if const.kind == "plain":
            stored = const.stored
            if stored.dtype == np.int32:
                stored = stored.astype(np.int64)
            elif stored.dtype == np.float64:
                stored = stored.astype(np.float32)
            name = self._initializer(stored, base)
        else:  # compact storage, decoded in the graph; short helper names keep the file small
            tag = f"dq{self.decoded}"
            self.decoded += 1
            if const.kind == "float16":
                name = self._node("Cast", [self._initializer(const.stored, f"{tag}/f16")], base, to=TensorProto.FLOAT)
            else:
                q = self._initializer(const.stored, f"{tag}/u8")
                scale = self._initializer(np.array(const.scale, np.float32), f"{tag}/scale")
                offset = self._initializer(np.array(const.offset, np.float32), f"{tag}/min")
                f = self._node("Cast", [q], f"{tag}/f", to=TensorProto.FLOAT)
                name = self._node("Add", [self._node("Mul", [f, scale], f"{tag}/m"), offset], base)
        self.emitted[key] = name
        return name

    def _int64(self, values: Iterable[int], name: str) -> str:
        array = np.array(list(values), np.int64)
        key = ("int64", tuple(array.tolist()))
        if key not in self.emitted:
            self.emitted[key] = self._initializer(array, name)
        return self.emitted[key]

    # ---- values --------------------------------------------------------------------------------

    def _value(self, ref: str, op_name: str) -> _Value:
        """The runtime value of ``ref``; constants become initializers (TF layout)."""
        value = self.values.get(ref)
        if value is not None:
            return value
        const = self.consts.get(ref)
        if const is None:
            raise WeightsError(f"{self.graph.source}: node {op_name!r} reads {ref!r}, which is not computed before it")
        return _Value(self._materialize(ref, const), const.stored.ndim)

    def _const(self, ref: str, op: TfOp, what: str) -> Array:
        const = self.consts.get(ref)
        if const is None:
            raise WeightsError(f"{self.graph.source}: {op.op} node {op.name!r} needs a constant {what}; "
                               f"a computed one is not supported")
        return const.value()

    def _nchw(self, value: _Value) -> _Value:
        if value.nchw:
            return value
        if value.rank != 4:
            raise WeightsError(f"{self.graph.source}: tensor {value.name!r} should be 4-D (NHWC) but has rank {value.rank}")
        return self._transposed(value, NHWC_TO_NCHW, True)

    def _nhwc(self, value: _Value) -> _Value:
        return self._transposed(value, NCHW_TO_NHWC, False) if value.nchw else value

    def _transposed(self, value: _Value, perm: tuple[int, ...], nchw: bool) -> _Value:
        key = ("transpose", value.name, perm)
        if key not in self.emitted:
            self.emitted[key] = self._node("Transpose", [value.name], f"{value.name}/{'nchw' if nchw else 'nhwc'}",
                                           perm=list(perm))
        return _Value(self.emitted[key], 4, nchw)

    def _set(self, op: TfOp, name: str, rank: int | None, nchw: bool = False) -> None:
        self.values[op.outputs[0]] = _Value(name, rank, nchw)

    def _out(self, op: TfOp) -> str:
        """The ONNX name of ``op``'s main output (its TensorFlow reference)."""
        return op.outputs[0]

    # ---- folding -------------------------------------------------------------------------------

    def _fold(self, op: TfOp) -> None:
        args = [self.consts[ref].value() for ref in op.inputs]
        try:
            result = _FOLDABLE[op.op](args, op.attrs)
        except (ValueError, IndexError, TypeError) as err:
            raise WeightsError(f"{self.graph.source}: cannot evaluate constant {op.op} node {op.name!r}: {err}") from err
        self.consts[op.outputs[0]] = Constant(np.asarray(result))

    # ---- elementwise ---------------------------------------------------------------------------

    def _operands(self, op: TfOp) -> tuple[list[str], int | None, bool]:
        """ONNX names of ``op``'s operands in one layout: NCHW if a runtime operand is a 4-D NCHW tensor and
        every other operand can follow it, else TF order. Returns the names, the result's rank, and the layout."""
        runtime = [self.values.get(ref) for ref in op.inputs]
        ranks = [v.rank if v is not None else self.consts[ref].stored.ndim for v, ref in zip(runtime, op.inputs, strict=True)]
        known = [r for r in ranks if r is not None]
        rank = max(known) if len(known) == len(ranks) else None
        nchw = any(v is not None and v.nchw for v in runtime) and all(
            v is None or v.rank == 4 for v in runtime) and rank == 4
        names = []
        for ref, value in zip(op.inputs, runtime, strict=True):
            if value is not None:
                names.append(self._nchw(value).name if nchw else self._nhwc(value).name)
                continue
            const = self.consts.get(ref)
            if const is None:
                raise WeightsError(f"{self.graph.source}: node {op.name!r} reads {ref!r}, which is not computed before it")
            if nchw and const.stored.ndim > 0:
                lifted = const.reshaped(lambda a: a.reshape((1,) * (4 - a.ndim) + a.shape).transpose(NHWC_TO_NCHW))
                names.append(self._materialize(ref, lifted, "/nchw"))
            else:
                names.append(self._materialize(ref, const))
        return names, rank, nchw

    def _elementwise(self, op: TfOp, onnx_op: str) -> None:
        names, rank, nchw = self._operands(op)
        self._set(op, self._node(onnx_op, names, self._out(op)), rank, nchw)

    def _unary(self, op: TfOp, onnx_op: str, **attrs: Any) -> None:
        value = self._value(op.inputs[0], op.name)
        self._set(op, self._node(onnx_op, [value.name], self._out(op), **attrs), value.rank, value.nchw)

    def _alias(self, op: TfOp) -> None:
        self.values[op.outputs[0]] = self._value(op.inputs[0], op.name)

    def _squared_difference(self, op: TfOp) -> None:
        names, rank, nchw = self._operands(op)
        diff = self._node("Sub", names, f"{self._out(op)}/diff")
        self._set(op, self._node("Mul", [diff, diff], self._out(op)), rank, nchw)

    def _rsqrt(self, op: TfOp) -> None:
        value = self._value(op.inputs[0], op.name)
        root = self._node("Sqrt", [value.name], f"{self._out(op)}/sqrt")
        self._set(op, self._node("Reciprocal", [root], self._out(op)), value.rank, value.nchw)

    def _square(self, op: TfOp) -> None:
        value = self._value(op.inputs[0], op.name)
        self._set(op, self._node("Mul", [value.name, value.name], self._out(op)), value.rank, value.nchw)

    def _leaky_relu(self, op: TfOp) -> None:
        self._unary(op, "LeakyRelu", alpha=float(op.attrs.get("alpha", 0.2)))

    # ---- convolution ---------------------------------------------------------------------------

    def _conv(self, op: TfOp) -> None:
        if op.attrs.get("data_format", b"NHWC") != b"NHWC":
            raise WeightsError(f"{self.graph.source}: {op.op} node {op.name!r} uses data_format "
                               f"{op.attrs['data_format']!r}; only NHWC is supported")
        depthwise = "Depthwise" in op.op
        fused = [bytes(s) for s in op.attrs.get("fused_ops", [])]
        if fused not in ([], [b"BiasAdd"]) or int(op.attrs.get("num_args", 1)) != 1:
            raise WeightsError(f"{self.graph.source}: {op.op} node {op.name!r} fuses {fused}; only a BiasAdd is supported")
        x = self._nchw(self._value(op.inputs[0], op.name))
        filter_ref = op.inputs[1]
        const = self.consts.get(filter_ref)
        if const is None or const.stored.ndim != 4:
            raise WeightsError(f"{self.graph.source}: {op.op} node {op.name!r} needs a constant 4-D filter")
        h, w, cin, cout = const.stored.shape
        if depthwise:
            weight = const.reshaped(lambda a: a.reshape(h, w, cin * cout, 1).transpose(2, 3, 0, 1))
            group = cin
        else:
            weight = const.reshaped(lambda a: a.transpose(3, 2, 0, 1))
            group = 1
        inputs = [x.name, self._materialize(filter_ref, weight, "/oihw")]
        if fused:
            bias = self.consts.get(op.inputs[2])
            if bias is None:
                raise WeightsError(f"{self.graph.source}: {op.op} node {op.name!r} needs a constant bias")
            inputs.append(self._materialize(op.inputs[2], bias))
        attrs: dict[str, Any] = {"kernel_shape": [h, w], "group": group,
                                 "strides": _spatial(op.attrs.get("strides", [1, 1, 1, 1])),
                                 "dilations": _spatial(op.attrs.get("dilations", [1, 1, 1, 1]))}
        padding = op.attrs.get("padding", b"VALID")
        if padding == b"SAME":
            attrs["auto_pad"] = "SAME_UPPER"  # TF puts the odd pixel of SAME padding at the end, like SAME_UPPER
        elif padding != b"VALID":
            raise WeightsError(f"{self.graph.source}: {op.op} node {op.name!r} has padding {padding!r}; "
                               f"only SAME and VALID are supported")
        self._set(op, self._node("Conv", inputs, self._out(op), **attrs), 4, True)

    # ---- spatial ops ---------------------------------------------------------------------------

    def _mirror_pad(self, op: TfOp) -> None:
        mode = op.attrs.get("mode", b"REFLECT")
        if mode != b"REFLECT":
            raise WeightsError(f"{self.graph.source}: MirrorPad node {op.name!r} has mode {mode!r}; only REFLECT "
                               f"is supported (ONNX Pad has no symmetric mode)")
        pads = self._const(op.inputs[1], op, "paddings").astype(np.int64)
        value = self._value(op.inputs[0], op.name)
        if not pads.any():
            self.values[op.outputs[0]] = value
            return
        if pads.shape != (4, 2):
            raise WeightsError(f"{self.graph.source}: MirrorPad node {op.name!r} pads a rank-{len(pads)} tensor; "
                               f"only 4-D images are supported")
        x = self._nchw(value)
        order = pads[list(NHWC_TO_NCHW)]
        pad_input = self._int64([*order[:, 0], *order[:, 1]], f"{op.name}/pads")
        self._set(op, self._node("Pad", [x.name, pad_input], self._out(op), mode="reflect"), 4, True)

    def _resize_bilinear(self, op: TfOp) -> None:
        corners, half = bool(op.attrs.get("align_corners", False)), bool(op.attrs.get("half_pixel_centers", False))
        if corners and half:
            raise WeightsError(f"{self.graph.source}: ResizeBilinear node {op.name!r} sets both align_corners and "
                               f"half_pixel_centers")
        mode = "align_corners" if corners else "half_pixel" if half else "asymmetric"
        x = self._nchw(self._value(op.inputs[0], op.name))
        size = self._value(op.inputs[1], op.name).name
        shape = self._node("Shape", [x.name], f"{op.name}/shape")
        batch_channels = self._node("Slice", [shape, self._int64([0], "zero"), self._int64([2], "two")],
                                    f"{op.name}/batch_channels")
        sizes = self._node("Concat", [batch_channels, size], f"{op.name}/sizes", axis=0)
        out = self._node("Resize", [x.name, "", "", sizes], self._out(op), mode="linear",
                         coordinate_transformation_mode=mode, nearest_mode="floor")
        self._set(op, out, 4, True)

    def _reduce(self, op: TfOp, onnx_op: str) -> None:
        axes = [int(a) for a in np.atleast_1d(self._const(op.inputs[1], op, "reduction axes"))]
        keep = bool(op.attrs.get("keep_dims", False))
        value = self._value(op.inputs[0], op.name)
        rank = value.rank
        if rank is None:
            raise WeightsError(f"{self.graph.source}: {op.op} node {op.name!r} reduces a tensor of unknown rank")
        axes = sorted(a % rank for a in axes)
        if value.nchw and keep:
            physical = sorted(NHWC_TO_NCHW.index(a) for a in axes)
            if onnx_op == "ReduceMean" and physical == [2, 3]:
                self._set(op, self._node("GlobalAveragePool", [value.name], self._out(op)), 4, True)
                return
            self._set(op, self._reduce_node(onnx_op, value.name, physical, keep, op), 4, True)
            return
        value = self._nhwc(value)
        out_rank = rank if keep else rank - len(axes)
        self._set(op, self._reduce_node(onnx_op, value.name, axes, keep, op), out_rank)

    def _reduce_node(self, onnx_op: str, x: str, axes: list[int], keep: bool, op: TfOp) -> str:
        if onnx_op == "ReduceMean":  # opset 17: axes are an attribute of ReduceMean, an input of ReduceSum
            return self._node(onnx_op, [x], self._out(op), axes=axes, keepdims=int(keep))
        return self._node(onnx_op, [x, self._int64(axes, f"{op.name}/axes")], self._out(op), keepdims=int(keep))

    def _softmax(self, op: TfOp) -> None:
        value = self._value(op.inputs[0], op.name)
        if float(op.attrs.get("beta", 1.0)) != 1.0:
            raise WeightsError(f"{self.graph.source}: Softmax node {op.name!r} has beta {op.attrs['beta']}; only 1 is supported")
        axis = 1 if value.nchw else -1
        self._set(op, self._node("Softmax", [value.name], self._out(op), axis=axis), value.rank, value.nchw)

    # ---- shape and memory-order ops (TF order) -------------------------------------------------

    def _tf_order(self, ref: str, op: TfOp) -> _Value:
        return self._nhwc(self._value(ref, op.name))

    def _shape(self, op: TfOp) -> None:
        value = self._value(op.inputs[0], op.name)
        shape = self._node("Shape", [value.name], f"{self._out(op)}/nchw" if value.nchw else self._out(op))
        if value.nchw:
            shape = self._node("Gather", [shape, self._int64(NCHW_TO_NHWC, "nchw_to_nhwc")], self._out(op), axis=0)
        self._set(op, shape, 1)

    def _strided_slice(self, op: TfOp) -> None:
        for mask in ("ellipsis_mask", "new_axis_mask"):
            if int(op.attrs.get(mask, 0)):
                raise WeightsError(f"{self.graph.source}: StridedSlice node {op.name!r} uses {mask}; not supported")
        value = self._tf_order(op.inputs[0], op)
        begin, end, strides = (self._const(r, op, "slice bound").astype(np.int64) for r in op.inputs[1:4])
        begin_mask, end_mask = int(op.attrs.get("begin_mask", 0)), int(op.attrs.get("end_mask", 0))
        shrink = int(op.attrs.get("shrink_axis_mask", 0))
        starts, ends, axes, steps, squeeze = [], [], [], [], []
        big = np.iinfo(np.int64).max
        for axis, (b, e, s) in enumerate(zip(begin, end, strides, strict=True)):
            if shrink >> axis & 1:
                starts.append(int(b))
                ends.append(int(b) + 1 if b != -1 else big)
                steps.append(1)
                squeeze.append(axis)
            else:
                starts.append((0 if s > 0 else big) if begin_mask >> axis & 1 else int(b))
                ends.append((big if s > 0 else -big) if end_mask >> axis & 1 else int(e))
                steps.append(int(s))
            axes.append(axis)
        name = self._out(op)
        sliced = self._node("Slice", [value.name, self._int64(starts, f"{op.name}/starts"), self._int64(ends, f"{op.name}/ends"),
                                      self._int64(axes, f"{op.name}/axes"), self._int64(steps, f"{op.name}/steps")],
                            f"{name}/slice" if squeeze else name)
        if squeeze:
            sliced = self._node("Squeeze", [sliced, self._int64(squeeze, f"{op.name}/squeeze")], name)
        rank = None if value.rank is None else value.rank - len(squeeze)
        self._set(op, sliced, rank)

    def _pack(self, op: TfOp) -> None:
        axis = int(op.attrs.get("axis", 0))
        parts = []
        for ref in op.inputs:
            if ref in self.consts:
                parts.append(self._materialize(ref, self.consts[ref].reshaped(lambda a: np.expand_dims(a, axis)), "/packed"))
            else:
                value = self._tf_order(ref, op)
                parts.append(self._node("Unsqueeze", [value.name, self._int64([axis], "axes_0" if axis == 0 else f"axes_{axis}")],
                                        f"{op.name}/{len(parts)}"))
        rank = self._rank(op.inputs[0])
        self._set(op, self._node("Concat", parts, self._out(op), axis=axis), None if rank is None else rank + 1)

    def _concat(self, op: TfOp) -> None:
        axis = int(self._const(op.inputs[-1], op, "axis"))
        parts = [self._tf_order(ref, op).name for ref in op.inputs[:-1]]
        self._set(op, self._node("Concat", parts, self._out(op), axis=axis), self._rank(op.inputs[0]))

    def _fill(self, op: TfOp) -> None:
        dims = self._value(op.inputs[0], op.name)
        value = self._value(op.inputs[1], op.name)
        rank = self._static_length(op.inputs[0])
        if rank == 4:  # build the filled image directly in NCHW
            dims = _Value(self._node("Gather", [dims.name, self._int64(NHWC_TO_NCHW, "nhwc_to_nchw")],
                                     f"{op.name}/nchw_dims", axis=0), 1)
        self._set(op, self._node("Expand", [value.name, dims.name], self._out(op)), rank, rank == 4)

    def _reshape(self, op: TfOp) -> None:
        value = self._tf_order(op.inputs[0], op)
        shape = self._value(op.inputs[1], op.name)
        self._set(op, self._node("Reshape", [value.name, shape.name], self._out(op)), self._static_length(op.inputs[1]))

    def _expand_dims(self, op: TfOp) -> None:
        value = self._tf_order(op.inputs[0], op)
        axis = int(self._const(op.inputs[1], op, "axis"))
        rank = None if value.rank is None else value.rank + 1
        if axis < 0 and rank is not None:
            axis += rank
        self._set(op, self._node("Unsqueeze", [value.name, self._int64([axis], f"{op.name}/axis")], self._out(op)), rank)

    def _squeeze(self, op: TfOp) -> None:
        value = self._tf_order(op.inputs[0], op)
        dims = [int(d) for d in op.attrs.get("squeeze_dims", [])]
        if not dims or value.rank is None:
            raise WeightsError(f"{self.graph.source}: Squeeze node {op.name!r} needs explicit squeeze_dims and a known rank")
        dims = sorted(d % value.rank for d in dims)
        out = self._node("Squeeze", [value.name, self._int64(dims, f"{op.name}/axes")], self._out(op))
        self._set(op, out, value.rank - len(dims))

    def _transpose(self, op: TfOp) -> None:
        value = self._tf_order(op.inputs[0], op)
        perm = [int(p) for p in self._const(op.inputs[1], op, "permutation")]
        self._set(op, self._node("Transpose", [value.name], self._out(op), perm=perm), value.rank)

    def _floor_div(self, op: TfOp) -> None:
        names, rank, _ = self._operands(op)
        self._set(op, self._node("Div", names, self._out(op)), rank)  # non-negative sizes: truncation is floor

    def _constant_only(self, op: TfOp) -> None:
        raise WeightsError(f"{self.graph.source}: {op.op} node {op.name!r} has computed inputs; only a constant "
                           f"{op.op} is supported")

    def _rank(self, ref: str) -> int | None:
        value = self.values.get(ref)
        return value.rank if value is not None else self.consts[ref].stored.ndim if ref in self.consts else None

    def _static_length(self, ref: str) -> int | None:
        """The length of a 1-D shape vector, when the graph fixes it (a constant or a Pack of N scalars)."""
        if ref in self.consts:
            return int(self.consts[ref].stored.size)
        for op in self.graph.ops:
            if ref in op.outputs and op.op == "Pack":
                return len(op.inputs)
        return None


def _spatial(values: Sequence[int]) -> list[int]:
    """NHWC strides or dilations → the [H, W] pair ONNX wants."""
    return [int(values[1]), int(values[2])]


def _drop_identities(model: onnx.ModelProto) -> None:
    """Rename away the Identity nodes that give graph outputs their names, where the value has one producer
    and no other consumer (so the output is the producing node's own result)."""
    graph = model.graph
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    producer = {out: node for node in graph.node for out in node.output}
    inputs = {i.name for i in graph.input}
    keep = []
    for node in graph.node:
        source = node.input[0] if node.op_type == "Identity" and node.name.endswith("/output") else None
        if source is not None and source in producer and source not in inputs and consumers.get(source) == 1:
            prod = producer[source]
            prod.output[list(prod.output).index(source)] = node.output[0]
            continue
        keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)


def _fold_strided_slice(args: list[Array], attrs: Mapping[str, Any]) -> Array:
    x, begin, end, strides = args
    if int(attrs.get("ellipsis_mask", 0)) or int(attrs.get("new_axis_mask", 0)):
        raise ValueError("ellipsis_mask / new_axis_mask are not supported")
    index: list[Any] = []
    for axis, (b, e, s) in enumerate(zip(begin, end, strides, strict=True)):
        if int(attrs.get("shrink_axis_mask", 0)) >> axis & 1:
            index.append(int(b))
        else:
            index.append(slice(None if int(attrs.get("begin_mask", 0)) >> axis & 1 else int(b),
                               None if int(attrs.get("end_mask", 0)) >> axis & 1 else int(e), int(s)))
    return np.asarray(x[tuple(index)])


_FOLDABLE: dict[str, Callable[[list[Array], Mapping[str, Any]], Array]] = {
    "Identity": lambda a, _: a[0],
    "StopGradient": lambda a, _: a[0],
    "ExpandDims": lambda a, _: np.expand_dims(a[0], int(a[1])),
    "Squeeze": lambda a, at: np.squeeze(a[0], axis=tuple(int(d) for d in at.get("squeeze_dims", [])) or None),
    "Transpose": lambda a, _: np.transpose(a[0], [int(p) for p in a[1]]),
    "Reshape": lambda a, _: np.reshape(a[0], [int(d) for d in a[1]]),
    "Range": lambda a, _: np.arange(a[0], a[1], a[2]).astype(a[0].dtype),  # type: ignore[call-overload]  # 0-d arrays work too
    "Pack": lambda a, at: np.stack(a, axis=int(at.get("axis", 0))),
    "ConcatV2": lambda a, _: np.concatenate(a[:-1], axis=int(a[-1])),
    "Sub": lambda a, _: np.subtract(a[0], a[1]),
    "AddV2": lambda a, _: np.add(a[0], a[1]),
    "Add": lambda a, _: np.add(a[0], a[1]),
    "Mul": lambda a, _: np.multiply(a[0], a[1]),
    "FloorDiv": lambda a, _: np.floor_divide(a[0], a[1]),
    "StridedSlice": _fold_strided_slice,
}
"""Ops evaluated in numpy when every input is a constant (kernel reads and reshapes, rank arithmetic)."""


_HANDLERS: dict[str, Callable[[_Translator, TfOp], None]] = {
    "Identity": _Translator._alias,
    "StopGradient": _Translator._alias,
    "AddV2": lambda t, op: t._elementwise(op, "Add"),
    "Add": lambda t, op: t._elementwise(op, "Add"),
    "Sub": lambda t, op: t._elementwise(op, "Sub"),
    "Mul": lambda t, op: t._elementwise(op, "Mul"),
    "RealDiv": lambda t, op: t._elementwise(op, "Div"),
    "FloorDiv": _Translator._floor_div,
    "SquaredDifference": _Translator._squared_difference,
    "Square": _Translator._square,
    "Sqrt": lambda t, op: t._unary(op, "Sqrt"),
    "Rsqrt": _Translator._rsqrt,
    "Tanh": lambda t, op: t._unary(op, "Tanh"),
    "LeakyRelu": _Translator._leaky_relu,
    "Conv2D": _Translator._conv,
    "_FusedConv2D": _Translator._conv,
    "DepthwiseConv2dNative": _Translator._conv,
    "MirrorPad": _Translator._mirror_pad,
    "ResizeBilinear": _Translator._resize_bilinear,
    "Mean": lambda t, op: t._reduce(op, "ReduceMean"),
    "Sum": lambda t, op: t._reduce(op, "ReduceSum"),
    "Softmax": _Translator._softmax,
    "Shape": _Translator._shape,
    "StridedSlice": _Translator._strided_slice,
    "Pack": _Translator._pack,
    "ConcatV2": _Translator._concat,
    "Fill": _Translator._fill,
    "Reshape": _Translator._reshape,
    "ExpandDims": _Translator._expand_dims,
    "Squeeze": _Translator._squeeze,
    "Transpose": _Translator._transpose,
    "Range": _Translator._constant_only,
}
"""Every supported TensorFlow op and its translation."""

