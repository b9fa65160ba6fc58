"""The subset of TensorFlow's ``GraphDef`` protobuf that frozen graphs and tfjs topologies use.

The messages are declared here with ``descriptor_pb2`` (field numbers and names as in TensorFlow's
``graph.proto``, ``node_def.proto``, ``attr_value.proto``, ``tensor.proto``, ``tensor_shape.proto`` and
``types.proto``), so a binary ``.pb`` parses with protobuf and a tfjs ``modelTopology`` (the same message in
protobuf's JSON form) parses with ``json_format``; no TensorFlow needed. Fields left out are skipped when
parsing (protobuf keeps unknown fields aside and they are never read). :func:`read_graph` turns a parsed
graph into the :class:`~.ir.TfGraph` that :mod:`.tf_graph` translates.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message, message_factory

from ..errors import WeightsError
from .ir import Constant, TfGraph, TfInput, TfOp

DATA_TYPES = {
    "DT_INVALID": 0, "DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5, "DT_INT8": 6,
    "DT_STRING": 7, "DT_COMPLEX64": 8, "DT_INT64": 9, "DT_BOOL": 10, "DT_QINT8": 11, "DT_QUINT8": 12,
    "DT_QINT32": 13, "DT_BFLOAT16": 14, "DT_QINT16": 15, "DT_QUINT16": 16, "DT_UINT16": 17, "DT_COMPLEX128": 18,
    "DT_HALF": 19, "DT_RESOURCE": 20, "DT_VARIANT": 21, "DT_UINT32": 22, "DT_UINT64": 23,
}
"""TensorFlow's ``DataType`` enum (``types.proto``), without the ``_REF`` variants."""
NUMPY_TYPES: dict[int, type[np.generic]] = {
    1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64, 10: np.bool_,
    17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64,
}
"""The numeric DataTypes as numpy types (the others never hold weights)."""

_F = descriptor_pb2.FieldDescriptorProto
_MESSAGES: dict[str, list[tuple[str, int, _F.Type.ValueType, bool, str | None]]] = {
    # message: [(field, number, type, repeated, type name for messages/enums)]
    "TensorShapeProto.Dim": [("size", 1, _F.TYPE_INT64, False, None), ("name", 2, _F.TYPE_STRING, False, None)],
    "TensorShapeProto": [("dim", 2, _F.TYPE_MESSAGE, True, "TensorShapeProto.Dim"),
                         ("unknown_rank", 3, _F.TYPE_BOOL, False, None)],
    "TensorProto": [
        ("dtype", 1, _F.TYPE_ENUM, False, "DataType"), ("tensor_shape", 2, _F.TYPE_MESSAGE, False, "TensorShapeProto"),
        ("version_number", 3, _F.TYPE_INT32, False, None), ("tensor_content", 4, _F.TYPE_BYTES, False, None),
        ("float_val", 5, _F.TYPE_FLOAT, True, None), ("double_val", 6, _F.TYPE_DOUBLE, True, None),
        ("int_val", 7, _F.TYPE_INT32, True, None), ("string_val", 8, _F.TYPE_BYTES, True, None),
        ("int64_val", 10, _F.TYPE_INT64, True, None), ("bool_val", 11, _F.TYPE_BOOL, True, None),
        ("half_val", 13, _F.TYPE_INT32, True, None), ("uint32_val", 16, _F.TYPE_UINT32, True, None),
        ("uint64_val", 17, _F.TYPE_UINT64, True, None),
    ],
    "NameAttrList": [("name", 1, _F.TYPE_STRING, False, None)],
    "AttrValue.ListValue": [
        ("s", 2, _F.TYPE_BYTES, True, None), ("i", 3, _F.TYPE_INT64, True, None), ("f", 4, _F.TYPE_FLOAT, True, None),
        ("b", 5, _F.TYPE_BOOL, True, None), ("type", 6, _F.TYPE_ENUM, True, "DataType"),
        ("shape", 7, _F.TYPE_MESSAGE, True, "TensorShapeProto"), ("tensor", 8, _F.TYPE_MESSAGE, True, "TensorProto"),
    ],
    "AttrValue": [
        ("list", 1, _F.TYPE_MESSAGE, False, "AttrValue.ListValue"), ("s", 2, _F.TYPE_BYTES, False, None),
        ("i", 3, _F.TYPE_INT64, False, None), ("f", 4, _F.TYPE_FLOAT, False, None), ("b", 5, _F.TYPE_BOOL, False, None),
        ("type", 6, _F.TYPE_ENUM, False, "DataType"), ("shape", 7, _F.TYPE_MESSAGE, False, "TensorShapeProto"),
        ("tensor", 8, _F.TYPE_MESSAGE, False, "TensorProto"), ("placeholder", 9, _F.TYPE_STRING, False, None),
        ("func", 10, _F.TYPE_MESSAGE, False, "NameAttrList"),
    ],
    "NodeDef.AttrEntry": [("key", 1, _F.TYPE_STRING, False, None), ("value", 2, _F.TYPE_MESSAGE, False, "AttrValue")],
    "NodeDef": [("name", 1, _F.TYPE_STRING, False, None), ("op", 2, _F.TYPE_STRING, False, None),
                ("input", 3, _F.TYPE_STRING, True, None), ("device", 4, _F.TYPE_STRING, False, None),
                ("attr", 5, _F.TYPE_MESSAGE, True, "NodeDef.AttrEntry")],
    "VersionDef": [("producer", 1, _F.TYPE_INT32, False, None), ("min_consumer", 2, _F.TYPE_INT32, False, None)],
    "GraphDef": [("node", 1, _F.TYPE_MESSAGE, True, "NodeDef"), ("version", 3, _F.TYPE_INT32, False, None),
                 ("versions", 4, _F.TYPE_MESSAGE, False, "VersionDef")],
}
_ONEOF = {"AttrValue": {"list", "s", "i", "f", "b", "type", "shape", "tensor", "placeholder", "func"}}
_PACKAGE = "animegan_tf"


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(name="animegan_tf_graph.proto", package=_PACKAGE, syntax="proto3")
    fdp.enum_type.add(name="DataType").value.extend(
        descriptor_pb2.EnumValueDescriptorProto(name=k, number=v) for k, v in DATA_TYPES.items())
    built: dict[str, descriptor_pb2.DescriptorProto] = {}
    for full in sorted(_MESSAGES, key=lambda n: n.count(".")):  # parents before the messages nested in them
        parent, _, name = full.rpartition(".")
        msg = (built[parent].nested_type.add(name=name) if parent else fdp.message_type.add(name=name))
        built[full] = msg
        if full == "NodeDef.AttrEntry":
            msg.options.map_entry = True
        oneof = _ONEOF.get(full)
        if oneof:
            msg.oneof_decl.add(name="value")
        for field, number, ftype, repeated, type_name in _MESSAGES[full]:
            f = msg.field.add(name=field, number=number, type=ftype,
                              label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
            if type_name:
                f.type_name = f".{_PACKAGE}.{type_name}"
            if oneof and field in oneof:
                f.oneof_index = 0
    return fdp


@functools.cache
def _classes() -> dict[str, type[message.Message]]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
            for name in ("GraphDef", "NodeDef", "AttrValue", "TensorProto")}


def parse_graph_def(data: bytes, source: str) -> Any:
    """A binary ``GraphDef`` (a frozen ``.pb``) as a message. Raises WeightsError naming ``source``."""
    graph: Any = _classes()["GraphDef"]()  # built from a runtime descriptor: its fields are not known statically
    try:
        graph.ParseFromString(data)
    except message.DecodeError as err:
        raise WeightsError(f"{source} is not a TensorFlow GraphDef (protobuf decoding failed: {err})") from err
    if not graph.node:
        raise WeightsError(f"{source} holds no TensorFlow graph nodes (empty or not a GraphDef)")
    return graph


def graph_def_from_json(topology: dict[str, Any], source: str) -> Any:
    """A ``GraphDef`` from its protobuf-JSON form (a tfjs ``modelTopology``). Raises WeightsError naming ``source``."""
    graph: Any = _classes()["GraphDef"]()  # as in parse_graph_def
    try:
        json_format.ParseDict(topology, graph, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as err:
        raise WeightsError(f"{source}: modelTopology is not a TensorFlow graph ({err})") from err
    if not graph.node:
        raise WeightsError(f"{source}: modelTopology has no nodes")
    return graph


def tensor_value(tensor: Any, where: str) -> npt.NDArray[Any]:
    """The value of a ``TensorProto`` (``tensor_content`` bytes, or a typed value list, broadcast if short).

    Raises WeightsError naming ``where`` for an unsupported dtype or a size that does not fit the shape.
    """
    np_type = NUMPY_TYPES.get(tensor.dtype)
    if np_type is None:
        raise WeightsError(f"{where}: tensors of TensorFlow dtype {tensor.dtype} are not supported")
    shape = tuple(int(d.size) for d in tensor.tensor_shape.dim)
    count = int(np.prod(shape, dtype=np.int64))
    dtype = np.dtype(np_type).newbyteorder("<")
    if tensor.tensor_content:
        if len(tensor.tensor_content) != count * dtype.itemsize:
            raise WeightsError(f"{where}: tensor holds {len(tensor.tensor_content)} bytes, shape {list(shape)} needs "
                               f"{count * dtype.itemsize}")
        return np.frombuffer(tensor.tensor_content, dtype=dtype).astype(np_type).reshape(shape)
    values: Any
    if np_type is np.float16:
        values = np.array(tensor.half_val, np.uint16).view(np.float16)
    else:
        field = {np.float32: "float_val", np.float64: "double_val", np.int64: "int64_val", np.bool_: "bool_val",
                 np.uint32: "uint32_val", np.uint64: "uint64_val"}.get(np_type, "int_val")
        values = np.array(getattr(tensor, field), np_type)
    if values.size == count:
        return values.reshape(shape)
    if 0 < values.size < count:  # TensorFlow leaves out trailing repeats of the last value
        out = np.empty(count, np_type)
        out[:values.size] = values
        out[values.size:] = values[-1]
        return out.reshape(shape)
    raise WeightsError(f"{where}: tensor holds {values.size} values, shape {list(shape)} needs {count}")


def attr_value(attr: Any) -> Any:
    """An ``AttrValue`` as a plain Python value: bytes, int, float, bool, dtype number, shape list, tensor
    message or a list of those."""
    kind = attr.WhichOneof("value")
    if kind is None:
        return None
    if kind == "list":
        lst = attr.list
        for name in ("s", "i", "f", "b", "type"):
            if len(getattr(lst, name)):
                return list(getattr(lst, name))
        if len(lst.shape):
            return [_shape(s) for s in lst.shape]
        return list(lst.tensor)
    if kind == "shape":
        return _shape(attr.shape)
    return getattr(attr, kind)


def _shape(shape: Any) -> list[int] | None:
    return None if shape.unknown_rank else [int(d.size) for d in shape.dim]


def read_graph(graph_def: Any, source: str, weights: Mapping[str, Constant] | None = None,
               outputs: Sequence[str] = ()) -> TfGraph:
    """A parsed ``GraphDef`` as a :class:`~.ir.TfGraph`.

    ``weights`` gives the value of ``Const`` nodes by node name where the graph itself holds none (tfjs keeps
    them in a separate shard). ``outputs`` are tensor names (``node`` or ``node:0``); empty means the one
    op nobody consumes that depends on the input. Every tensor keeps its TensorFlow name (``node:0``) in ONNX.
    Raises WeightsError naming ``source`` for a graph without exactly one float input or one output.
    """
    weights = weights or {}
    constants: dict[str, Constant] = {}
    inputs: list[TfInput] = []
    ops: list[TfOp] = []
    for node in graph_def.node:
        ref = f"{node.name}:0"
        if node.op == "Const":
            if node.name in weights:
                constants[ref] = weights[node.name]
            elif "value" in node.attr and node.attr["value"].HasField("tensor"):
                constants[ref] = Constant(tensor_value(node.attr["value"].tensor, f"{source}: Const {node.name!r}"))
            else:
                raise WeightsError(f"{source}: constant {node.name!r} has no value (missing from the weights?)")
        elif node.op == "Placeholder":
            dtype = node.attr["dtype"].type if "dtype" in node.attr else 0
            if dtype != DATA_TYPES["DT_FLOAT"]:
                raise WeightsError(f"{source}: input {node.name!r} is not float32 (TensorFlow dtype {dtype})")
            shape = attr_value(node.attr["shape"]) if "shape" in node.attr else None
            if not shape:
                raise WeightsError(f"{source}: input {node.name!r} has no static rank")
            inputs.append(TfInput(ref, ref, tuple(None if d < 0 else d for d in shape)))
        elif node.op != "NoOp":
            refs = tuple(_tensor_ref(i) for i in node.input if not i.startswith("^"))
            attrs = {key: attr_value(node.attr[key]) for key in sorted(node.attr)}
            ops.append(TfOp(node.name, node.op, refs, (ref,), attrs))
    if len(inputs) != 1:
        raise WeightsError(f"{source}: expected one input (Placeholder), found {len(inputs)}")
    wanted = [_tensor_ref(o) for o in outputs] or [_sink(ops, inputs[0].ref, source)]
    return TfGraph(tuple(ops), constants, tuple(inputs), tuple((o, o) for o in wanted), source)


def _tensor_ref(name: str) -> str:
    return name if ":" in name else f"{name}:0"


def _sink(ops: Sequence[TfOp], input_ref: str, source: str) -> str:
    """The one tensor computed from the input that no op consumes (the model's output)."""
    consumers: dict[str, list[TfOp]] = {}
    for op in ops:
        for ref in op.inputs:
            consumers.setdefault(ref, []).append(op)
    reached, frontier = set(), [input_ref]
    while frontier:
        for op in consumers.get(frontier.pop(), []):
            if op.name not in reached:
                reached.add(op.name)
                frontier.extend(op.outputs)
    sinks = [op.outputs[0] for op in ops if op.name in reached and op.outputs[0] not in consumers]
    if len(sinks) != 1:
        raise WeightsError(f"{source}: cannot tell the output: {len(sinks)} tensors end the graph ({sinks[:5]})")
    return sinks[0]
