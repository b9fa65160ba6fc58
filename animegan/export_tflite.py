"""TFLite export: a fixed-size wrapper graph of :mod:`animegan.mobile`, folded here, converted by
:mod:`animegan.export_tflite_tool` in the mobile tool environment (TensorFlow, ``make mobile-tools``), run by LiteRT."""

from __future__ import annotations

import importlib
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx

from .errors import BackendUnavailableError
from .mobile import folded

TOOL = Path(__file__).with_name("export_tflite_tool.py")
DEFAULT_TOOL_PYTHON = Path(__file__).resolve().parent.parent / ".venv-mobile" / "bin" / "python"
"""The interpreter of the tool environment ``make mobile-tools`` creates next to the package's checkout."""
TOOL_TIMEOUT = 600


def convert(model: onnx.ModelProto, dst: Path, python: Path | None = None) -> str:
    """Write ``dst`` (a ``.tflite``) from the fixed-size wrapper ``model``; returns the converter's name and version.
    ``python`` is the tool environment's interpreter (default :data:`DEFAULT_TOOL_PYTHON`).
    Raises BackendUnavailableError if it is missing or fails."""
    python = python or DEFAULT_TOOL_PYTHON
    if not python.is_file():
        raise BackendUnavailableError(f"TFLite export needs TensorFlow's tool environment at {python}: run "
                                      "`make mobile-tools`, or pass --tool-python PYTHON of one with "
                                      "requirements-mobile-tools.txt")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="animegan-tflite-") as tmp:
        src = Path(tmp) / "model.onnx"
        onnx.save(folded(model), src)
        try:
            run = subprocess.run([str(python), str(TOOL), str(src), str(dst)], capture_output=True, text=True,
                                 timeout=TOOL_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as err:
            raise BackendUnavailableError(f"the TFLite converter took longer than {TOOL_TIMEOUT} s") from err
    if run.returncode != 0 or not dst.is_file():
        lines = [line for line in run.stderr.strip().splitlines() if line.strip()]
        raise BackendUnavailableError(f"the TFLite converter failed: {lines[-1] if lines else run.returncode}")
    return run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "tensorflow"


def runner(path: Path, threads: int) -> tuple[Any, str, str]:
    """A function running the model with LiteRT (1×3×H×W float32 → 1×3×H×W float32; the file is NHWC), and its
    input and output tensor names. Raises BackendUnavailableError if ai-edge-litert is not installed."""
    try:
        litert: Any = importlib.import_module("ai_edge_litert.interpreter")
    except ImportError as err:
        raise BackendUnavailableError("running a TFLite export needs ai-edge-litert: "
                                      "pip install -r requirements-mobile.txt") from err
    interpreter = litert.Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()

    def run(x_nchw: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        interpreter.set_tensor(inp["index"], np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1)))
        interpreter.invoke()
        return np.ascontiguousarray(interpreter.get_tensor(out["index"]).transpose(0, 3, 1, 2))

    return run, str(inp["name"]), str(out["name"])
