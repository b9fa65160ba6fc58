"""Every upstream original converts locally into a file that runs like the one we ship (or, where ../shared has
only the originals, like our PyTorch build of the network): same outputs on real photos (and an odd size padded the
way the product pads), byte-identical results on every run, and the product's derived models (statistics graft,
v3 INT8) build on them. Malformed inputs are clear errors."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from animegan import STYLES
from animegan.archs.cartoongan import PARAMETERS
from animegan.archs.cartoongan import Generator as CartoonGan
from animegan.backends import Backend, derived, open_backend
from animegan.backends.graphs import GraphBackend, open_graph
from animegan.convert import CONVERSIONS
from animegan.errors import WeightsError
from animegan.imageio import decode
from animegan.quality import psnr
from animegan.resample import fit_within, resize
from animegan.stylizer import Stylizer
from tests.convert_cases import ANIME, CASES, ORIGINAL, PYTORCH_CASES, ConvertCase

PHOTOS = ("city_tokyo_street.jpg", "portrait_obama_official.jpg", "landscape_fuji_autumn_1365x2048.jpg")
ODD_PHOTO, ODD_SIZE = "still_coffee_cup.png", (141, 203)  # H×W: not a multiple of 8, so the Stylizer pads it
SIDE = 256
"""Longer side of the photos (the v1 generators are slow; the fixed-size v3 model resizes to 512² anyway)."""
MIN_PSNR_DB, MAX_ABS_ERR = 50.0, 1e-4
"""Converted vs shipped output, both clipped to [0, 1] as the product returns them."""
BY_ID = {case.id: case for case in (*CASES, *PYTORCH_CASES)}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("convert")


_converted: dict[str, Path] = {}


def converted(case: ConvertCase, workdir: Path) -> Path:
    """The case's original converted once per test module."""
    if case.id not in _converted:
        dst = workdir / "first" / case.shipped
        CONVERSIONS[case.conversion](case.inputs(workdir / "inputs"), dst)
        _converted[case.id] = dst
    return _converted[case.id]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def backend(case: ConvertCase, path: Path) -> Backend:
    spec = STYLES.get(case.style)
    if path.suffix == ".pt":
        return open_backend(path, "torch", "animeganv2", 2)
    return GraphBackend(open_graph(path, "onnxruntime", 2), spec.input_name, spec.output_name)


class PyTorchCartoonGan:
    """Our PyTorch build of the CartoonGAN generator, loaded from the released tensors, as a style backend:
    NHWC RGB in and out like the converted graph (the network itself is NCHW BGR)."""

    name = "torch"

    def __init__(self, originals: dict[str, Path]) -> None:
        self.model = CartoonGan().eval()
        tensors = {Path(role).stem: torch.from_numpy(np.load(path, allow_pickle=False)) for role, path in originals.items()}
        self.model.load_state_dict(tensors, strict=True)

    def run(self, x_nhwc: np.ndarray) -> np.ndarray:
        x_bgr = torch.from_numpy(np.ascontiguousarray(x_nhwc[..., ::-1])).permute(0, 3, 1, 2)
        with torch.inference_mode():
            y_bgr = self.model(x_bgr)
        return np.ascontiguousarray(y_bgr.permute(0, 2, 3, 1).numpy()[..., ::-1])


def real_photos(photos: Path) -> list[tuple[str, np.ndarray]]:
    """:data:`PHOTOS` at :data:`SIDE` px, and :data:`ODD_PHOTO` at the odd size :data:`ODD_SIZE`."""
    images = []
    for name in PHOTOS:
        rgb = decode(photos / name, 40_000_000).rgb
        images.append((name, resize(rgb, *fit_within(*rgb.shape[:2], SIDE))))
    images.append((f"{ODD_PHOTO}@{ODD_SIZE[1]}x{ODD_SIZE[0]}", resize(decode(photos / ODD_PHOTO, 40_000_000).rgb, *ODD_SIZE)))
    return images


def assert_same_outputs(case: ConvertCase, ours: Stylizer, reference: Stylizer, photos: Path) -> None:
    for name, rgb in real_photos(photos):
        a, b = ours(rgb), reference(rgb)
        assert a.shape == b.shape == rgb.shape
        err, score = float(np.abs(a - b).max()), psnr(a, b)
        print(f"{case.id} {name} {rgb.shape[1]}x{rgb.shape[0]}: PSNR {score:.1f} dB, max |err| {err:.2e}")
        assert score >= MIN_PSNR_DB and err <= MAX_ABS_ERR, f"{case.id} on {name}: PSNR {score:.1f} dB, max |err| {err:.2e}"


def test_the_cases_cover_every_original() -> None:
    used = {source.split(":")[0].split("/")[0] for case in (*CASES, *PYTORCH_CASES) for source in case.sources.values()}
    assert used == {p.name for p in ORIGINAL.iterdir()}
    (hosoda,) = PYTORCH_CASES
    assert set(hosoda.sources.values()) == {f"cartoongan_hosoda/{p.name}" for p in (ORIGINAL / "cartoongan_hosoda").iterdir()}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_converted_model_matches_the_shipped_file_on_real_photos(case: ConvertCase, workdir: Path, photos: Path) -> None:
    spec = STYLES.get(case.style)
    ours = Stylizer(spec, backend(case, converted(case, workdir)))
    shipped = Stylizer(spec, backend(case, ANIME / case.shipped))
    assert_same_outputs(case, ours, shipped, photos)


@pytest.mark.slow
@pytest.mark.parametrize("case", PYTORCH_CASES, ids=lambda c: c.id)
def test_converted_model_matches_our_pytorch_build_on_real_photos(case: ConvertCase, workdir: Path, photos: Path) -> None:
    """The CartoonGAN graph (written by the converter, RGB) against :class:`animegan.archs.cartoongan.Generator`
    (BGR) loaded with the same 94 released tensors, both padded to the style's multiple of 4 by the Stylizer."""
    spec = STYLES.get(case.style)
    reference = PyTorchCartoonGan(case.inputs(workdir / "inputs"))
    assert sum(p.numel() for p in reference.model.parameters()) == PARAMETERS == 11_129_667
    ours = Stylizer(spec, backend(case, converted(case, workdir)))
    assert_same_outputs(case, ours, Stylizer(spec, reference), photos)


@pytest.mark.parametrize("case", (*CASES, *PYTORCH_CASES), ids=lambda c: c.id)
def test_conversion_is_deterministic_and_gives_the_recorded_bytes(case: ConvertCase, workdir: Path) -> None:
    again = workdir / "second" / case.shipped
    CONVERSIONS[case.conversion](case.inputs(workdir / "inputs"), again)
    first = converted(case, workdir)
    assert first.read_bytes() == again.read_bytes(), "two conversions of the same input must give the same bytes"
    assert sha256(again) == case.result_sha256, f"{case.id}: the converter's output changed ({sha256(again)})"
    assert not list(again.parent.glob(".convert-*")), "no temporary file may be left behind"


def test_v2_state_dict_is_the_shipped_file_tensor_for_tensor_and_byte_for_byte(workdir: Path) -> None:
    case = BY_ID["v2_hayao"]
    ours = torch.load(converted(case, workdir), weights_only=True)
    shipped = torch.load(ANIME / case.shipped, weights_only=True)
    assert list(ours) == list(shipped)
    unequal = [k for k in ours if ours[k].dtype != shipped[k].dtype or not torch.equal(ours[k], shipped[k])]
    assert not unequal, f"tensors differ: {unequal}"
    assert sha256(converted(case, workdir)) == sha256(ANIME / case.shipped)


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.id.startswith("v1_")], ids=lambda c: c.id)
def test_v1_statistics_graft_builds_on_the_converted_graph(case: ConvertCase, workdir: Path) -> None:
    record = derived.graft_onnx_stats(converted(case, workdir), workdir / f"{case.id}-stats.onnx")
    assert record["norm_moments"] == 80 and record["max_abs_err"] < 1e-5, record


@pytest.mark.slow
def test_cartoongan_statistics_graft_builds_on_the_converted_graph(workdir: Path) -> None:
    case = BY_ID["cartoongan_hosoda"]
    record = derived.graft_onnx_stats(converted(case, workdir), workdir / f"{case.id}-stats.onnx")
    assert record["norm_moments"] == 42 and record["max_abs_err"] < 1e-5, record  # 21 instance norms


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.id.startswith("v3_")], ids=lambda c: c.id)
def test_v3_int8_quantization_builds_and_passes_its_guard(case: ConvertCase, workdir: Path) -> None:
    src = converted(case, workdir)
    spec = STYLES.get(case.style)
    record = derived.quantize_int8(src, workdir / f"{case.id}-int8.onnx", spec.value_range, backend(case, src),
                                   lambda p: GraphBackend(open_graph(p, "onnxruntime", 2), spec.input_name, spec.output_name))
    assert record["passed"] and record["quantized_convs"] == record["convs"] - 7, record


# ---- malformed and unexpected inputs ---------------------------------------------------------


@pytest.mark.parametrize("case", [BY_ID["v2_hayao"], BY_ID["v3_hayao36"], BY_ID["v3_shinkai37"], BY_ID["v1_hayao"]],
                         ids=lambda c: c.id)
def test_a_truncated_original_is_a_clear_error(case: ConvertCase, workdir: Path, tmp_path: Path) -> None:
    inputs = case.inputs(workdir / "inputs")
    role = "weights.bin" if "weights.bin" in inputs else "model"
    cut = tmp_path / f"cut-{inputs[role].name}"
    cut.write_bytes(inputs[role].read_bytes()[: inputs[role].stat().st_size // 2])
    with pytest.raises(WeightsError, match=str(cut).replace(".", r"\.")):
        CONVERSIONS[case.conversion]({**inputs, role: cut}, tmp_path / case.shipped)
    assert not (tmp_path / case.shipped).exists()


@pytest.mark.parametrize(("conversion", "files", "message"), [
    ("tflite-onnx", {"model": "AnimeGANv3_Shinkai_37.pb"}, "not a TFLite model"),
    ("tflite-onnx", {"model": "animeganv2_hayao_256x256_integer_quant.tflite"}, r"operator 0 \(QUANTIZE\) is not supported"),
    ("tflite-int8-animeganv2", {"model": "AnimeGANv3_Hayao_36_QUANTIZED_fp16.tflite"}, "expected an AnimeGANv2 generator"),
    ("tf-graph-onnx", {"model": "AnimeGANv3_Hayao_36_QUANTIZED_fp16.tflite"}, "GraphDef"),
    ("tfjs-onnx", {"model.json": "AnimeGANv3_Shinkai_37.pb", "weights.bin": "AnimeGANv3_Shinkai_37.pb"},
     "not a readable tfjs model.json"),
])
def test_the_wrong_file_is_a_clear_error(conversion: str, files: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=message) as info:
        CONVERSIONS[conversion]({role: ORIGINAL / name for role, name in files.items()}, tmp_path / "out")
    assert any(name in str(info.value) for name in files.values()), "the message must name the file"
    assert not (tmp_path / "out").exists()


def test_a_shard_of_another_model_is_a_clear_error(workdir: Path, tmp_path: Path) -> None:
    v1 = BY_ID["v1_hayao"].inputs(workdir / "inputs")
    whitebox = BY_ID["whitebox"].inputs(workdir / "inputs")
    shard = tmp_path / "group1-shard1of1.bin"
    shutil.copy(whitebox["weights.bin"], shard)
    with pytest.raises(WeightsError, match=r"group1-shard1of1\.bin: holds 2934592 bytes"):
        CONVERSIONS["tfjs-onnx"]({"model.json": v1["model.json"], "weights.bin": shard}, tmp_path / "out.onnx")


def test_cartoongan_originals_that_are_cut_misplaced_or_missing_are_clear_errors(workdir: Path, tmp_path: Path) -> None:
    inputs = BY_ID["cartoongan_hosoda"].inputs(workdir / "inputs")
    cut = tmp_path / "conv05_2.weight.npy"
    cut.write_bytes(inputs[cut.name].read_bytes()[:1000])
    swapped = {**inputs, "conv02_1.weight.npy": inputs["conv02_2.weight.npy"]}
    without = {k: v for k, v in inputs.items() if k != "in07_2.scale.npy"}
    for bad, message in (({**inputs, cut.name: cut}, rf"{re.escape(str(cut))}: not a readable \.npy tensor"),
                         (swapped, r"conv02_2\.weight\.npy: holds float32 \[128, 128, 3, 3\]; conv02_1\.weight must be "
                                   r"float32 \[128, 64, 3, 3\]"),
                         (without, r"94 released tensor files; missing: in07_2\.scale\.npy$")):
        with pytest.raises(WeightsError, match=message):
            CONVERSIONS["cartoongan-onnx"](bad, tmp_path / "out.onnx")
        assert not (tmp_path / "out.onnx").exists()
