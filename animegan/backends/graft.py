"""Graft given normalization statistics into an ONNX graph whose InstanceNorms are decomposed.

TF-converted generators (AnimeGAN v1, v3) compute each normalization as ``mean = GlobalAveragePool(x)``,
``variance = GlobalAveragePool((x − mean)²)``. Those statistics are per image, so a tile run alone is
normalized differently from the same pixels in the whole image. :func:`graft_given_stats` rewrites such
a graph into ``(x, given, mix) → (y, stats)``: every moment becomes ``mix·given + (1 − mix)·own`` and
``stats`` returns every own moment, so a tiled run can use moments measured on the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

GIVEN, MIX, STATS = "given", "mix", "stats"
"""Names of the grafted inputs and output, as ``OnnxGlobalNormBackend`` feeds them (the original input and
output keep their names)."""
_PASS_THROUGH = frozenset({"Reshape", "Transpose", "Identity", "Squeeze", "Unsqueeze", "Cast"})
"""Ops that may sit between a mean and the Sub that centres on it without changing its values."""


@dataclass(frozen=True)
class Moment:
    """The output of one GlobalAveragePool computing a normalization mean or variance, and its channels."""

    output: str
    channels: int


def norm_moments(model: onnx.ModelProto) -> list[Moment]:
    """Every normalization mean and variance of ``model``, in graph order.

    A variance is a GlobalAveragePool of ``(a − m)²`` (``Mul(d, d)`` or ``Pow(d, 2)``) where ``m`` is a
    GlobalAveragePool of ``a`` (possibly reshaped); that mean counts too. Pools computing anything else
    (attention, squeeze-excitation) are left alone. Channel counts come from ONNX shape inference and
    must be static; raises ValueError otherwise.
    """
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    pools = {node.output[0]: node for node in graph.node if node.op_type == "GlobalAveragePool"}
    chosen: set[str] = set()
    for node in pools.values():
        mean = _variance_mean(node, producer, constants, pools)
        if mean is not None:
            chosen |= {mean.output[0], node.output[0]}
    shapes = _channel_counts(model)
    moments = []
    for node in graph.node:
        if node.op_type == "GlobalAveragePool" and node.output[0] in chosen:
            channels = shapes.get(node.output[0])
            if channels is None:
                raise ValueError(f"the channel count of {node.output[0]!r} is not static")
            moments.append(Moment(node.output[0], channels))
    return moments


def _variance_mean(pool: onnx.NodeProto, producer: dict[str, onnx.NodeProto], constants: dict[str, npt.NDArray[np.generic]],
                   pools: dict[str, onnx.NodeProto]) -> onnx.NodeProto | None:
    """The mean pool ``m`` if ``pool`` computes ``mean((a − m)²)`` with ``m = mean(a)``, else None."""
    square = producer.get(pool.input[0])
    if square is None:
        return None
    is_square = (square.op_type == "Mul" and square.input[0] == square.input[1]) or (
        square.op_type == "Pow" and square.input[1] in constants and constants[square.input[1]].size == 1
        and float(constants[square.input[1]].item()) == 2.0)
    diff = producer.get(square.input[0]) if is_square else None
    if diff is None or diff.op_type != "Sub":
        return None
    centre = diff.input[1]
    while centre not in pools and centre in producer and producer[centre].op_type in _PASS_THROUGH:
        centre = producer[centre].input[0]
    mean = pools.get(centre)
    return mean if mean is not None and mean.input[0] == diff.input[0] else None


def _channel_counts(model: onnx.ModelProto) -> dict[str, int]:
    """Static dimension 1 of every inferred N×C×1×1 value."""
    inferred = shape_inference.infer_shapes(model)
    counts = {}
    for value in inferred.graph.value_info:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].HasField("dim_value"):
            counts[value.name] = dims[1].dim_value
    return counts


def graft_given_stats(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[Moment]]:
    """``model`` with inputs ``given`` (float32, length ``sum(channels)``) and ``mix`` (float32 scalar)
    added and output ``stats`` (same length as ``given``) appended; and the moments grafted.

    Each moment (batch size 1) becomes ``mix·given[o:o+C] + (1 − mix)·own``; ``stats`` concatenates every
    own moment in graph order (a variance is measured around the mixed mean). ``mix = 0`` computes
    exactly what ``model`` does. Raises ValueError if the graph has no normalization moments.
    """
    moments = norm_moments(model)
    if not moments:
        raise ValueError("the graph has no normalization moments (GlobalAveragePool mean/variance pairs)")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    by_output = {m.output: (m, offset) for m, offset in zip(moments, _offsets(moments), strict=True)}
    nodes: list[onnx.NodeProto] = []
    flats = []
    for original in graph.node:
        node = onnx.NodeProto()
        node.CopyFrom(original)
        nodes.append(node)
        if node.op_type == "GlobalAveragePool" and node.output[0] in by_output:
            moment, offset = by_output[node.output[0]]
            own = f"{moment.output}/own"
            node.output[0] = own
            nodes.extend(_mix_nodes(graph, moment, offset, own))
            flats.append(f"{own}/flat")
    total = sum(m.channels for m in moments)
    nodes.append(helper.make_node("Concat", flats, [STATS], axis=0, name="graft/stats"))
    del graph.node[:]
    graph.node.extend(nodes)
    graph.input.extend([helper.make_tensor_value_info(GIVEN, TensorProto.FLOAT, [total]),
                        helper.make_tensor_value_info(MIX, TensorProto.FLOAT, [])])
    graph.output.append(helper.make_tensor_value_info(STATS, TensorProto.FLOAT, [total]))
    onnx.checker.check_model(out)
    return out, moments


def _offsets(moments: list[Moment]) -> list[int]:
    starts, total = [], 0
    for m in moments:
        starts.append(total)
        total += m.channels
    return starts


def _mix_nodes(graph: onnx.GraphProto, moment: Moment, offset: int, own: str) -> list[onnx.NodeProto]:
    """Nodes computing ``moment.output = own + mix·(given[offset:offset+C] − own)`` and ``own`` flattened."""
    name, c = moment.output, moment.channels
    for suffix, values in (("start", [offset]), ("end", [offset + c]), ("shape", [1, c, 1, 1]), ("flat_shape", [-1])):
        graph.initializer.append(helper.make_tensor(f"{name}/{suffix}", TensorProto.INT64, [len(values)], values))
    return [
        helper.make_node("Slice", [GIVEN, f"{name}/start", f"{name}/end"], [f"{name}/given_flat"]),
        helper.make_node("Reshape", [f"{name}/given_flat", f"{name}/shape"], [f"{name}/given"]),
        helper.make_node("Sub", [f"{name}/given", own], [f"{name}/delta"]),
        helper.make_node("Mul", [f"{name}/delta", MIX], [f"{name}/mixed_delta"]),
        helper.make_node("Add", [own, f"{name}/mixed_delta"], [name]),
        helper.make_node("Reshape", [own, f"{name}/flat_shape"], [f"{own}/flat"]),
    ]
