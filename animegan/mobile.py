"""Self-contained graphs for mobile runtimes: a style's generator wrapped so it takes and returns RGB in [0, 1].

The wrapper is ONNX: ``input`` 1×3×H×W float32 RGB in [0, 1] → the style's own value range and layout → the
generator → back to [0, 1] (clipped) → the style's colour grade → ``output`` 1×3×H×W. Padding to the size rule (or
resizing, for a fixed-size model) stays the caller's, as in :class:`~animegan.stylizer.Stylizer`.
Needs the ``onnx`` package (imported by the caller's first use of this module; the engine never imports it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from .grades import _NEON_COLORS, _NEON_STOPS, LUMA
from .styles import StyleSpec

INPUT, OUTPUT = "input", "output"
"""Tensor names of every wrapper graph."""
_P = "rgb01/"
"""Prefix of the wrapper's own tensor and node names (the generator's keep theirs)."""


@dataclass(frozen=True)
class GraphSize:
    """The wrapper's input size: ``fixed`` (H, W), or dynamic height and width (``None``)."""

    fixed: tuple[int, int] | None = None


class _Builder:
    """Appends nodes and constants with unique names to a graph."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self._n = 0

    def name(self, what: str) -> str:
        self._n += 1
        return f"{_P}{what}_{self._n}"

    def const(self, value: npt.ArrayLike, what: str = "c", dtype: type = np.float32) -> str:
        name = self.name(what)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], what: str | None = None, **attrs: Any) -> str:
        out = self.name(what or op_type.lower())
        self.graph.node.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def conv1x1(self, x: str, weight: npt.ArrayLike, bias: npt.ArrayLike | None = None) -> str:
        """A 1×1 convolution with ``weight`` (C_out×C_in) and ``bias``: a per-pixel linear map of the channels."""
        w = np.asarray(weight, np.float32)
        inputs = [x, self.const(w[:, :, None, None], "w")]
        if bias is not None:
            inputs.append(self.const(bias, "b"))
        return self.op("Conv", inputs, "conv")

    def clip01(self, x: str) -> str:
        # Relu + Min, not Clip: ncnn turned a Clip whose bounds are inputs into zeros
        return self.op("Min", [self.op("Relu", [x]), self.const(1.0, "one")], "clip")


def _blur_matrix(n: int, sigma: float) -> npt.NDArray[np.float32]:
    """The n×n matrix ``B`` with ``B @ x`` = ``cv2.GaussianBlur`` of the columns of ``x`` (reflect-101 borders)."""
    ksize = round(sigma * 8 + 1) | 1  # cv2's size for a float image and ksize (0, 0)
    kernel = cv2.getGaussianKernel(ksize, sigma, cv2.CV_32F)
    blurred = cv2.sepFilter2D(np.eye(n, dtype=np.float32), -1, np.ones((1, 1), np.float32), kernel,
                              borderType=cv2.BORDER_REFLECT_101)
    return np.asarray(blurred, np.float32)


def _neon_sigma(height: int, width: int) -> float:
    return max(2.0, 0.012 * max(height, width))  # as grades.neon


def _dynamic_blur_matrix(b: _Builder, n: str, sigma: str) -> str:
    """ONNX for :func:`_blur_matrix` at a size known only at run time: ``n`` (int64 [1]) and ``sigma`` (float [1]).

    Gaussian taps up to cv2's kernel radius, folded back by reflect-101 borders over two periods each way (exact
    while the radius, ~0.05 of the longer side, stays under twice the shorter side).
    """
    nf = b.op("Cast", [n], to=TensorProto.FLOAT)
    ksize = b.op("Round", [b.op("Add", [b.op("Mul", [sigma, b.const([8.0])]), b.const([1.0])])])
    odd = b.op("Sub", [b.op("Add", [ksize, b.const([1.0])]), b.op("Mod", [ksize, b.const([2.0])], fmod=1)])
    radius = b.op("Div", [b.op("Sub", [odd, b.const([1.0])]), b.const([2.0])])
    steps = b.op("Range", [b.const(0.0), b.op("Squeeze", [nf, b.const([0], dtype=np.int64)]), b.const(1.0)])
    rows = b.op("Unsqueeze", [steps, b.const([1], dtype=np.int64)])  # i, n×1
    cols = b.op("Unsqueeze", [steps, b.const([0], dtype=np.int64)])  # j, 1×n
    period = b.op("Mul", [b.op("Sub", [nf, b.const([1.0])]), b.const([2.0])])
    two_var = b.op("Mul", [b.op("Mul", [sigma, sigma]), b.const([2.0])])

    def tap(offset: str) -> str:  # g(d) before normalisation: exp(-d²/2σ²) within the radius
        g = b.op("Exp", [b.op("Neg", [b.op("Div", [b.op("Mul", [offset, offset]), two_var])])])
        inside = b.op("Cast", [b.op("LessOrEqual", [b.op("Abs", [offset]), radius])], to=TensorProto.FLOAT)
        return b.op("Mul", [g, inside])

    terms = []
    for m in (-2.0, -1.0, 0.0, 1.0, 2.0):
        shift = b.op("Mul", [period, b.const([m])])
        terms.append(tap(b.op("Sub", [b.op("Add", [cols, shift]), rows])))  # k = j + mP
        terms.append(tap(b.op("Sub", [b.op("Sub", [shift, cols]), rows])))  # k = -j + mP
    total = terms[0]
    for t in terms[1:]:
        total = b.op("Add", [total, t])
    # j = 0 and j = n-1 are their own mirror images: both sums counted them twice
    last = b.op("Sub", [nf, b.const([1.0])])
    edge = b.op("Or", [b.op("Equal", [cols, b.const([0.0])]), b.op("Equal", [cols, last])])
    total = b.op("Div", [total, b.op("Add", [b.op("Cast", [edge], to=TensorProto.FLOAT), b.const([1.0])])])
    taps = b.op("Range", [b.op("Neg", [b.op("Squeeze", [radius, b.const([0], dtype=np.int64)])]),
                          b.op("Add", [b.op("Squeeze", [radius, b.const([0], dtype=np.int64)]), b.const(0.5)]),
                          b.const(1.0)])
    norm = b.op("ReduceSum", [tap(taps)], keepdims=1)
    return b.op("Div", [total, norm], "blur_matrix")


def _neon(b: _Builder, rgb: str, size: GraphSize) -> str:
    """:func:`animegan.grades.neon` on a 1×3×H×W tensor in [0, 1]."""
    stops, colors = _NEON_STOPS.astype(np.float64), _NEON_COLORS.astype(np.float64)
    widths = np.diff(stops)
    y = b.conv1x1(rgb, LUMA[None, :])
    # the gradient map: colour = c0 + Σ slope_k · min(relu(y - s_k), s_{k+1} - s_k) for y in [0, 1]
    ramps = b.op("Min", [b.op("Relu", [b.conv1x1(y, np.ones((len(widths), 1)), -stops[:-1])]),
                         b.const(widths[None, :, None, None])])
    slopes = (np.diff(colors, axis=0) / widths[:, None]).T  # 3 × stops-1
    mapped = b.conv1x1(ramps, 0.5 * slopes, 0.5 * colors[0])
    out = b.op("Add", [b.op("Mul", [rgb, b.const(0.5)]), mapped])
    bright = b.op("Mul", [b.clip01(b.conv1x1(y, [[1 / 0.35]], [-0.65 / 0.35])), out])
    if size.fixed:
        h, w = size.fixed
        sigma = _neon_sigma(h, w)
        glow = b.op("MatMul", [bright, b.const(_blur_matrix(w, sigma).T, "blur_w")])
        glow = b.op("MatMul", [b.const(_blur_matrix(h, sigma), "blur_h"), glow])
    else:
        shape = b.op("Shape", [rgb])
        height = b.op("Slice", [shape, b.const([2], dtype=np.int64), b.const([3], dtype=np.int64)])
        width = b.op("Slice", [shape, b.const([3], dtype=np.int64), b.const([4], dtype=np.int64)])
        longer = b.op("Cast", [b.op("Max", [height, width])], to=TensorProto.FLOAT)
        sigma_t = b.op("Max", [b.op("Mul", [longer, b.const([0.012])]), b.const([2.0])])
        glow = b.op("MatMul", [bright, b.op("Transpose", [_dynamic_blur_matrix(b, width, sigma_t)], perm=[1, 0])])
        glow = b.op("MatMul", [_dynamic_blur_matrix(b, height, sigma_t), glow])
    tint = 0.6 * np.array([1.0, 0.55, 1.0])[None, :, None, None]
    # screen blend: 1 - (1 - out)(1 - glow·tint)
    lit = b.op("Sub", [b.const(1.0), b.op("Mul", [b.op("Sub", [b.const(1.0), out]),
                                                   b.op("Sub", [b.const(1.0), b.op("Mul", [glow, b.const(tint)])])])])
    saturate = 1.3 * np.eye(3) - 0.3 * np.tile(LUMA.astype(np.float64), (3, 1))  # grey + 1.3·(x - grey)
    return b.clip01(b.conv1x1(lit, saturate))


GRAPH_GRADES: dict[str, Callable[[_Builder, str, GraphSize], str]] = {"neon": _neon}
"""The colour grades of :mod:`animegan.grades` that have an ONNX form: ``(builder, rgb_nchw, size) -> graded``."""


def wrap_generator(model: onnx.ModelProto, spec: StyleSpec, input_name: str | None, output_name: str | None,
                   layout: Literal["NHWC", "NCHW"], size: GraphSize) -> onnx.ModelProto:
    """The generator ``model`` (its tensors in ``layout``, values in ``spec.value_range``, tensors ``input_name`` →
    ``output_name``, None: the graph's only ones) wrapped to take ``input`` and give ``output``, both 1×3×H×W float32
    RGB in [0, 1], with the style's colour grade applied at ``size``. Raises KeyError for a grade without an ONNX
    form."""
    lo, hi = spec.value_range
    grade = GRAPH_GRADES[spec.grade] if spec.grade else None
    wrapped = onnx.ModelProto()
    wrapped.CopyFrom(model)
    graph = wrapped.graph
    weights = {t.name for t in graph.initializer}
    input_name = input_name or next(i.name for i in graph.input if i.name not in weights)
    output_name = output_name or graph.output[0].name
    inner = list(graph.node)
    del graph.node[:]
    b = _Builder(graph)
    h, w = size.fixed or ("height", "width")

    x = b.op("Add", [b.op("Mul", [INPUT, b.const(hi - lo)]), b.const(lo)], "to_range")
    if layout == "NHWC":
        x = b.op("Transpose", [x], "to_nhwc", perm=[0, 2, 3, 1])
    for node in inner:
        node.input[:] = [x if name == input_name else name for name in node.input]
    graph.node.extend(inner)
    y = output_name
    if layout == "NHWC":
        y = b.op("Transpose", [y], "to_nchw", perm=[0, 3, 1, 2])
    y = b.clip01(b.op("Mul", [b.op("Sub", [y, b.const(lo)]), b.const(1.0 / (hi - lo))], "to_unit"))
    if grade is not None:
        y = grade(b, y, size)
    graph.node.append(helper.make_node("Identity", [y], [OUTPUT], name=f"{_P}output"))

    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, 3, h, w]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [1, 3, h, w]))
    del graph.value_info[:]
    _ensure_opset(wrapped, 13)  # Squeeze/Unsqueeze/ReduceSum take their axes as inputs from opset 13
    onnx.checker.check_model(wrapped)
    return wrapped


def _ensure_opset(model: onnx.ModelProto, version: int) -> None:
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version < version:
            raise ValueError(f"the generator's opset {opset.version} is older than {version}")


def with_fixed_size(model: onnx.ModelProto, height: int, width: int) -> onnx.ModelProto:
    """A copy of the wrapper ``model`` whose input and output are fixed at 1×3×``height``×``width``."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value in (fixed.graph.input[0], fixed.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        dims[2].dim_value, dims[3].dim_value = height, width
    return fixed


def folded(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with its constant subgraphs (shape computations, for a fixed-size input) folded by onnxruntime's
    basic optimizations, which keep to standard ONNX ops."""
    import tempfile

    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = f"{tmp}/folded.onnx"
        ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        return onnx.load(opts.optimized_model_filepath)


def probe_shapes(model: onnx.ModelProto, tensors: list[str], sizes: list[tuple[int, int]]) -> list[dict[str, tuple[int, ...]]]:
    """The shapes ``tensors`` of the wrapper ``model`` take for an input of each (H, W) in ``sizes``."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output} | {INPUT}
    inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
    types = {v.name: v.type.tensor_type.elem_type for v in inferred}
    for name in dict.fromkeys(tensors):
        if name not in known:
            probe.graph.output.append(helper.make_tensor_value_info(name, types.get(name) or TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    shapes = []
    for h, w in sizes:
        values = session.run(names, {INPUT: pattern_image(h, w)})
        shapes.append({INPUT: (1, 3, h, w), **{n: tuple(v.shape) for n, v in zip(names, values, strict=True)}})
    return shapes


def pattern_image(height: int, width: int) -> npt.NDArray[np.float32]:
    """A deterministic photo-like 1×3×H×W input in [0, 1]: smooth colour gradients, hard edges and fine grain."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) / max(height, width)
    r = 0.5 + 0.4 * np.sin(7 * xx + 3 * yy)
    g = 0.5 + 0.4 * np.cos(5 * yy - 4 * xx)
    b = np.where((xx - 0.6) ** 2 + (yy - 0.4) ** 2 < 0.05, 0.9, 0.2 + 0.5 * yy)
    grain = np.random.default_rng(0).normal(0, 0.03, (3, height, width))
    return np.clip(np.stack([r, g, b]) + grain, 0, 1).astype(np.float32)[None]
