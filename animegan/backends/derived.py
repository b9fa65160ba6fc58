"""Models derived from a verified weight file: ONNX exports of PyTorch generators and INT8 quantizations.

Derived files are built here, from the verified source, and never downloaded. They live in
``Settings.model_cache_dir`` named by the source's SHA-256 and :data:`RECIPE`; each ``.onnx`` has a
``.json`` record holding its own SHA-256, the source's, and what was measured when it was built
(export error against PyTorch, or the INT8 quality guard). A file whose bytes no longer match its
record is rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import BackendUnavailableError
from ..quality import MIN_PSNR, MIN_SSIM, psnr, ssim
from ..resample import resize
from ..settings import REPO_ROOT
from ..weights import sha256_of
from . import Backend, FloatArray

log = logging.getLogger(__name__)

RECIPE = 3
"""Bump when the export or quantization recipe changes: older derived files are then ignored."""
CALIBRATION_DIR = REPO_ROOT / "examples"
"""Real photos shipped with the project: INT8 calibration and the build-time quality guard."""
CALIBRATION_SIDE = 256
KEEP_FP32_FIRST, KEEP_FP32_LAST = 5, 2
"""Convolutions left in fp32 at each end of the graph. In the v2 generator these are block_a/block_b
(near the raw pixels) and the full-resolution 7×7 and output convolutions: quantizing them too drops
SSIM against fp32 from 0.99 to 0.93 (see README, "Speed")."""
EXPORT_NAMES = ("x", "y")
"""Input and output tensor names of an exported generator (``x → y``)."""
EXPORT_ATOL = 1e-2
"""Largest |ONNX − PyTorch| accepted for an fp32 export (values in [-1, 1])."""


@dataclass(frozen=True)
class Derived:
    """A derived model file and its build record."""

    path: Path
    record: dict[str, Any]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock so that two processes never build the same file at once.

    Raises BackendUnavailableError when the lock cannot be created (a read-only model cache)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = path.open("a")
    except OSError as err:
        raise BackendUnavailableError(f"cannot build models in {path.parent} ({err.strerror}); "
                                      "set ANIMEGAN_MODEL_CACHE_DIR to a writable folder") from err
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached(root: Path, source_sha256: str, kind: str, build: Callable[[Path], dict[str, Any]],
           suffix: str = ".onnx") -> Derived:
    """The derived model ``kind`` of the source with ``source_sha256``, built by ``build(path)`` if absent.

    A cached model that matches its record is used without writing anything (the cache may be read-only).
    Otherwise ``build`` writes the model to the path it is given and returns facts for the record. The file
    is written under a temporary name and renamed, so a crash never leaves a half-written model.
    Raises BackendUnavailableError when the build fails or the cache cannot be written.
    """
    stem = f"{source_sha256[:16]}-{kind}-r{RECIPE}"
    path, record_path = root / f"{stem}{suffix}", root / f"{stem}.json"
    found = _read_record(path, record_path, source_sha256)
    if found is not None:
        return found
    with _file_lock(root / f"{stem}.lock"):
        found = _read_record(path, record_path, source_sha256, quiet=True)  # built by another process meanwhile?
        if found is not None:
            return found
        log.info("building %s model %s (once; cached in %s)", kind, path.name, root)
        tmp: Path | None = None
        try:
            fd, tmp_name = tempfile.mkstemp(dir=root, suffix=f".part{suffix}")
            os.close(fd)
            tmp = Path(tmp_name)
            facts = build(tmp)
            record = {"kind": kind, "recipe": RECIPE, "source_sha256": source_sha256, "sha256": sha256_of(tmp), **facts}
            tmp.replace(path)
            record_path.write_text(json.dumps(record, indent=2))
        except BackendUnavailableError:
            raise
        except Exception as err:  # exporters and quantizers raise many types
            raise BackendUnavailableError(f"building the {kind} model from {source_sha256[:12]}… failed: {err}") from err
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        return Derived(path, record)


def exists(root: Path, source_sha256: str, kind: str, suffix: str = ".onnx") -> bool:
    """Whether a derived model is cached (its bytes are checked when it is used)."""
    stem = f"{source_sha256[:16]}-{kind}-r{RECIPE}"
    return (root / f"{stem}{suffix}").is_file() and (root / f"{stem}.json").is_file()


def _read_record(path: Path, record_path: Path, source_sha256: str, quiet: bool = False) -> Derived | None:
    if not (path.is_file() and record_path.is_file()):
        return None
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("source_sha256") != source_sha256 or record.get("sha256") != sha256_of(path):
        if not quiet:
            log.warning("cached model %s does not match its record; rebuilding it", path.name)
        return None
    return Derived(path, record)


# ---- ONNX export of the PyTorch generators ----------------------------------------------------


def image_dims(min_side: int = 32) -> tuple[Any, Any]:
    """``torch.export.Dim`` objects for a dynamic image height and width."""
    import torch

    return torch.export.Dim("height", min=min_side, max=16384), torch.export.Dim("width", min=min_side, max=16384)


def export_checked(model: Any, args: tuple[Any, ...], names: list[str], outputs: list[str], shapes: Any,
                   dst: Path, dynamic_axes: dict[str, dict[int, str]] | None = None) -> float:
    """``torch.onnx.export(dynamo=True)`` of an eval-mode ``model`` to ``dst``, then run once in onnxruntime
    on ``args`` against PyTorch: returns the largest |ONNX − PyTorch|.

    With ``dynamic_axes`` (plain convolution stacks only) the TorchScript exporter is used instead: for the
    23-block RRDBNet upscaler it takes 7 s where the dynamo exporter takes 92 s (2 cores), same graph.
    Raises BackendUnavailableError if the exporter returns nothing or the error exceeds :data:`EXPORT_ATOL`.
    """
    import torch

    with torch.inference_mode():
        expected = model(*args)
    if dynamic_axes is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its deprecation notice
            torch.onnx.export(model, args, str(dst), dynamo=False, input_names=names, output_names=outputs,
                              dynamic_axes=dynamic_axes, opset_version=17)
    else:
        program = torch.onnx.export(model, args, dynamo=True, dynamic_shapes=shapes, input_names=names,
                                    output_names=outputs, optimize=True, verbose=False)
        if program is None:
            raise BackendUnavailableError("torch.onnx.export returned no program")
        program.save(str(dst))
    import onnxruntime as ort

    session = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    got = session.run(None, {n: a.numpy() for n, a in zip(names, args, strict=True)})
    want = expected if isinstance(expected, tuple) else (expected,)
    err = max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))
    if err > EXPORT_ATOL:
        raise BackendUnavailableError(f"the ONNX export differs from PyTorch by {err:.3g} (> {EXPORT_ATOL}); use --backend torch")
    return err


def export_onnx(generator: Any, dst: Path, with_stats: bool = False) -> dict[str, Any]:
    """Export an NCHW generator as an NHWC ONNX graph with dynamic height and width.

    ``with_stats`` exports ``(x, given, mix) → (y, stats)`` (see ``Generator.forward_with_stats``)
    instead of ``x → y``. The export is checked in onnxruntime against PyTorch on a real photo;
    returns the record facts (``max_abs_err``). Raises BackendUnavailableError if it disagrees.
    """
    import torch

    from ..archs.animeganv2 import NORM_LAYERS
    from ..archs.layout import Nhwc, NhwcWithStats

    generator = generator.eval()
    x = torch.from_numpy(calibration_images(side=128)[0][None] * 2 - 1)
    dim_h, dim_w = image_dims()
    if with_stats:
        model: torch.nn.Module = NhwcWithStats(generator).eval()
        given, mix = torch.zeros(NORM_LAYERS, 2), torch.tensor(0.0)
        args: tuple[torch.Tensor, ...] = (x, given, mix)
        names, outputs = ["x", "given", "mix"], ["y", "stats"]
        shapes: Any = {"x": {1: dim_h, 2: dim_w}, "given": None, "mix": None}
    else:
        model, args, names, outputs = Nhwc(generator).eval(), (x,), [EXPORT_NAMES[0]], [EXPORT_NAMES[1]]
        shapes = {"x": {1: dim_h, 2: dim_w}}
    err = export_checked(model, args, names, outputs, shapes, dst)
    return {"max_abs_err": err, "with_stats": with_stats}


# ---- Given normalization statistics grafted into a shipped ONNX graph -------------------------


def graft_onnx_stats(src: Path, dst: Path) -> dict[str, Any]:
    """Write ``src`` as an ``(x, given, mix) → (y, stats)`` graph (see :func:`.graft.graft_given_stats`) to ``dst``.

    Checked in onnxruntime on a real photo: with ``mix = 0``, and with ``mix = 1`` given the photo's own
    statistics, it must reproduce ``src``. Returns the record facts (``norm_moments``, ``stats_size``,
    ``max_abs_err``). Raises BackendUnavailableError if it differs.
    """
    import onnx
    import onnxruntime as ort

    from .graft import GIVEN, MIX, STATS, graft_given_stats

    grafted, moments = graft_given_stats(onnx.load(str(src)))
    onnx.save(grafted, str(dst))
    original = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    session = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    x_name, y_name = original.get_inputs()[0].name, original.get_outputs()[0].name
    x = calibration_images(side=128)[0][None] * 2 - 1
    (want,) = original.run([y_name], {x_name: x})
    size = sum(m.channels for m in moments)
    own, stats = session.run([y_name, STATS], {x_name: x, GIVEN: np.zeros(size, np.float32), MIX: np.array(0, np.float32)})
    given, _ = session.run([y_name, STATS], {x_name: x, GIVEN: stats, MIX: np.array(1, np.float32)})
    err = max(float(np.abs(own - want).max()), float(np.abs(given - want).max()))
    if err > EXPORT_ATOL:
        raise BackendUnavailableError(f"the statistics graph of {src.name} differs from it by {err:.3g} (> {EXPORT_ATOL})")
    return {"norm_moments": len(moments), "stats_size": size, "max_abs_err": err}


# ---- INT8 quantization ------------------------------------------------------------------------


def calibration_images(side: int = CALIBRATION_SIDE) -> list[npt.NDArray[np.float32]]:
    """The shipped example photos as H×W×3 float32 in [0, 1], longer side ``side``, sides multiples of 16."""
    from PIL import Image

    images = []
    for path in sorted(CALIBRATION_DIR.glob("*.png")):
        with Image.open(path) as im:
            rgb = im.convert("RGB")
            scale = side / max(rgb.size)
            width, height = (max(32, round(s * scale / 16) * 16) for s in rgb.size)
            images.append(np.asarray(rgb.resize((width, height), Image.Resampling.BICUBIC), np.float32) / 255.0)
    if not images:
        raise BackendUnavailableError(f"no calibration photos (*.png) in {CALIBRATION_DIR}")
    return images


def quantize_int8(src: Path, dst: Path, value_range: tuple[float, float], run_fp32: Backend,
                  open_int8: Callable[[Path], Backend]) -> dict[str, Any]:
    """Static INT8 quantization of ``src`` (QDQ, per-channel int8 weights, uint8 activations, only
    convolutions: normalizations and activations stay fp32, and so do the first
    :data:`KEEP_FP32_FIRST` and last :data:`KEEP_FP32_LAST` convolutions), calibrated on the example photos.

    Then the quality guard (the INT8 model against ``run_fp32`` on the same photos); returns the record
    facts (``psnr_min``, ``ssim_min``, ``passed``). Its speed is measured where it runs (:mod:`.choice`).
    """
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    (model_input,) = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()
    input_name = model_input.name
    feeds = style_feeds(tuple(model_input.shape), value_range)
    convs = [n.name for n in onnx.load(str(src), load_external_data=False).graph.node if n.op_type == "Conv"]
    quantized = convs[KEEP_FP32_FIRST:len(convs) - KEEP_FP32_LAST]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(feeds)

        def get_next(self) -> dict[str, FloatArray] | None:
            x = next(self.items, None)
            return None if x is None else {input_name: x}

    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
                        nodes_to_quantize=quantized)
    int8 = open_int8(dst)
    facts = image_quality([[run_fp32.run(x)] for x in feeds], [[int8.run(x)] for x in feeds], value_range)
    return {**facts, "quantized_convs": len(quantized), "convs": len(convs)}


def style_feeds(shape: tuple[object, ...], value_range: tuple[float, float],
                side: int = CALIBRATION_SIDE) -> list[FloatArray]:
    """The example photos as inputs of a 1×H×W×3 generator whose input has this ``shape``: in its value range, at
    ``side`` px on the longer side (multiples of 16), or resized to its fixed size."""
    lo, hi = value_range
    height, width = shape[1:3]
    feeds = []
    for img in calibration_images(side):
        if isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0:
            img = resize(img, height, width)
        feeds.append((img * (hi - lo) + lo)[None].astype(np.float32))
    return feeds


def image_quality(reference: list[list[FloatArray]], candidate: list[list[FloatArray]],
                  value_range: tuple[float, float]) -> dict[str, Any]:
    """The quality guard of a reduced-precision model: its first output against the fp32 reference's on each probe
    (1×H×W×3 in ``value_range``): worst PSNR and SSIM, and whether both pass (:data:`..quality.MIN_PSNR`,
    :data:`..quality.MIN_SSIM`)."""
    lo, hi = value_range
    psnrs, ssims = [], []
    for want, got in zip(reference, candidate, strict=True):
        a = np.clip((want[0][0] - lo) / (hi - lo), 0, 1)
        b = np.clip((got[0][0] - lo) / (hi - lo), 0, 1)
        psnrs.append(psnr(a, b))
        ssims.append(ssim(a, b))
    facts = {"psnr_min": round(min(psnrs), 2), "ssim_min": round(min(ssims), 4)}
    passed = facts["psnr_min"] >= MIN_PSNR and facts["ssim_min"] >= MIN_SSIM
    return {**facts, "passed": passed, "guard": f"PSNR ≥ {MIN_PSNR} dB and SSIM ≥ {MIN_SSIM} vs fp32 on {len(reference)} photos"}
