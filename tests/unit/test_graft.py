"""Grafting given normalization statistics into an ONNX graph (no weights: a small synthetic graph)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from animegan.backends.graft import GIVEN, MIX, STATS, graft_given_stats, norm_moments

rng = np.random.default_rng(0)


def _instance_norm(x: str, out: str, square: str) -> list[onnx.NodeProto]:
    """TF's decomposition: a reshaped mean, (x − mean)² as ``Mul`` or ``Pow``, rsqrt as Sqrt → Reciprocal."""
    return [
        helper.make_node("GlobalAveragePool", [x], [f"{out}/mean"]),
        helper.make_node("Reshape", [f"{out}/mean", "nchw"], [f"{out}/mean_r"]),
        helper.make_node("Sub", [x, f"{out}/mean_r"], [f"{out}/d"]),
        helper.make_node("Mul", [f"{out}/d", f"{out}/d"], [f"{out}/sq"]) if square == "Mul"
        else helper.make_node("Pow", [f"{out}/d", "two"], [f"{out}/sq"]),
        helper.make_node("GlobalAveragePool", [f"{out}/sq"], [f"{out}/var"]),
        helper.make_node("Add", [f"{out}/var", "eps"], [f"{out}/ve"]),
        helper.make_node("Sqrt", [f"{out}/ve"], [f"{out}/s"]),
        helper.make_node("Reciprocal", [f"{out}/s"], [f"{out}/r"]),
        helper.make_node("Mul", [f"{out}/d", f"{out}/r"], [out]),
    ]


def _model(gate: bool = True) -> onnx.ModelProto:
    """x (1×3×H×W) → 1×1 conv → norm → relu → 1×1 conv → norm → (squeeze-excitation gate) → y.

    Without the gate every op is per pixel except the statistics, so a crop normalized with the whole
    image's statistics must equal the same crop of the whole output."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"]),
        *_instance_norm("c1", "n1", "Mul"),
        helper.make_node("Relu", ["n1"], ["a1"]),
        helper.make_node("Conv", ["a1", "w2"], ["c2"]),
        *_instance_norm("c2", "n2", "Pow"),
        *([helper.make_node("GlobalAveragePool", ["n2"], ["se"]),  # not a normalization: must stay
           helper.make_node("Sigmoid", ["se"], ["gate"]),
           helper.make_node("Mul", ["n2", "gate"], ["y"])] if gate else [helper.make_node("Identity", ["n2"], ["y"])]),
    ]
    inits = [numpy_helper.from_array(rng.normal(size=(5, 3, 1, 1)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(size=(2, 5, 1, 1)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.array([1, -1, 1, 1], np.int64), "nchw"),
             numpy_helper.from_array(np.array(2.0, np.float32), "two"),
             numpy_helper.from_array(np.array(1e-5, np.float32), "eps")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, "h", "w"])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, x: np.ndarray, given: np.ndarray, mix: float) -> tuple[np.ndarray, np.ndarray]:
    y, stats = session.run(["y", STATS], {"x": x, GIVEN: given.astype(np.float32), MIX: np.array(mix, np.float32)})
    return y, stats


def test_finds_only_normalization_moments() -> None:
    moments = norm_moments(_model())
    assert [(m.output, m.channels) for m in moments] == [("n1/mean", 5), ("n1/var", 5), ("n2/mean", 2), ("n2/var", 2)]


def test_mix_0_is_the_original_graph_and_mix_1_with_own_stats_too() -> None:
    model = _model()
    grafted, _ = graft_given_stats(model)
    x = rng.normal(size=(1, 3, 24, 40)).astype(np.float32)
    (want,) = _session(model).run(["y"], {"x": x})
    session = _session(grafted)
    y0, stats = _run(session, x, rng.normal(size=14), 0.0)
    assert stats.shape == (14,)
    np.testing.assert_array_equal(y0, want)
    y1, stats1 = _run(session, x, stats, 1.0)
    np.testing.assert_allclose(y1, want, atol=1e-6)
    np.testing.assert_allclose(stats1, stats, atol=1e-6)


def test_a_crop_with_whole_image_stats_matches_the_whole_output() -> None:
    grafted, _ = graft_given_stats(_model(gate=False))
    session = _session(grafted)
    x = rng.normal(size=(1, 3, 32, 32)).astype(np.float32) + np.linspace(0, 3, 32, dtype=np.float32)
    whole, stats = _run(session, x, np.zeros(14), 0.0)
    crop, _ = _run(session, x[..., :16], stats, 1.0)
    local, _ = _run(session, x[..., :16], stats, 0.0)
    np.testing.assert_allclose(crop, whole[..., :16], atol=1e-5)
    assert np.abs(local - whole[..., :16]).max() > 0.1


def test_a_graph_without_normalization_is_refused() -> None:
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])])
    with pytest.raises(ValueError, match="no normalization moments"):
        graft_given_stats(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
