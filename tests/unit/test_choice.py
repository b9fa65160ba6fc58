"""The measured backend choice (:mod:`animegan.backends.choice`) on small real ONNX graphs in both runtimes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from animegan.backends import cpu
from animegan.backends.choice import Candidate, cache_file, cached_choices, choose
from animegan.backends.derived import image_quality
from animegan.backends.graphs import open_graph

RNG = np.random.default_rng(7)
FEEDS = [{"x": RNG.uniform(-1, 1, (1, 3, 32, 48)).astype(np.float32)} for _ in range(2)]


def conv_graph(path: Path, offset: float = 0.0, channels: int = 16) -> Path:
    """A real 3×3 convolution stack, NCHW → NCHW (``offset`` added at the end: a model that disagrees)."""
    w1 = RNG.normal(0, 0.2, (channels, 3, 3, 3)).astype(np.float32)
    w2 = RNG.normal(0, 0.2, (3, channels, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["h"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Tanh", ["c"], ["t"]),
             helper.make_node("Add", ["t", "off"], ["y"])]
    inits = [onnx.numpy_helper.from_array(w1, "w1"), onnx.numpy_helper.from_array(w2, "w2"),
             onnx.numpy_helper.from_array(np.array([offset], np.float32), "off")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def nhwc_quality(ref: list[list[np.ndarray]], got: list[list[np.ndarray]]) -> dict[str, object]:
    return image_quality([[y[0].transpose(0, 2, 3, 1)] for y in ref], [[y[0].transpose(0, 2, 3, 1)] for y in got], (-1.0, 1.0))


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    return conv_graph(tmp_path / "m.onnx")


def candidates(model: Path, other: Path | None = None) -> list[Candidate]:
    return [Candidate("onnx", "fp32", lambda: open_graph(model, "onnxruntime", 2)),
            Candidate("openvino", "fp32", lambda: open_graph(other or model, "openvino", 2, "fp32"))]


def test_a_choice_is_measured_once_then_read_from_the_cache_of_this_cpu(tmp_path: Path, model: Path) -> None:
    folder = tmp_path / "measured"
    choice, graph = choose(folder, 2, "m", "ab" * 32, candidates(model), lambda _: FEEDS, nhwc_quality)
    assert choice is not None and graph is not None
    assert {t.backend for t in choice.trials} == {"onnx", "openvino"} and all(t.passed for t in choice.trials)
    fastest = min(choice.trials, key=lambda t: t.seconds or 0.0)
    assert choice.chosen == fastest.backend and graph.runtime == ("openvino" if fastest.backend == "openvino" else "onnxruntime")
    assert choice.precision(choice.chosen) == "fp32"
    openvino = next(t for t in choice.trials if t.backend == "openvino")
    assert openvino.facts["psnr_min"] > 60, openvino.facts  # the same network at fp32
    path = cache_file(folder, 2)
    data = json.loads(path.read_text())
    assert path.name == f"backends-{cpu.signature(2)}.json" and data["cpu"] == cpu.cpu_name()
    never: list[Candidate] = [Candidate("onnx", "fp32", lambda: pytest.fail("a cached choice must not load anything"))]
    again, loaded = choose(folder, 2, "m", "ab" * 32, [*never, candidates(model)[1]], lambda _: FEEDS, nhwc_quality)
    assert again == choice and loaded is None, "the same CPU and candidates give the cached choice"
    assert cache_file(folder, 1) != path, "another thread count is another measurement"
    assert choose(folder, 2, "m", "cd" * 32, candidates(model), lambda _: FEEDS, nhwc_quality, measure=False) == (None, None)


def test_a_candidate_that_fails_the_guard_or_cannot_load_is_never_chosen(tmp_path: Path, model: Path) -> None:
    wrong = conv_graph(tmp_path / "wrong.onnx", offset=0.5)  # much faster is no use if it is wrong
    choice, _ = choose(tmp_path, 2, "m", "ef" * 32, candidates(model, wrong), lambda _: FEEDS, nhwc_quality)
    assert choice is not None and choice.chosen == "onnx"
    bad = next(t for t in choice.trials if t.backend == "openvino")
    assert not bad.passed and bad.facts["psnr_min"] < 30
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    choice, _ = choose(tmp_path, 2, "m", "12" * 32, candidates(model, broken), lambda _: FEEDS, nhwc_quality)
    assert choice is not None and choice.chosen == "onnx"
    failed = next(t for t in choice.trials if t.backend == "openvino")
    assert failed.seconds is None and "OpenVINO cannot load it" in failed.facts["error"]


def test_a_failing_reduced_precision_falls_back_to_its_higher_precision(tmp_path: Path, model: Path) -> None:
    wrong = conv_graph(tmp_path / "wrong.onnx", offset=0.5)
    exact = Candidate("openvino", "fp32", lambda: open_graph(model, "openvino", 2, "fp32"))
    drifting = Candidate("openvino", "bf16", lambda: open_graph(wrong, "openvino", 2, "fp32"), fallback=exact)
    reference = Candidate("onnx", "fp32", lambda: open_graph(model, "onnxruntime", 2))
    choice, _ = choose(tmp_path, 2, "m", "34" * 32, [reference, drifting], lambda _: FEEDS, nhwc_quality)
    assert choice is not None
    assert [(t.backend, t.precision, t.passed) for t in choice.trials] == [
        ("onnx", "fp32", True), ("openvino", "bf16", False), ("openvino", "fp32", True)]
    assert choice.precision("openvino") == "fp32"


def test_a_read_only_cache_measures_once_per_process(tmp_path: Path, model: Path) -> None:
    (tmp_path / "file").write_text("")
    folder = tmp_path / "file" / "measured"  # cannot be created, even by root (a read-only mount behaves alike)
    first, _ = choose(folder, 2, "m", "56" * 32, candidates(model), lambda _: FEEDS, nhwc_quality)
    never = [Candidate("onnx", "fp32", lambda: pytest.fail("measured twice")), candidates(model)[1]]
    again, _ = choose(folder, 2, "m", "56" * 32, never, lambda _: FEEDS, nhwc_quality)
    assert again == first and first is not None
    assert cached_choices(folder, 2) == {}


def test_cpu_signature_names_the_vector_flags(tmp_path: Path) -> None:
    def info(flags: str) -> Path:
        path = tmp_path / f"{len(flags)}.txt"
        path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu {flags}\n")
        return path

    zen3, zen4 = info("sse4_2 avx2 fma"), info("sse4_2 avx2 fma avx512f avx512_bf16")
    assert not cpu.native_bf16(zen3) and cpu.native_bf16(zen4)
    assert cpu.vector_flags(zen4) == ["avx2", "avx512_bf16", "avx512f", "fma", "sse4_2"]
    assert cpu.signature(2, zen3) != cpu.signature(2, zen4) != cpu.signature(1, zen4)
    assert cpu.signature(2, zen3) == cpu.signature(2, zen3)


def test_another_precision_is_another_measurement(tmp_path: Path, model: Path) -> None:
    """``ANIMEGAN_PRECISION=fp32`` must not reuse the choice measured with bf16 candidates."""
    bf16 = [candidates(model)[0], Candidate("openvino", "bf16", lambda: open_graph(model, "openvino", 2, "bf16"))]
    first, _ = choose(tmp_path, 2, "m", "78" * 32, bf16, lambda _: FEEDS, nhwc_quality)
    second, loaded = choose(tmp_path, 2, "m", "78" * 32, candidates(model), lambda _: FEEDS, nhwc_quality)
    assert first is not None and second is not None and loaded is not None, "measured again"
    assert {t.precision for t in second.trials} == {"fp32"} and len(cached_choices(tmp_path, 2)) == 2
