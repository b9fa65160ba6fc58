"""The converters' small pieces, on small graphs built here (no weights): TF ops → ONNX against numpy, the
GraphDef reader, tfjs weight decoding and the input checks."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from animegan.backends.graft import norm_moments
from animegan.convert import CONVERSIONS, ROLES, pb
from animegan.errors import WeightsError

# ---- a tiny tfjs graph model -------------------------------------------------------------------


def ints(values: list[int]) -> dict[str, Any]:
    return {"list": {"i": [str(v) for v in values]}}


def text(value: bytes) -> dict[str, Any]:
    return {"s": base64.b64encode(value).decode()}


class TfjsModel:
    """Builds ``model.json`` + one shard the way the tfjs converter lays them out."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.weights: list[dict[str, Any]] = []
        self.data = bytearray()

    def placeholder(self, name: str, shape: list[int]) -> str:
        self.nodes.append({"name": name, "op": "Placeholder", "attr": {
            "dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [{"size": str(d)} for d in shape]}}}})
        return name

    def const(self, name: str, value: np.ndarray, quantize: str | None = None) -> str:
        dtype = "int32" if value.dtype == np.int32 else "float32"
        spec: dict[str, Any] = {"name": name, "shape": list(value.shape), "dtype": dtype}
        if quantize == "uint8":
            lo, hi = float(value.min()), float(value.max())
            scale = (hi - lo) / 255
            q = np.round((value - lo) / scale).astype(np.uint8)
            spec["quantization"] = {"dtype": "uint8", "min": lo, "scale": scale, "original_dtype": "float32"}
            self.data += q.tobytes()
        elif quantize == "float16":
            spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            self.data += value.astype("<f2").tobytes()
        else:
            self.data += value.astype("<i4" if dtype == "int32" else "<f4").tobytes()
        self.weights.append(spec)
        tf_type = "DT_INT32" if dtype == "int32" else "DT_FLOAT"
        self.nodes.append({"name": name, "op": "Const", "attr": {"dtype": {"type": tf_type}, "value": {"tensor": {
            "dtype": tf_type, "tensorShape": {"dim": [{"size": str(d)} for d in value.shape]}}}}})
        return name

    def op(self, name: str, op: str, inputs: list[str], **attrs: Any) -> str:
        self.nodes.append({"name": name, "op": op, "input": inputs, "attr": attrs})
        return name

    def save(self, folder: Path, output: str) -> dict[str, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"format": "graph-model", "modelTopology": {"node": self.nodes, "versions": {"producer": 1}},
               "signature": {"outputs": {"y": {"name": f"{output}:0"}}},
               "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": self.weights}]}
        (folder / "model.json").write_text(json.dumps(doc))
        (folder / "group1-shard1of1.bin").write_bytes(bytes(self.data))
        return {"model.json": folder / "model.json", "weights.bin": folder / "group1-shard1of1.bin"}


def affine(value: np.ndarray) -> np.ndarray:
    """What a uint8-quantized tfjs weight decodes to (as :class:`TfjsModel` stores it)."""
    lo, hi = float(value.min()), float(value.max())
    scale = (hi - lo) / 255
    q = np.round((value - lo) / scale).astype(np.uint8)
    return q.astype(np.float32) * np.float32(scale) + np.float32(lo)


def conv_nhwc(x: np.ndarray, w: np.ndarray, stride: int = 1, depthwise: bool = False, same: bool = False) -> np.ndarray:
    """TensorFlow's Conv2D / DepthwiseConv2dNative (HWIO / HWCM filters) in float64."""
    kh, kw = w.shape[:2]
    if same:
        pads = []
        for size, k in zip(x.shape[1:3], (kh, kw), strict=True):
            total = max((-(-size // stride) - 1) * stride + k - size, 0)
            pads.append((total // 2, total - total // 2))
        x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]  # N,H,W,C,kh,kw
    if depthwise:
        return np.einsum("nhwcij,ijcm->nhwcm", win, w).reshape(*win.shape[:3], -1)
    return np.einsum("nhwcij,ijco->nhwo", win, w)


def resize_asymmetric(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """TF ResizeBilinear without align_corners / half-pixel centres."""
    def axis(out: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.arange(out) * (size / out)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, size - 1), src - lo

    y0, y1, fy = axis(h, x.shape[1])
    x0, x1, fx = axis(w, x.shape[2])
    top = x[:, y0][:, :, x0] * (1 - fx)[None, None, :, None] + x[:, y0][:, :, x1] * fx[None, None, :, None]
    bottom = x[:, y1][:, :, x0] * (1 - fx)[None, None, :, None] + x[:, y1][:, :, x1] * fx[None, None, :, None]
    return top * (1 - fy)[None, :, None, None] + bottom * fy[None, :, None, None]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], dict[str, np.ndarray]]:
    """pad → conv (uint8 weights) → instance norm → leaky relu → depthwise SAME stride 2 → resize ×2 (size
    computed from Shape) → + 1-D bias → tanh; and the weights."""
    rng = np.random.default_rng(7)
    w = {"conv": rng.normal(0, 0.3, (3, 3, 3, 4)).astype(np.float32), "gamma": rng.uniform(0.5, 1.5, 4).astype(np.float32),
         "beta": rng.normal(0, 0.1, 4).astype(np.float32), "dw": rng.normal(0, 0.3, (3, 3, 4, 1)).astype(np.float32),
         "bias": rng.normal(0, 0.1, 4).astype(np.float32)}
    m = TfjsModel()
    x = m.placeholder("x", [1, -1, -1, 3])
    pad = m.op("pad", "MirrorPad", [x, m.const("pads", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))],
               mode=text(b"REFLECT"))
    conv = m.op("conv", "Conv2D", [pad, m.const("conv_w", w["conv"], "uint8")], strides=ints([1, 1, 1, 1]),
                padding=text(b"VALID"), data_format=text(b"NHWC"), dilations=ints([1, 1, 1, 1]))
    axes = m.const("axes", np.array([1, 2], np.int32))
    mean = m.op("mean", "Mean", [conv, axes], keep_dims={"b": True})
    sq = m.op("sq", "SquaredDifference", [conv, mean])
    var = m.op("var", "Mean", [sq, axes], keep_dims={"b": True})
    rs = m.op("rs", "Rsqrt", [m.op("ve", "AddV2", [var, m.const("eps", np.array(1e-5, np.float32))])])
    scale = m.op("scale", "Mul", [rs, m.const("gamma", w["gamma"], "uint8")])
    shift = m.op("shift", "Sub", [m.const("beta", w["beta"], "float16"),
                                  m.op("ms", "Mul", [mean, scale])])
    norm = m.op("norm", "AddV2", [m.op("xs", "Mul", [conv, scale]), shift])
    act = m.op("act", "LeakyRelu", [norm], alpha={"f": 0.2})
    dw = m.op("dw", "DepthwiseConv2dNative", [act, m.const("dw_w", w["dw"])], strides=ints([1, 2, 2, 1]),
              padding=text(b"SAME"), data_format=text(b"NHWC"), dilations=ints([1, 1, 1, 1]))
    shape = m.op("shape", "Shape", [dw], out_type={"type": "DT_INT32"})
    one = m.const("one", np.array([1], np.int32))
    sizes = []
    for i in (1, 2):
        part = m.op(f"dim{i}", "StridedSlice", [shape, m.const(f"b{i}", np.array([i], np.int32)),
                                                m.const(f"e{i}", np.array([i + 1], np.int32)), one],
                    shrink_axis_mask={"i": "1"}, begin_mask={"i": "0"}, end_mask={"i": "0"})
        sizes.append(m.op(f"twice{i}", "Mul", [part, m.const(f"two{i}", np.array(2, np.int32))]))
    size = m.op("size", "Pack", sizes, axis={"i": "0"})
    up = m.op("up", "ResizeBilinear", [dw, size], align_corners={"b": False}, half_pixel_centers={"b": False})
    m.op("y", "Tanh", [m.op("biased", "AddV2", [up, m.const("bias", w["bias"])])])
    return m.save(tmp_path_factory.mktemp("tiny"), "y"), w


def tiny_reference(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    x = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    c = conv_nhwc(x, affine(w["conv"]).astype(np.float64))
    mean = c.mean(axis=(1, 2), keepdims=True)
    var = ((c - mean) ** 2).mean(axis=(1, 2), keepdims=True)
    n = (c - mean) / np.sqrt(var + 1e-5) * affine(w["gamma"]) + w["beta"].astype(np.float16).astype(np.float64)
    a = np.where(n > 0, n, 0.2 * n)
    d = conv_nhwc(a, w["dw"].astype(np.float64), stride=2, depthwise=True, same=True)
    up = resize_asymmetric(d, 2 * d.shape[1], 2 * d.shape[2])
    return np.tanh(up + w["bias"])


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("size", [(9, 13), (16, 16)])
def test_tfjs_graph_translates_to_nchw_onnx_that_matches_tensorflow_semantics(
        tiny: tuple[dict[str, Path], dict[str, np.ndarray]], tmp_path: Path, size: tuple[int, int]) -> None:
    inputs, weights = tiny
    dst = tmp_path / "tiny.onnx"
    CONVERSIONS["tfjs-onnx"](inputs, dst)
    x = np.random.default_rng(1).uniform(-1, 1, (1, *size, 3)).astype(np.float32)
    got = run_onnx(dst, x)
    want = tiny_reference(x, weights)
    assert got.shape == want.shape == (1, 2 * (-(-size[0] // 2)), 2 * (-(-size[1] // 2)), 4)
    np.testing.assert_allclose(got, want, atol=2e-5)
    model = onnx.load(str(dst))
    assert (model.ir_version, model.opset_import[0].version) == (8, 17)
    assert [i.name for i in model.graph.input] == ["x:0"] and [o.name for o in model.graph.output] == ["y:0"]
    kinds = {i.name: i.data_type for i in model.graph.initializer}
    assert onnx.TensorProto.UINT8 in kinds.values() and onnx.TensorProto.FLOAT16 in kinds.values(), \
        "quantized weights must stay compact"
    assert len(norm_moments(model)) == 2, "the instance norm must be the GlobalAveragePool pattern graft.py grafts"
    transposes = [n for n in model.graph.node if n.op_type == "Transpose"]
    assert len(transposes) == 2, "one transpose in (NHWC → NCHW), one out"


def test_translation_is_deterministic(tiny: tuple[dict[str, Path], dict[str, np.ndarray]], tmp_path: Path) -> None:
    digests = set()
    for name in ("a.onnx", "b.onnx"):
        CONVERSIONS["tfjs-onnx"](tiny[0], tmp_path / name)
        digests.add(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert len(digests) == 1


def test_an_unsupported_op_names_the_op_and_the_file(tmp_path: Path) -> None:
    m = TfjsModel()
    m.op("y", "Cumsum", [m.placeholder("x", [1, -1, -1, 3]), m.const("axis", np.array(1, np.int32))])
    inputs = m.save(tmp_path, "y")
    with pytest.raises(WeightsError, match=r"model\.json: TensorFlow op 'Cumsum' \(node 'y'\) is not supported"):
        CONVERSIONS["tfjs-onnx"](inputs, tmp_path / "y.onnx")
    assert not (tmp_path / "y.onnx").exists()


def test_a_shard_that_does_not_fit_model_json_is_rejected(tiny: tuple[dict[str, Path], dict[str, np.ndarray]],
                                                          tmp_path: Path) -> None:
    shard = tmp_path / "short.bin"
    shard.write_bytes(tiny[0]["weights.bin"].read_bytes()[:-4])
    with pytest.raises(WeightsError, match=r"short\.bin: holds \d+ bytes"):
        CONVERSIONS["tfjs-onnx"]({"model.json": tiny[0]["model.json"], "weights.bin": shard}, tmp_path / "y.onnx")
    long = tmp_path / "long.bin"
    long.write_bytes(tiny[0]["weights.bin"].read_bytes() + b"\0")
    with pytest.raises(WeightsError, match=r"long\.bin: holds \d+ bytes but model\.json describes"):
        CONVERSIONS["tfjs-onnx"]({"model.json": tiny[0]["model.json"], "weights.bin": long}, tmp_path / "y.onnx")


def test_model_json_that_is_not_a_graph_model_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "model.json"
    for content, message in [(b"\x89PNG\r\n", "not a readable tfjs model.json"),
                             (b'{"format": "layers-model", "modelTopology": {}}', "not a tfjs graph model"),
                             (b'{"modelTopology": {"node": [{"name": 3}]}}', "modelTopology is not a TensorFlow graph")]:
        bad.write_bytes(content)
        with pytest.raises(WeightsError, match=message):
            CONVERSIONS["tfjs-onnx"]({"model.json": bad, "weights.bin": bad}, tmp_path / "y.onnx")


def test_every_conversion_names_its_roles_and_a_missing_one_is_a_clear_error(tmp_path: Path) -> None:
    assert set(CONVERSIONS) == set(ROLES) == {"tflite-int8-animeganv2", "tflite-onnx", "tf-graph-onnx", "tfjs-onnx",
                                              "cartoongan-onnx"}
    with pytest.raises(WeightsError, match=r"'tfjs-onnx' needs the input file 'weights\.bin'.*got model\.json"):
        CONVERSIONS["tfjs-onnx"]({"model.json": tmp_path / "model.json"}, tmp_path / "y.onnx")
    roles = ROLES["cartoongan-onnx"]
    assert len(roles) == 94 and {"conv01_1.weight.npy", "deconv03_1.bias.npy", "in13_1.shift.npy"} <= set(roles)
    with pytest.raises(WeightsError, match=r"'cartoongan-onnx' needs the 94 released tensor files; missing: "
                                           r"conv01_1\.bias\.npy, conv01_1\.weight\.npy, conv02_1\.bias\.npy and 91 more"):
        CONVERSIONS["cartoongan-onnx"]({}, tmp_path / "y.onnx")
    assert not (tmp_path / "y.onnx").exists()


# ---- readers ----------------------------------------------------------------------------------


def test_tensor_values_decode_content_lists_and_repeats() -> None:
    graph = pb.graph_def_from_json({"node": [
        {"name": "a", "op": "Const", "attr": {"value": {"tensor": {
            "dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "2"}, {"size": "2"}]},
            "tensorContent": base64.b64encode(np.arange(4, dtype="<f4").tobytes()).decode()}}}},
        {"name": "b", "op": "Const", "attr": {"value": {"tensor": {
            "dtype": "DT_INT32", "tensorShape": {"dim": [{"size": "3"}]}, "intVal": [5]}}}},
        {"name": "c", "op": "Const", "attr": {"value": {"tensor": {
            "dtype": "DT_HALF", "tensorShape": {}, "halfVal": [int(np.float16(1.5).view(np.uint16))]}}}},
    ]}, "test")
    a, b, c = (pb.tensor_value(n.attr["value"].tensor, n.name) for n in graph.node)
    np.testing.assert_array_equal(a, np.arange(4, dtype=np.float32).reshape(2, 2))
    np.testing.assert_array_equal(b, [5, 5, 5])
    assert c.dtype == np.float16 and c.shape == () and float(c) == 1.5


def test_binary_graph_defs_round_trip_and_garbage_is_a_clear_error(tmp_path: Path) -> None:
    graph = pb.graph_def_from_json({"node": [{"name": "x", "op": "Placeholder", "attr": {
        "dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [{"size": "-1"}, {"size": "3"}]}}}}]}, "test")
    again = pb.parse_graph_def(graph.SerializeToString(), "again.pb")
    assert again.node[0].name == "x" and pb.attr_value(again.node[0].attr["shape"]) == [-1, 3]
    with pytest.raises(WeightsError, match=r"junk\.pb is not a TensorFlow GraphDef"):
        pb.parse_graph_def(b"\xff\xff\xff\xff", "junk.pb")
    with pytest.raises(WeightsError, match=r"empty\.pb holds no TensorFlow graph nodes"):
        pb.parse_graph_def(b"", "empty.pb")


def test_a_file_that_is_not_tflite_is_a_clear_error(tmp_path: Path) -> None:
    for name, content, message in [("a.tflite", b"PK\x03\x04not a model", "no 'TFL3' identifier"),
                                   ("b.tflite", b"\x10\x00\x00\x00TFL3" + b"\xff" * 24, "damaged or truncated")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(WeightsError, match=rf"{name}: .*{message}"):
            CONVERSIONS["tflite-onnx"]({"model": tmp_path / name}, tmp_path / "y.onnx")


def test_importing_animegan_does_not_import_the_converters() -> None:
    code = ("import sys, animegan; bad = [m for m in ('animegan.convert', 'tflite', 'onnx', 'torch') if m in sys.modules];"
            " print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
