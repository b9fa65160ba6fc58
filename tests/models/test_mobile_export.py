"""Mobile exports, run by their real runtimes (ncnn, LiteRT, OpenVINO) on real photos, against the app's own fp32 result.

Each format is checked on three styles of different families; the export goes through the CLI, so its files, its
JSON contract and its refusals are the ones a user gets. Sizes stay small (256 px) to keep the file quick.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from animegan import Engine
from animegan.cli import main as cli_main
from animegan.grades import neon
from animegan.imageio import Picture, decode
from animegan.mobile import GraphSize, pattern_image, wrap_generator
from animegan.pipeline import StylizeOptions
from animegan.quality import psnr
from animegan.resample import resize
from animegan.settings import Settings, get_settings
from animegan.styles import STYLES, StyleSpec
from tests.conftest import WEIGHTS_PATH

pytestmark = pytest.mark.slow

MIN_PSNR = 40.0
PHOTOS = ("city_tokyo_street.jpg", "portrait_obama_official.jpg")
TFLITE_SIDE = 256
DYNAMIC_SIZE = (256, 320)
"""H, W of the photos given to the dynamic-size formats (a multiple of every size rule; not square, not the size
the export was traced at)."""
STYLES_OF = {
    "ncnn": ("hayao", "cute", "cartoon"),  # AnimeGANv2, AnimeGANv3 tiny, White-box
    "openvino": ("hayao", "cyberpunk", "cartoon"),  # AnimeGANv2, AnimeGANv3 + its neon grade in the graph, White-box
    "tflite": ("cute", "cyberpunk", "cartoon"),
}
Run = Callable[[np.ndarray], np.ndarray]
"""H×W×3 float32 RGB in [0, 1] → the same, through one runtime."""


@pytest.fixture(scope="module")
def cli(settings: Settings) -> Iterator[Callable[..., int]]:
    """``python -m animegan`` in this process, on the tests' weights and model cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANIMEGAN_WEIGHTS_PATH", WEIGHTS_PATH)
        mp.setenv("ANIMEGAN_MODEL_CACHE_DIR", str(settings.model_cache_dir))
        get_settings.cache_clear()
        yield lambda *argv: cli_main(list(argv))
    get_settings.cache_clear()


def app_result(engine: Engine, style: str, rgb: np.ndarray) -> np.ndarray:
    """The app's own fp32 result (onnxruntime, no faces) for a picture already at the processing size."""
    h, w = rgb.shape[:2]
    picture = Picture(rgb=rgb, mode="RGB", size=(w, h))
    return engine.stylize(picture, StylizeOptions(style=style, max_side=max(h, w), backend="onnx")).rgb


def photo(photos: Path, name: str, size: tuple[int, int]) -> np.ndarray:
    return resize(decode(photos / name, 40_000_000).rgb, *size)


def export_with_cli(cli: Callable[..., int], fmt: str, style: str, out: Path, *extra: str) -> Path:
    """Run the export; return the folder (ncnn, openvino) or the file (tflite) it wrote."""
    dst = out / f"{style}.tflite" if fmt == "tflite" else out / f"{fmt}-{style}"
    assert cli("export", "--style", style, "--format", fmt, "-o", str(dst), *extra) == 0
    return dst


def check_contract(contract: Path, spec: StyleSpec, fmt: str, files: list[Path], layout: str, licence: str) -> dict[str, Any]:
    record = json.loads(contract.read_text())
    assert record["style"] == spec.id and record["format"] == fmt
    assert record["files"] == [f.name for f in files]
    for f in files:
        assert record["sha256"][f.name] == hashlib.sha256(f.read_bytes()).hexdigest(), f"sha256 of {f.name}"
    for side in ("input", "output"):
        assert record[side]["layout"] == layout and record[side]["dtype"] == "float32", record[side]
        assert record[side]["range"] == [0.0, 1.0] and record[side]["channels"] == "RGB"
    assert record["license"] == licence
    assert record["source"]["weights"] == spec.weights and len(record["source"]["onnx_sha256"]) == 64
    assert (record["grade"] or {}).get("name") == spec.grade
    assert min(record["verified"]["psnr_db"].values()) >= MIN_PSNR
    return record


@pytest.fixture(scope="module")
def style_licences(cli: Callable[..., int]) -> dict[str, str]:
    """Each style's licence as ``python -m animegan styles --json`` states it."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert cli("styles", "--json") == 0
    return {row["id"]: row["license"] for row in json.loads(buffer.getvalue())}


def compare(engine: Engine, style: str, run: Run, photos: Path, size: tuple[int, int], artifacts: Path) -> list[float]:
    """PSNR of the runtime against the app on each photo; saves both images of a failure."""
    scores = []
    for name in PHOTOS:
        x = photo(photos, name, size)
        expected, got = app_result(engine, style, x), run(x)
        assert got.shape == expected.shape, (got.shape, expected.shape)
        score = psnr(got, expected)
        if score < MIN_PSNR:
            for tag, img in (("app", expected), ("export", got)):
                Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)).save(artifacts / f"{style}-{tag}.png")
        scores.append(score)
    assert min(scores) >= MIN_PSNR, f"{style}: PSNR {scores} dB against the app (both images in {artifacts})"
    return scores


# ---- ncnn ---------------------------------------------------------------------------------------


def ncnn_runner(param: Path, weights: Path) -> Run:
    import ncnn

    net = ncnn.Net()
    net.opt.num_threads = 2
    for flag in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
        setattr(net.opt, flag, False)
    assert net.load_param(str(param)) == 0 and net.load_model(str(weights)) == 0

    def run(rgb: np.ndarray) -> np.ndarray:
        ex = net.create_extractor()
        # the array, and a clone of its Mat (one over numpy memory has no reference count), stay alive until the
        # extraction is done: ncnn's Python binding keeps neither
        chw = np.ascontiguousarray(rgb.transpose(2, 0, 1), np.float32)
        mat = ncnn.Mat(chw).clone()
        ex.input("in0", mat)
        ret, out = ex.extract("out0")
        assert ret == 0
        y = np.array(out).transpose(1, 2, 0)
        del chw, mat
        return y

    return run


@pytest.mark.parametrize("style", STYLES_OF["ncnn"])
def test_ncnn_export_matches_the_app(style: str, cli: Callable[..., int], engine: Engine, photos: Path,
                                     style_licences: dict[str, str], tmp_path: Path, artifacts: Path) -> None:
    folder = export_with_cli(cli, "ncnn", style, tmp_path)
    files = [folder / f"{style}.param", folder / f"{style}.bin"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([f.name for f in files] + [f"{style}.json"])
    record = check_contract(folder / f"{style}.json", STYLES.get(style), "ncnn", files, "NCHW", style_licences[style])
    assert (record["input"]["name"], record["output"]["name"]) == ("in0", "out0")
    compare(engine, style, ncnn_runner(*files), photos, DYNAMIC_SIZE, artifacts)


def test_ncnn_refuses_a_grade_it_cannot_express(cli: Callable[..., int], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("export", "--style", "cyberpunk", "--format", "ncnn", "-o", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cyberpunk's grade 'neon' cannot be expressed in ncnn" in err[0], err
    assert not (tmp_path / "out").exists()


def test_an_export_its_runtime_gets_wrong_is_refused(cli: Callable[..., int], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """pnnx mis-converts AnimeGANv3's attention block: the check against onnxruntime refuses it and keeps nothing."""
    assert cli("export", "--style", "shinkai", "--format", "ncnn", "-o", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'shinkai' cannot be exported to ncnn" in err[0] and "dB" in err[0], err
    assert not any((tmp_path / "out").glob("shinkai.*"))


# ---- OpenVINO -----------------------------------------------------------------------------------


def openvino_runner(xml: Path) -> Run:
    import openvino as ov

    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 2})

    def run(rgb: np.ndarray) -> np.ndarray:
        return np.asarray(compiled(rgb.transpose(2, 0, 1)[None].astype(np.float32))[0])[0].transpose(1, 2, 0)

    return run


@pytest.mark.parametrize("style", STYLES_OF["openvino"])
def test_openvino_export_matches_the_app(style: str, cli: Callable[..., int], engine: Engine, photos: Path,
                                         style_licences: dict[str, str], tmp_path: Path, artifacts: Path) -> None:
    folder = export_with_cli(cli, "openvino", style, tmp_path)
    files = [folder / f"{style}.xml", folder / f"{style}.bin"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([f.name for f in files] + [f"{style}.json"])
    record = check_contract(folder / f"{style}.json", STYLES.get(style), "openvino", files, "NCHW", style_licences[style])
    assert record["input"]["shape"][2:] == ["height", "width"], "one IR serves every size"
    compare(engine, style, openvino_runner(files[0]), photos, DYNAMIC_SIZE, artifacts)


# ---- TFLite -------------------------------------------------------------------------------------


def litert_runner(path: Path) -> Run:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=2)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert list(inp["shape"]) == [1, TFLITE_SIDE, TFLITE_SIDE, 3] and inp["dtype"] == np.float32, inp

    def run(rgb: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(inp["index"], rgb[None].astype(np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])[0]

    return run


@pytest.mark.parametrize("style", STYLES_OF["tflite"])
def test_tflite_export_matches_the_app(style: str, cli: Callable[..., int], engine: Engine, photos: Path,
                                       style_licences: dict[str, str], tmp_path: Path, artifacts: Path) -> None:
    path = export_with_cli(cli, "tflite", style, tmp_path, "--size", str(TFLITE_SIDE))
    record = check_contract(path.with_suffix(".json"), STYLES.get(style), "tflite", [path], "NHWC", style_licences[style])
    assert record["input"]["shape"] == [1, TFLITE_SIDE, TFLITE_SIDE, 3] and record["size"]["fixed"] == [256, 256]
    compare(engine, style, litert_runner(path), photos, (TFLITE_SIDE, TFLITE_SIDE), artifacts)


def test_tflite_refuses_a_size_the_style_does_not_allow(cli: Callable[..., int], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("export", "--style", "cute", "--format", "tflite", "--size", "250", "-o", str(tmp_path / "c.tflite")) == 2
    assert "multiple of 16" in capsys.readouterr().err
    assert cli("export", "--style", "hayao_v3", "--format", "tflite", "--size", "256", "-o", str(tmp_path / "h.tflite")) == 2
    assert "fixed 512×512" in capsys.readouterr().err


# ---- the ONNX export and the graph the mobile formats share ---------------------------------------


def test_onnx_export_gets_its_contract(cli: Callable[..., int], engine: Engine, tmp_path: Path,
                                       style_licences: dict[str, str]) -> None:
    out = tmp_path / "cyberpunk.onnx"
    assert cli("export", "--style", "cyberpunk", "-o", str(out)) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["sha256"] == {out.name: hashlib.sha256(out.read_bytes()).hexdigest()}
    assert record["input"]["layout"] == "NHWC" and record["input"]["range"] == [-1.0, 1.0]
    assert record["grade"] == {"name": "neon", "in_graph": False}, "the plain ONNX export leaves the grade to the caller"
    assert record["license"] == style_licences["cyberpunk"]


@pytest.mark.parametrize("size", [None, (96, 160)], ids=["dynamic", "fixed"])
def test_the_neon_grade_in_onnx_ops_equals_the_apps(size: tuple[int, int] | None) -> None:
    """The grade's ONNX form (its blur built from the picture's size, or constant at a fixed size) against
    :func:`animegan.grades.neon`, on an identity 'generator'."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    identity = helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "h", "w", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "h", "w", 3])]), opset_imports=[helper.make_opsetid("", 17)])
    spec = STYLES.get("cyberpunk")
    graph = wrap_generator(identity, spec, "x", "y", "NHWC", GraphSize(size))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    for h, w in [size] if size else [(96, 160), (200, 64)]:
        x = pattern_image(h, w)
        (y,) = session.run(None, {"input": x})
        expected = neon(np.ascontiguousarray(x[0].transpose(1, 2, 0)))
        assert psnr(y[0].transpose(1, 2, 0), expected) > 80, (h, w)


def test_converters_stay_out_of_the_engine() -> None:
    """Importing the engine, the CLI and the export module loads no converter or mobile runtime."""
    import subprocess
    import sys

    code = ("import sys, animegan, animegan.cli, animegan.export; "
            "print(sorted(m for m in ('animegan.mobile', 'ncnn', 'pnnx', 'ai_edge_litert', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out
