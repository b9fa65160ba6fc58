"""OpenVINO IR export: a wrapper graph of :mod:`animegan.mobile` converted by OpenVINO's ONNX reader (fp32 weights)."""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx


def convert(model: onnx.ModelProto, out_dir: Path, name: str) -> tuple[Path, Path]:
    """Write ``out_dir/name.xml`` and ``out_dir/name.bin`` (fp32, dynamic height and width as ``model`` has)."""
    ov: Any = importlib.import_module("openvino")
    with tempfile.TemporaryDirectory(prefix="animegan-ov-") as tmp:
        src = Path(tmp) / "model.onnx"
        onnx.save(model, src)
        converted = ov.convert_model(str(src))
    out_dir.mkdir(parents=True, exist_ok=True)
    xml = out_dir / f"{name}.xml"
    ov.save_model(converted, str(xml), compress_to_fp16=False)  # the default would halve the weights to fp16
    return xml, xml.with_suffix(".bin")


def io_names(xml: Path) -> tuple[str, str]:
    """The input and output tensor names of an IR."""
    ov: Any = importlib.import_module("openvino")
    model = ov.Core().read_model(str(xml))
    return model.inputs[0].get_any_name(), model.outputs[0].get_any_name()


def runner(xml: Path, threads: int) -> Any:
    """A function running the IR in fp32 on the CPU: 1×3×H×W float32 → 1×3×H×W float32."""
    ov: Any = importlib.import_module("openvino")
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                         "INFERENCE_NUM_THREADS": threads})

    def run(x_nchw: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray(compiled(x_nchw)[0], np.float32)

    return run
