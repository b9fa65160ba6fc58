"""Local conversions from the upstream model formats to the files the product runs.

A conversion is a pure function ``(inputs, dst) -> None``: ``inputs`` maps each role in :data:`ROLES` to a
downloaded file, ``dst`` is the file to write. The same inputs and pinned library versions always give the
same bytes, so the manifest can pin each result's SHA-256. No TensorFlow is needed: TFLite files are read with
``tflite``/``flatbuffers``, GraphDefs with ``protobuf`` (:mod:`.pb`), and the ONNX is written with ``onnx``.
A malformed or unexpected input raises :class:`~animegan.errors.WeightsError` naming the file.

Importing this package is cheap; each conversion imports what it needs when it runs.

- ``tflite-int8-animeganv2``: ``model`` (a full-integer TFLite AnimeGANv2 generator) → a PyTorch state dict
  of :class:`animegan.archs.animeganv2.Generator`.
- ``tflite-onnx``: ``model`` (a float TFLite model, fp16 weights allowed) → ONNX with the TFLite tensor names.
- ``tf-graph-onnx``: ``model`` (a frozen GraphDef ``.pb``) → ONNX with tensors named ``node:0``.
- ``tfjs-onnx``: ``model.json`` and ``weights.bin`` (its one shard) → ONNX with tensors named ``node:0``.
- ``cartoongan-onnx``: the 94 released ``.npy`` tensors of the CartoonGAN generator (one role per file name) →
  ONNX ``x`` → ``y`` built from them (:mod:`.cartoongan`; RGB like every other style, though the network is BGR).

Every ONNX result takes and returns NHWC float32 like the original and runs NCHW inside.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import WeightsError
from .cartoongan import FILES as CARTOONGAN_FILES

Conversion = Callable[[Mapping[str, Path], Path], None]


def tflite_int8_animeganv2(inputs: Mapping[str, Path], dst: Path) -> None:
    """``model``: a full-integer TFLite AnimeGANv2 generator (e.g. PINTO's ``*_integer_quant.tflite``) →
    ``dst``: a ``torch.save`` state dict that loads into :class:`animegan.archs.animeganv2.Generator` with
    ``strict=True`` (int8 weights dequantized; activations' quantization is dropped)."""
    from . import animeganv2, tflite

    model = tflite.read_model(_role(inputs, "model", "tflite-int8-animeganv2"))
    animeganv2.save_state_dict(animeganv2.state_dict(model), dst)


def tflite_onnx(inputs: Mapping[str, Path], dst: Path) -> None:
    """``model``: a float TFLite model (fp32 activations, fp32 or fp16 weights) → ``dst``: ONNX with the
    TFLite input/output names, NHWC float32 like the TFLite model, fp32 weights."""
    from . import tf_graph, tflite

    model = tflite.read_model(_role(inputs, "model", "tflite-onnx"))
    _save_onnx(tf_graph.to_onnx(tflite.to_tf_graph(model)), dst)


def tf_graph_onnx(inputs: Mapping[str, Path], dst: Path) -> None:
    """``model``: a frozen TensorFlow GraphDef (``.pb``) with one Placeholder input → ``dst``: ONNX named
    ``<placeholder>:0`` → ``<output node>:0`` (the one op nothing consumes), dynamic sizes kept."""
    from . import pb, tf_graph

    path = _role(inputs, "model", "tf-graph-onnx")
    graph_def = pb.parse_graph_def(_read(path), str(path))
    _save_onnx(tf_graph.to_onnx(pb.read_graph(graph_def, str(path))), dst)


def tfjs_onnx(inputs: Mapping[str, Path], dst: Path) -> None:
    """``model.json`` + ``weights.bin`` (its one shard, ``group1-shard1of1.bin``): a tfjs graph model →
    ``dst``: ONNX named like the model's signature (``input:0`` → ``output:0``); uint8-quantized weights stay
    uint8 (+ Cast/Mul/Add), float16 ones stay float16 (+ Cast)."""
    from . import tf_graph, tfjs

    graph = tfjs.read_graph_model(_role(inputs, "model.json", "tfjs-onnx"), _role(inputs, "weights.bin", "tfjs-onnx"))
    _save_onnx(tf_graph.to_onnx(graph), dst)


def cartoongan_onnx(inputs: Mapping[str, Path], dst: Path) -> None:
    """The CartoonGAN generator's released tensors (roles: their file names, e.g. ``conv01_1.weight.npy``) → ``dst``:
    ONNX ``x`` → ``y``, 1×H×W×3 RGB float32 in [-1, 1] (H, W multiples of 4), fp32 weights."""
    from . import cartoongan

    _save_onnx(cartoongan.to_onnx(cartoongan.read_tensors(inputs)), dst)


def _guarded(name: str, convert: Conversion) -> Conversion:
    """``convert`` with any stray low-level error (a malformed input the readers did not foresee, a failed
    write) turned into a WeightsError naming the conversion and its files."""

    @functools.wraps(convert)
    def run(inputs: Mapping[str, Path], dst: Path) -> None:
        with _translated(name, inputs, dst):
            convert(inputs, dst)

    return run


@contextlib.contextmanager
def _translated(name: str, inputs: Mapping[str, Path], dst: Path) -> Iterator[None]:
    files = ", ".join(f"{role}={path}" for role, path in sorted(inputs.items()))
    try:
        yield
    except WeightsError:
        raise
    except OSError as err:
        raise WeightsError(f"conversion {name!r} ({files}) could not write {dst}: {err}") from err
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as err:
        raise WeightsError(f"conversion {name!r} cannot convert {files}: the input is malformed "
                           f"({type(err).__name__}: {err})") from err


CONVERSIONS: dict[str, Conversion] = {
    "tflite-int8-animeganv2": _guarded("tflite-int8-animeganv2", tflite_int8_animeganv2),
    "tflite-onnx": _guarded("tflite-onnx", tflite_onnx),
    "tf-graph-onnx": _guarded("tf-graph-onnx", tf_graph_onnx),
    "tfjs-onnx": _guarded("tfjs-onnx", tfjs_onnx),
    "cartoongan-onnx": _guarded("cartoongan-onnx", cartoongan_onnx),
}
ROLES: dict[str, tuple[str, ...]] = {
    "tflite-int8-animeganv2": ("model",),
    "tflite-onnx": ("model",),
    "tf-graph-onnx": ("model",),
    "tfjs-onnx": ("model.json", "weights.bin"),
    "cartoongan-onnx": CARTOONGAN_FILES,
}
"""The input files each conversion takes, by role."""


def _role(inputs: Mapping[str, Path], role: str, conversion: str) -> Path:
    path = inputs.get(role)
    if path is None:
        raise WeightsError(f"conversion {conversion!r} needs the input file {role!r} (roles: "
                           f"{', '.join(ROLES[conversion])}); got {', '.join(sorted(inputs)) or 'none'}")
    return Path(path)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise WeightsError(f"{path}: cannot read it ({err})") from err


def _save_onnx(model: Any, dst: Path) -> None:
    """Write ``model`` to ``dst`` through a temporary file in the same folder (never a half-written ``dst``)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".convert-", suffix=".onnx")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
