"""The CartoonGAN generator's released tensors (one ``.npy`` file each) → an ONNX graph written here, with no PyTorch.

The 94 files hold float32 tensors in PyTorch layouts: convolutions O×I×kh×kw, the two transposed convolutions
I×O×kh×kw (ONNX's ``ConvTranspose`` layout too), instance-norm ``scale``/``shift`` one value per channel. The
graph computes the released network (see :mod:`animegan.archs.cartoongan`) with two changes that leave its values
alone: it takes and returns NHWC RGB like every other style (the network is BGR: the first convolution's input
channels and the last one's output channels are put in RGB order, which costs nothing at run time), and each
instance norm is ``GlobalAveragePool`` of ``x`` and of ``(x − mean)²``, the pattern
:mod:`animegan.backends.graft` recognises (full-resolution tiles then share whole-image statistics).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import WeightsError

if TYPE_CHECKING:
    import onnx

IR_VERSION = 8
OPSET = 17
PRODUCER = "animegan.convert.cartoongan"
PRODUCER_VERSION = "1"
"""Recorded in the file; bump when the graph changes (its SHA-256 is pinned in the manifest)."""
INPUT, OUTPUT = "x", "y"
"""The graph's tensors: 1×H×W×3 RGB float32 in [-1, 1] (H, W multiples of 4) → the same, through tanh."""
EPS = 1e-9
"""Added to the standard deviation by the released instance norm (not to the variance)."""

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Conv:
    """One released convolution: its name, channels in and out, kernel side, stride, transposed or not."""

    name: str
    c_in: int
    c_out: int
    kernel: int
    stride: int = 1
    transposed: bool = False

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        k = self.kernel
        return (self.c_in, self.c_out, k, k) if self.transposed else (self.c_out, self.c_in, k, k)


RESIDUAL_BLOCKS = range(4, 12)
CONVS = (
    Conv("conv01_1", 3, 64, 7), Conv("conv02_1", 64, 128, 3, 2), Conv("conv02_2", 128, 128, 3),
    Conv("conv03_1", 128, 256, 3, 2), Conv("conv03_2", 256, 256, 3),
    *(Conv(f"conv{i:02d}_{half}", 256, 256, 3) for i in RESIDUAL_BLOCKS for half in (1, 2)),
    Conv("deconv01_1", 256, 128, 3, 2, transposed=True), Conv("deconv01_2", 128, 128, 3),
    Conv("deconv02_1", 128, 64, 3, 2, transposed=True), Conv("deconv02_2", 64, 64, 3),
    Conv("deconv03_1", 64, 3, 7),
)
NORMS = {"in01_1": 64, "in02_1": 128, "in03_1": 256,
         **{f"in{i:02d}_{half}": 256 for i in RESIDUAL_BLOCKS for half in (1, 2)}, "in12_1": 128, "in13_1": 64}
"""Instance norms and their channels."""
SHAPES: dict[str, tuple[int, ...]] = {
    **{f"{c.name}.weight": c.weight_shape for c in CONVS}, **{f"{c.name}.bias": (c.c_out,) for c in CONVS},
    **{f"{n}.{p}": (ch,) for n, ch in NORMS.items() for p in ("scale", "shift")},
}
"""Every released tensor (its file is ``<key>.npy``) and its shape."""
FILES = tuple(f"{key}.npy" for key in sorted(SHAPES))
"""The conversion's input roles: the 94 released file names."""


def read_tensors(inputs: Mapping[str, Path]) -> dict[str, Array]:
    """Released tensor name (``conv01_1.weight``) → float32 array, from the files given by role (:data:`FILES`).

    ``np.load`` never unpickles. Raises WeightsError naming the file for a missing role, an unreadable or
    truncated file, or a tensor that is not float32 of the shape the network needs.
    """
    missing = [f for f in FILES if f not in inputs]
    if missing:
        raise WeightsError(f"conversion 'cartoongan-onnx' needs the {len(FILES)} released tensor files; missing: "
                           f"{', '.join(missing[:3])}{f' and {len(missing) - 3} more' if len(missing) > 3 else ''}")
    out = {}
    for key, shape in SHAPES.items():
        path = Path(inputs[f"{key}.npy"])
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise WeightsError(f"{path}: not a readable .npy tensor ({err})") from err
        if array.dtype != np.float32 or array.shape != shape:
            raise WeightsError(f"{path}: holds {array.dtype} {list(array.shape)}; {key} must be float32 {list(shape)}")
        out[key] = np.ascontiguousarray(array)
    return out


def to_onnx(tensors: Mapping[str, Array]) -> onnx.ModelProto:
    """The ONNX model ``x`` (1×H×W×3 RGB) → ``y`` (the same) of the released network with these tensors.

    Raises WeightsError if onnx rejects the graph (which would be a bug here, not in the input).
    """
    import onnx

    b = _Builder(tensors)
    y = b.node("Transpose", [INPUT], "input/nchw", perm=[0, 3, 1, 2])
    y = b.relu(b.norm("in01_1", b.conv("conv01_1", b.reflect(y, 3), flip_in=True)))
    y = b.relu(b.norm("in02_1", b.conv("conv02_2", b.reflect(b.conv("conv02_1", b.reflect(y, 1)), 1))))
    y = b.relu(b.norm("in03_1", b.conv("conv03_2", b.reflect(b.conv("conv03_1", b.reflect(y, 1)), 1))))
    for i in RESIDUAL_BLOCKS:
        t = b.relu(b.norm(f"in{i:02d}_1", b.conv(f"conv{i:02d}_1", b.reflect(y, 1))))
        t = b.norm(f"in{i:02d}_2", b.conv(f"conv{i:02d}_2", b.reflect(t, 1)))
        y = b.node("Add", [y, t], f"block{i:02d}/add")
    y = b.relu(b.norm("in12_1", b.conv("deconv01_2", b.reflect(b.conv("deconv01_1", y), 1))))
    y = b.relu(b.norm("in13_1", b.conv("deconv02_2", b.reflect(b.conv("deconv02_1", y), 1))))
    y = b.node("Tanh", [b.conv("deconv03_1", b.reflect(y, 3), flip_out=True)], "output/tanh")
    b.node("Transpose", [y], OUTPUT, perm=[0, 2, 3, 1])
    image: list[str | int | None] = ["batch", "height", "width", 3]
    graph = onnx.helper.make_graph(b.nodes, "cartoongan",
                                   [onnx.helper.make_tensor_value_info(INPUT, onnx.TensorProto.FLOAT, image)],
                                   [onnx.helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, image)], b.initializers)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                                   producer_name=PRODUCER, producer_version=PRODUCER_VERSION)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as err:
        raise WeightsError(f"the CartoonGAN ONNX graph is invalid: {err}") from err
    return model


class _Builder:
    """Nodes and initializers of the graph, named after the released layers."""

    def __init__(self, tensors: Mapping[str, Array]) -> None:
        import onnx

        self.helper, self.numpy_helper = onnx.helper, onnx.numpy_helper
        self.tensors = tensors
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.convs = {c.name: c for c in CONVS}
        self.pads: dict[int, str] = {}
        self.eps = self.constant("eps", np.array(EPS, np.float32))

    def constant(self, name: str, value: npt.NDArray[np.generic]) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        """Append one node (its ONNX attributes as keywords, checked by onnx.checker); returns its output."""
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def relu(self, x: str) -> str:
        return self.node("Relu", [x], f"{x}/relu")

    def reflect(self, x: str, pad: int) -> str:
        if pad not in self.pads:
            self.pads[pad] = self.constant(f"pads{pad}", np.array([0, 0, pad, pad, 0, 0, pad, pad], np.int64))
        return self.node("Pad", [x, self.pads[pad]], f"{x}/reflect{pad}", mode="reflect")

    def conv(self, name: str, x: str, flip_in: bool = False, flip_out: bool = False) -> str:
        """A released convolution; ``flip_in``/``flip_out`` reverse its input/output channels (BGR ↔ RGB)."""
        c = self.convs[name]
        weight, bias = self.tensors[f"{name}.weight"], self.tensors[f"{name}.bias"]
        if flip_in:
            weight = weight[:, ::-1]
        if flip_out:
            weight, bias = weight[::-1], bias[::-1]
        inputs = [x, self.constant(f"{name}.weight", weight), self.constant(f"{name}.bias", bias)]
        k = [c.kernel, c.kernel]
        if c.transposed:
            # 2H+1 rows and columns without padding; the released network drops the first row and column
            # (Torch's pad 1 plus adj 1), which ONNX expresses as a begin-only pad of the output: exactly 2H.
            return self.node("ConvTranspose", inputs, name, kernel_shape=k, strides=[c.stride] * 2, pads=[1, 1, 0, 0])
        return self.node("Conv", inputs, name, kernel_shape=k, strides=[c.stride] * 2)

    def norm(self, name: str, x: str) -> str:
        """``(x − mean) · scale / (std + EPS) + shift`` with the moments as GlobalAveragePools (see the module doc)."""
        channels = NORMS[name]
        mean = self.node("GlobalAveragePool", [x], f"{name}/mean")
        centred = self.node("Sub", [x, mean], f"{name}/centred")
        variance = self.node("GlobalAveragePool", [self.node("Mul", [centred, centred], f"{name}/square")], f"{name}/variance")
        std = self.node("Add", [self.node("Sqrt", [variance], f"{name}/sqrt"), self.eps], f"{name}/std")
        scale = self.constant(f"{name}.scale", self.tensors[f"{name}.scale"].reshape(1, channels, 1, 1))
        shift = self.constant(f"{name}.shift", self.tensors[f"{name}.shift"].reshape(1, channels, 1, 1))
        gain = self.node("Div", [scale, std], f"{name}/gain")
        return self.node("Add", [self.node("Mul", [centred, gain], f"{name}/scaled"), shift], name)
