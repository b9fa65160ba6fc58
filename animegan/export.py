"""``python -m animegan export``: a style as a standalone model for another runtime, with its contract beside it.

``onnx`` is the style's generator as the engine runs it (NHWC, the style's own value range, no grade). The mobile
formats (``ncnn``, ``tflite``, ``openvino``) take and give RGB in [0, 1] with the style's value range and colour
grade inside the graph (:mod:`animegan.mobile`); each is run by its own runtime against onnxruntime before it is
kept, and refused when it differs (docs/mobile.md). Every export gets a JSON contract: ``ID.json`` in the folder,
or ``FILE.json`` beside the file. The converters are imported only here, when used (requirements-mobile.txt).
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from . import __version__
from .backends import open_style_backend
from .backends.graphs import GraphBackend
from .errors import BackendUnavailableError, InvalidOptionError
from .pipeline import Engine
from .quality import psnr
from .styles import STYLES, StyleSpec
from .weights import sha256_of

ExportFormat = Literal["onnx", "ncnn", "tflite", "openvino"]
FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
DEFAULT_TFLITE_SIZE = 512
MIN_PSNR = 40.0
"""An export must reach this PSNR (dB) against onnxruntime on the same graph at every checked size."""
CHECK_SIZES = ((256, 320), (320, 192))
"""Sizes (H, W; rounded up to the style's size rule) at which a dynamic-size export is checked."""
DYNAMIC_FORMATS = ("ncnn", "openvino")

Run = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]


@dataclass(frozen=True)
class Export:
    """What :func:`export_style` wrote: the model's files, its JSON contract and that contract's content."""

    style: str
    format: ExportFormat
    files: tuple[Path, ...]
    contract: Path
    record: dict[str, Any]


def export_style(engine: Engine, style_id: str, fmt: ExportFormat, dst: Path, size: int | None = None,
                 int8: bool = False, tool_python: Path | None = None) -> Export:
    """Export a style to ``dst``: the ``.onnx`` or ``.tflite`` file, or the folder of an ncnn or OpenVINO export.

    ``size`` is the fixed input side of a TFLite export (default 512; a fixed-size style's own size), ``int8`` the
    static INT8 ONNX export (checked against fp32), ``tool_python`` the interpreter of the TensorFlow tool
    environment for TFLite. Raises UnknownStyleError, WeightsError, InvalidOptionError (an option or format this
    style cannot have, e.g. a grade ncnn cannot express) and BackendUnavailableError (a converter or runtime is
    missing, or the converted model differs from the style's own).
    """
    spec = STYLES.get(style_id)
    if fmt not in FORMATS:
        raise InvalidOptionError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if int8 and fmt != "onnx":
        raise InvalidOptionError("--int8 applies to --format onnx only")
    if size is not None and fmt != "tflite":
        raise InvalidOptionError(f"--size applies to --format tflite only ({fmt} takes any size the style allows)")
    if fmt == "onnx":
        return _export_onnx(engine, spec, dst, int8)
    _check_grade(spec, fmt)
    if fmt == "tflite":
        return _export_tflite(engine, spec, dst, _tflite_size(spec, size), tool_python)
    return _export_dynamic(engine, spec, fmt, dst)


def _check_grade(spec: StyleSpec, fmt: ExportFormat) -> None:
    from .mobile import GRAPH_GRADES

    if spec.grade is None:
        return
    if spec.grade not in GRAPH_GRADES:
        raise InvalidOptionError(f"style {spec.id}'s grade {spec.grade!r} cannot be expressed in {fmt}")
    if fmt == "ncnn":
        raise InvalidOptionError(f"style {spec.id}'s grade {spec.grade!r} cannot be expressed in ncnn: its blur "
                                 "radius follows the picture's size, which an ncnn graph cannot compute; export "
                                 "openvino or tflite instead")


def _tflite_size(spec: StyleSpec, size: int | None) -> tuple[int, int]:
    rule = spec.size
    if rule.fixed:
        if size is not None and (size, size) != rule.fixed:
            raise InvalidOptionError(f"style {spec.id!r} runs at a fixed {rule.fixed[0]}×{rule.fixed[1]}; "
                                     f"--size {size} is not that size")
        return rule.fixed
    side = DEFAULT_TFLITE_SIZE if size is None else size
    if side < rule.min_side or side % rule.multiple_of:
        raise InvalidOptionError(f"--size {side} does not suit style {spec.id!r}: use a multiple of "
                                 f"{rule.multiple_of} of at least {rule.min_side}")
    return side, side


def check_sizes(spec: StyleSpec) -> list[tuple[int, int]]:
    """The (H, W) sizes a dynamic-size export of ``spec`` is converted at (the first) and checked at."""
    if spec.size.fixed:
        return [spec.size.fixed]
    return list(dict.fromkeys(spec.size.padded(h, w) for h, w in CHECK_SIZES))


# ---- the formats ------------------------------------------------------------------------------


def _export_onnx(engine: Engine, spec: StyleSpec, dst: Path, int8: bool) -> Export:
    backend = open_style_backend("onnx-int8" if int8 else "onnx", engine.style_model(spec.id), engine.settings)
    if not isinstance(backend, GraphBackend):
        raise BackendUnavailableError(f"style {spec.id!r} has no ONNX model")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(backend.path, dst)
    model = engine.onnx_model(spec.id)
    lo, hi = spec.value_range
    tensor = {"layout": "NHWC", "shape": [1, "height", "width", 3], "dtype": "float32", "range": [lo, hi],
              "channels": "RGB"}
    return _finish(engine, spec, "onnx", dst.with_suffix(".json"), (dst,), {
        "input": {"name": backend.input_name, **tensor},
        "output": {"name": backend.output_name, **tensor},
        "size": _size_rule(spec, None),
        "grade": {"name": spec.grade, "in_graph": False} if spec.grade else None,
        "precision": "int8" if int8 else "fp32",
        "caller_does": "pad to the size rule, map [0, 1] to the value range and back, clip"
                       + (f", then apply the grade {spec.grade!r}" if spec.grade else ""),
    }, model.sha256)


def _wrapper(engine: Engine, spec: StyleSpec, fixed: tuple[int, int] | None) -> tuple[Any, str]:
    """The style's generator wrapped for RGB in [0, 1] (see :mod:`animegan.mobile`) and its source's SHA-256."""
    import onnx

    from .mobile import GraphSize, wrap_generator

    model = engine.onnx_model(spec.id)
    graph = wrap_generator(onnx.load(str(model.path)), spec, model.input_name, model.output_name, model.layout,
                           GraphSize(fixed))
    return graph, model.sha256


def _export_dynamic(engine: Engine, spec: StyleSpec, fmt: ExportFormat, out_dir: Path) -> Export:
    wrapper, source_sha = _wrapper(engine, spec, spec.size.fixed)
    sizes = check_sizes(spec)
    threads = engine.settings.threads
    if fmt == "ncnn":
        from . import export_ncnn

        param, weights = export_ncnn.convert(export_ncnn.ncnn_ready(wrapper, sizes), out_dir, spec.id, sizes[0])
        files, names = (param, weights), (export_ncnn.INPUT_BLOB, export_ncnn.OUTPUT_BLOB)
        converter, runtime = f"pnnx {_version('pnnx')}", f"ncnn {_version('ncnn')}"
        run: Run = _removing(files, fmt, spec, lambda: export_ncnn.runner(param, weights, threads))
    else:
        from . import export_openvino

        xml, weights = export_openvino.convert(wrapper, out_dir, spec.id)
        files, names = (xml, weights), export_openvino.io_names(xml)
        converter = runtime = f"openvino {_version('openvino')}"
        run = _removing(files, fmt, spec, lambda: export_openvino.runner(xml, threads))
    checked = _verify(spec, fmt, wrapper, run, sizes, files)
    h, w = spec.size.fixed or ("height", "width")
    tensor = {"layout": "NCHW", "shape": [1, 3, h, w], "dtype": "float32", "range": [0.0, 1.0], "channels": "RGB"}
    return _finish(engine, spec, fmt, out_dir / f"{spec.id}.json", files, {
        "input": {"name": names[0], **tensor},
        "output": {"name": names[1], **tensor},
        "size": _size_rule(spec, None),
        "grade": {"name": spec.grade, "in_graph": True} if spec.grade else None,
        "precision": "fp32",
        "caller_does": _caller_does(spec),
        "converter": converter,
        "verified": {"runtime": runtime, **checked},
    }, source_sha)


def _export_tflite(engine: Engine, spec: StyleSpec, dst: Path, size: tuple[int, int], tool_python: Path | None) -> Export:
    from . import export_tflite

    if dst.suffix != ".tflite":
        raise InvalidOptionError(f"a TFLite export is written to a .tflite file, not {dst.name!r}")
    wrapper, source_sha = _wrapper(engine, spec, size)
    converter = export_tflite.convert(wrapper, dst, tool_python)
    run, input_name, output_name = _removing((dst,), "tflite", spec, lambda: export_tflite.runner(dst, engine.settings.threads))
    checked = _verify(spec, "tflite", wrapper, run, [size], (dst,))
    tensor = {"layout": "NHWC", "shape": [1, size[0], size[1], 3], "dtype": "float32", "range": [0.0, 1.0],
              "channels": "RGB"}
    return _finish(engine, spec, "tflite", dst.with_suffix(".json"), (dst,), {
        "input": {"name": input_name, **tensor},
        "output": {"name": output_name, **tensor},
        "size": _size_rule(spec, size),
        "grade": {"name": spec.grade, "in_graph": True} if spec.grade else None,
        "precision": "fp32",
        "caller_does": _caller_does(spec, size),
        "converter": f"animegan.export_tflite_tool on {converter}",
        "verified": {"runtime": f"ai-edge-litert {_version('ai-edge-litert')}", **checked},
    }, source_sha)


# ---- checks and the contract ------------------------------------------------------------------


def _removing(files: tuple[Path, ...], fmt: ExportFormat, spec: StyleSpec, load: Callable[[], Any]) -> Any:
    """``load()``, the export's runtime; if it cannot load the files, remove them and say why."""
    try:
        return load()
    except BackendUnavailableError as err:
        for f in files:
            f.unlink(missing_ok=True)
        raise BackendUnavailableError(f"style {spec.id!r} cannot be exported to {fmt}: {err}") from err


def _verify(spec: StyleSpec, fmt: ExportFormat, wrapper: Any, run: Run, sizes: list[tuple[int, int]],
            files: tuple[Path, ...]) -> dict[str, Any]:
    """Run the export and onnxruntime (the wrapper graph, which is the app's own computation) on a test pattern
    at each size; remove ``files`` and raise BackendUnavailableError if any PSNR is below :data:`MIN_PSNR`."""
    import onnxruntime as ort

    from .mobile import pattern_image, with_fixed_size

    results = {}
    for h, w in sizes:
        reference = ort.InferenceSession(with_fixed_size(wrapper, h, w).SerializeToString(),
                                         providers=["CPUExecutionProvider"])
        x = pattern_image(h, w)
        (expected,) = reference.run(None, {"input": x})
        got = run(x)
        results[f"{h}x{w}"] = round(psnr(got, expected), 1) if got.shape == expected.shape else float("-inf")
    worst_size, worst = min(results.items(), key=lambda kv: kv[1])
    if worst < MIN_PSNR:
        for f in files:
            f.unlink(missing_ok=True)
        found = f"PSNR {worst:.1f} dB" if worst > float("-inf") else "a wrong output shape"
        raise BackendUnavailableError(f"style {spec.id!r} cannot be exported to {fmt}: the converted model gives "
                                      f"{found} against the style's own at {worst_size.replace('x', '×')} "
                                      f"(at least {MIN_PSNR:.0f} dB needed)")
    return {"input": "animegan.mobile.pattern_image", "psnr_db": results, "min_psnr_db": MIN_PSNR}


def _size_rule(spec: StyleSpec, fixed: tuple[int, int] | None) -> dict[str, Any]:
    rule = spec.size
    if fixed or rule.fixed:
        h, w = fixed or rule.fixed or (0, 0)
        return {"fixed": [h, w], "text": f"exactly {h}×{w}"}
    return {"multiple_of": rule.multiple_of, "min_side": rule.min_side,
            "text": f"height and width multiples of {rule.multiple_of}, at least {rule.min_side} px"}


def _caller_does(spec: StyleSpec, fixed: tuple[int, int] | None = None) -> str:
    if fixed or spec.size.fixed:
        return "resize the picture to the fixed size and the result back"
    return "reflect-pad the picture to the size rule (split between both ends) and crop the result back"


def _finish(engine: Engine, spec: StyleSpec, fmt: ExportFormat, contract: Path, files: tuple[Path, ...],
            facts: dict[str, Any], source_sha: str) -> Export:
    entry = engine.weights.entry(spec.weights)
    record: dict[str, Any] = {
        "style": spec.id, "label": spec.label, "family": spec.family, "format": fmt,
        "files": [f.name for f in files],
        "sha256": {f.name: sha256_of(f) for f in files},
        **facts,
        "license": entry.license,
        "source": {"weights": entry.file, "weights_sha256": entry.sha256, "onnx_sha256": source_sha},
        "animegan": __version__,
    }
    contract.parent.mkdir(parents=True, exist_ok=True)
    contract.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return Export(spec.id, fmt, files, contract, record)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
