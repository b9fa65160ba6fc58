"""ncnn export: a wrapper graph of :mod:`animegan.mobile` made ncnn-friendly, converted by pnnx, run by ncnn.

Needs requirements-mobile.txt (``pnnx``, ``ncnn``). pnnx reads ONNX directly but has no ncnn form for a few ONNX
idioms of TensorFlow-born graphs; :func:`ncnn_ready` rewrites those exactly before the conversion, and the export is
checked against onnxruntime afterwards (``animegan.export``), so what pnnx still gets wrong is refused, not shipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

from .errors import BackendUnavailableError
from .mobile import INPUT, probe_shapes, with_fixed_size

INPUT_BLOB, OUTPUT_BLOB = "in0", "out0"
"""The blob names pnnx gives the graph's input and output."""
_P = "ncnn/"
_SHAPE_OPS = ("Reshape", "Squeeze", "Unsqueeze", "Transpose", "Identity")


def pnnx_executable() -> Path:
    """The ``pnnx`` converter binary of the installed ``pnnx`` package (found without importing it: that imports
    torch). Raises BackendUnavailableError if it is not installed."""
    spec = importlib.util.find_spec("pnnx")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError("ncnn export needs pnnx: pip install -r requirements-mobile.txt")
    return Path(next(iter(spec.submodule_search_locations))) / "pnnx"


def ncnn_ready(model: onnx.ModelProto, sizes: list[tuple[int, int]]) -> onnx.ModelProto:
    """``model`` (a dynamic-size wrapper graph) with the ops ncnn has no exact form for rewritten, where their
    shapes behave the same at every probe size in ``sizes``:

    - a bilinear ``Resize`` ×2 with TensorFlow's ``asymmetric`` coordinates (ncnn's Interp knows only half-pixel
      and align-corners) becomes an edge pad and a depthwise transposed convolution with taps ½, 1, ½;
    - any other ``Resize`` ×2 whose target size is computed from shapes gets the constant scale 2 instead;
    - an ``Expand`` of a constant over the input's height and width (a guided filter's pixel counts) is computed
      from the input instead, so it follows the input's size;
    - a chain of shape ops that only adds, removes or moves axes of size 1 and holds a ``Reshape`` to a size-dependent
      shape (pnnx would bake the traced height and width into it) becomes one step from where the chain began: an
      Identity, a Transpose, or Squeeze + Unsqueeze.
    """
    return _collapse_unit_moves(_replace_resizes_and_fills(model, sizes), sizes)


def _replace_resizes_and_fills(model: onnx.ModelProto, sizes: list[tuple[int, int]]) -> onnx.ModelProto:
    weights = {t.name: t for t in model.graph.initializer}
    wanted = [INPUT] + [t for n in model.graph.node if n.op_type in ("Resize", "Expand") for t in (n.input[0], n.output[0])]
    shapes = probe_shapes(model, wanted, sizes)
    ready = onnx.ModelProto()
    ready.CopyFrom(model)
    nodes: list[onnx.NodeProto] = []
    for k, node in enumerate(model.graph.node):
        prefix = f"{_P}{k}/"
        if node.op_type == "Resize" and _doubles(node, shapes):
            nodes += _double(node, prefix, shapes[0][node.input[0]][1], ready.graph)
        elif node.op_type == "Expand" and node.input[0] in weights and (layout := _ones_layout(node, shapes)):
            value = float(numpy_helper.to_array(weights[node.input[0]]).reshape(-1)[0])
            nodes += _fill_like(node, value, layout, prefix, ready.graph)
        else:
            nodes.append(node)
    return _with_nodes(ready, nodes)


def _collapse_unit_moves(model: onnx.ModelProto, sizes: list[tuple[int, int]]) -> onnx.ModelProto:
    """Each chain of unit-axis moves as one step from where it began (pnnx cancels a Squeeze + Unsqueeze pair that
    moves a unit axis, and bakes the traced size into a Reshape)."""
    graph = model.graph
    shapes = probe_shapes(model, [t for n in graph.node if n.op_type in _SHAPE_OPS for t in (n.input[0], n.output[0])],
                          sizes)
    roots: dict[str, str] = {}  # the output of a unit-axis move → the tensor its chain of such moves starts from
    for node in graph.node:
        if _moves_unit_axes(node, shapes):
            roots[node.output[0]] = roots.get(node.input[0], node.input[0])
    sized = {roots[n.output[0]] for n in graph.node  # only chains with a Reshape to a size-dependent shape
             if n.op_type == "Reshape" and n.output[0] in roots and len({s[n.output[0]] for s in shapes}) > 1}
    roots = {t: r for t, r in roots.items() if r in sized}
    used = {name for node in graph.node if node.output[0] not in roots for name in node.input}
    used.update(o.name for o in graph.output)
    ready = onnx.ModelProto()
    ready.CopyFrom(model)
    nodes: list[onnx.NodeProto] = []
    for k, node in enumerate(graph.node):
        if node.output[0] not in roots:
            nodes.append(node)
        elif node.output[0] in used:
            root, prefix = roots[node.output[0]], f"{_P}unit{k}/"
            before, after = shapes[0][root], shapes[0][node.output[0]]
            if before == after:
                nodes.append(helper.make_node("Identity", [root], [node.output[0]], name=prefix + "same"))
            elif len(before) == len(after):
                nodes.append(helper.make_node("Transpose", [root], [node.output[0]], name=prefix + "move",
                                              perm=_unit_perm(before, after)))
            else:
                nodes += _squeeze_unsqueeze(root, node.output[0], _unit_axes(before), _unit_axes(after), prefix,
                                            ready.graph)
    return _with_nodes(ready, nodes)


def _with_nodes(model: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> onnx.ModelProto:
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def _doubles(node: onnx.NodeProto, shapes: list[dict[str, tuple[int, ...]]]) -> bool:
    """Whether a Resize doubles height and width of an N×C×H×W tensor at every probe size."""
    return all(len(s[node.input[0]]) == 4 and
               tuple(o / i for i, o in zip(s[node.input[0]], s[node.output[0]], strict=True)) == (1, 1, 2, 2)
               for s in shapes)


def _double(node: onnx.NodeProto, prefix: str, channels: int, graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    x, y = node.input[0], node.output[0]
    if attrs.get("mode") == b"linear" and attrs.get("coordinate_transformation_mode") == b"asymmetric":
        # out[2k] = in[k], out[2k+1] = (in[k] + in[k+1]) / 2 with the last row and column repeated; the input is
        # edge-padded on both sides so the transposed convolution's padding stays symmetric (pnnx drops odd crops)
        taps = np.array([0.5, 1.0, 0.5], np.float32)
        weight = np.ascontiguousarray(np.broadcast_to(np.outer(taps, taps), (channels, 1, 3, 3)), np.float32)
        graph.initializer.extend([numpy_helper.from_array(weight, prefix + "taps"),
                                  numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), prefix + "pads")])
        return [helper.make_node("Pad", [x, prefix + "pads"], [prefix + "edge"], name=prefix + "edge", mode="edge"),
                helper.make_node("ConvTranspose", [prefix + "edge", prefix + "taps"], [y], name=prefix + "up2",
                                 group=channels, kernel_shape=[3, 3], strides=[2, 2], pads=[3, 3, 3, 3],
                                 output_padding=[1, 1])]
    graph.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), prefix + "scales"))
    return [helper.make_node("Resize", [x, "", prefix + "scales"], [y], name=prefix + "up2", **attrs)]


def _moves_unit_axes(node: onnx.NodeProto, shapes: list[dict[str, tuple[int, ...]]]) -> bool:
    """Whether a shape op only adds, removes or moves axes of size 1 at every probe size (elements keep their order)."""
    if node.op_type not in _SHAPE_OPS:
        return False
    for s in shapes:
        before, after = s[node.input[0]], s[node.output[0]]
        if [d for d in before if d != 1] != [d for d in after if d != 1]:
            return False
        if node.op_type == "Transpose":
            perm = next(helper.get_attribute_value(a) for a in node.attribute if a.name == "perm")
            moved = [p for p in perm if before[p] != 1]
            if moved != sorted(moved):
                return False
    return True


def _unit_perm(before: tuple[int, ...], after: tuple[int, ...]) -> list[int]:
    """The Transpose from ``before`` to ``after``, shapes that differ only in where their size-1 axes are."""
    sized = iter(k for k, d in enumerate(before) if d != 1)
    units = iter(k for k, d in enumerate(before) if d == 1)
    return [next(units) if d == 1 else next(sized) for d in after]


def _unit_axes(shape: tuple[int, ...]) -> list[int]:
    return [k for k, d in enumerate(shape) if d == 1]


def _squeeze_unsqueeze(x: str, y: str, squeeze: list[int], unsqueeze: list[int], prefix: str,
                       graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    graph.initializer.extend([numpy_helper.from_array(np.array(squeeze, np.int64), prefix + "squeeze_axes"),
                              numpy_helper.from_array(np.array(unsqueeze, np.int64), prefix + "unsqueeze_axes")])
    return [helper.make_node("Squeeze", [x, prefix + "squeeze_axes"], [prefix + "squeezed"], name=prefix + "squeeze"),
            helper.make_node("Unsqueeze", [prefix + "squeezed", prefix + "unsqueeze_axes"], [y], name=prefix + "unsqueeze")]


def _ones_layout(node: onnx.NodeProto, shapes: list[dict[str, tuple[int, ...]]]) -> str | None:
    """"NHWC" or "NCHW" if an Expand of a scalar gives the input's height and width with one channel in that layout
    at every probe size, else None."""
    layouts = set()
    for s in shapes:
        n, _, h, w = s[INPUT]
        if s[node.input[0]] not in ((), (1,)):
            return None
        out = s[node.output[0]]
        layouts.add("NHWC" if out == (n, h, w, 1) else "NCHW" if out == (n, 1, h, w) else None)
    return layouts.pop() if len(layouts) == 1 else None


def _fill_like(node: onnx.NodeProto, value: float, layout: str, prefix: str, graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """``value`` over one channel of the input (x·0 + value): the same tensor at whatever size the input has."""
    graph.initializer.extend([numpy_helper.from_array(np.array(0.0, np.float32), prefix + "zero"),
                              numpy_helper.from_array(np.array(value, np.float32), prefix + "value"),
                              numpy_helper.from_array(np.array([0], np.int64), prefix + "starts"),
                              numpy_helper.from_array(np.array([1], np.int64), prefix + "ends"),
                              numpy_helper.from_array(np.array([1], np.int64), prefix + "axes")])
    out = prefix + "fill" if layout == "NHWC" else node.output[0]
    nodes = [helper.make_node("Slice", [INPUT, prefix + "starts", prefix + "ends", prefix + "axes"],
                              [prefix + "channel"], name=prefix + "channel"),
             helper.make_node("Mul", [prefix + "channel", prefix + "zero"], [prefix + "zeros"], name=prefix + "zeros"),
             helper.make_node("Add", [prefix + "zeros", prefix + "value"], [out], name=prefix + "fill")]
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", [out], [node.output[0]], name=prefix + "nhwc", perm=[0, 2, 3, 1]))
    return nodes


def convert(model: onnx.ModelProto, out_dir: Path, name: str, size: tuple[int, int]) -> tuple[Path, Path]:
    """Convert the ncnn-ready wrapper ``model`` with pnnx (fp32 weights), traced at ``size`` (H, W); write
    ``out_dir/name.param`` and ``out_dir/name.bin`` only. Raises BackendUnavailableError if pnnx fails."""
    exe = pnnx_executable()
    with tempfile.TemporaryDirectory(prefix="animegan-pnnx-") as tmp:
        work = Path(tmp)
        onnx.save(with_fixed_size(model, *size), work / "model.onnx")
        run = subprocess.run([str(exe), "model.onnx", f"inputshape=[1,3,{size[0]},{size[1]}]", "fp16=0"],
                             cwd=work, capture_output=True, text=True, check=False)
        param, weights = work / "model.ncnn.param", work / "model.ncnn.bin"
        if run.returncode != 0 or not param.is_file():
            tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or [f"exit status {run.returncode}"]
            raise BackendUnavailableError(f"pnnx could not convert {name!r} to ncnn: {tail[0]}")
        out_dir.mkdir(parents=True, exist_ok=True)
        dst_param, dst_bin = out_dir / f"{name}.param", out_dir / f"{name}.bin"
        shutil.move(param, dst_param)
        shutil.move(weights, dst_bin)
    return dst_param, dst_bin


def runner(param: Path, weights: Path, threads: int) -> Any:
    """A function running the ncnn model in fp32: 1×3×H×W float32 → 1×3×H×W float32. Raises
    BackendUnavailableError if the ncnn package is missing or the model has layers ncnn does not have."""
    try:
        ncnn: Any = importlib.import_module("ncnn")
    except ImportError as err:
        raise BackendUnavailableError("checking an ncnn export needs ncnn: pip install -r requirements-mobile.txt") from err
    lines = param.read_text().splitlines()[2:]  # magic, then the layer and blob counts
    unknown = sorted({line.split()[0] for line in lines if line.strip() and ncnn.layer_to_index(line.split()[0]) < 0})
    if unknown:
        raise BackendUnavailableError(f"pnnx left op(s) {', '.join(unknown)} that ncnn has no layer for")
    net = ncnn.Net()
    net.opt.num_threads = threads
    for flag in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
        setattr(net.opt, flag, False)  # the check is of the graph: fp32 as the other runtimes
    if net.load_param(str(param)) or net.load_model(str(weights)):
        raise BackendUnavailableError(f"ncnn could not load {param}")

    def run(x_nchw: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        ex = net.create_extractor()
        # ncnn's Python Mat over numpy memory has no reference count, which in-place layers dereference: clone it;
        # the binding keeps neither the array nor the clone alive, so both stay referenced until the extraction ends
        chw = np.ascontiguousarray(x_nchw[0], np.float32)
        mat = ncnn.Mat(chw).clone()
        ex.input(INPUT_BLOB, mat)
        _, out = ex.extract(OUTPUT_BLOB)
        y = np.array(out)[None].astype(np.float32)
        del chw, mat
        return y

    return run
