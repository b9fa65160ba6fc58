"""AnimeGANv2 generator weights from a full-integer TFLite model, as a state dict of
:class:`animegan.archs.animeganv2.Generator` (the conversion the manifest names for these weights).

The TFLite graph holds 25 convolutions (21 CONV_2D, 4 DEPTHWISE_CONV_2D) and 24 LayerNorms (a MUL by a
constant ``gamma`` and a SUB from a constant ``beta``); in graph order they map one-to-one onto the
Generator's ``Conv2d`` and ``GroupNorm`` modules in ``named_modules()`` order. int8 weights are
dequantized in float32 as ``(q − zero_point)·scale`` (per output channel for convolutions).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import WeightsError
from .tflite import Model, Op

ARCHIVE_NAME = "animeganv2_hayao_from_int8tflite"
"""``torch.save`` names the records inside a ``.pt`` zip after the file it writes; this is the name the
shipped ``animeganv2_hayao_bryandlee_generator.pt`` was saved under, so the bytes come out the same."""

Array = npt.NDArray[np.float32]


def state_dict(model: Model) -> dict[str, Array]:
    """Generator parameter name → float32 array (PyTorch layout) for every parameter of the Generator.

    Raises WeightsError naming the file when the graph does not hold the 25 convolutions and 24
    LayerNorms of an AnimeGANv2 generator, or a tensor has the wrong shape or quantization.
    """
    from ..archs.animeganv2 import Generator

    generator = Generator()
    convs = [(n, m) for n, m in generator.named_modules() if type(m).__name__ == "Conv2d"]
    norms = [n for n, m in generator.named_modules() if type(m).__name__ == "GroupNorm"]
    tflite_convs = [op for op in model.ops if op.code in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    gammas = [g for g in (_constant_operand(model, op) for op in model.ops if op.code == "MUL") if g is not None]
    betas = [b for b in (_constant_operand(model, op, only_first=True) for op in model.ops if op.code == "SUB") if b is not None]
    if (len(tflite_convs), len(gammas), len(betas)) != (len(convs), len(norms), len(norms)):
        raise WeightsError(f"{model.source}: expected an AnimeGANv2 generator ({len(convs)} convolutions, {len(norms)} "
                           f"LayerNorms), found {len(tflite_convs)} convolutions, {len(gammas)} gamma and {len(betas)} "
                           f"beta tensors")
    params = {name: p.detach().numpy() for name, p in generator.named_parameters()}
    out: dict[str, Array] = {}
    for (name, module), op in zip(convs, tflite_convs, strict=True):
        out[f"{name}.weight"] = _conv_weight(model, op, name)
        if module.bias is not None:
            out[f"{name}.bias"] = _dequantize(model, op.inputs[2], f"the bias of {name}", axis=0)
        elif len(op.inputs) > 2 and op.inputs[2] >= 0 and _dequantize(model, op.inputs[2], f"the bias of {name}", 0).any():
            raise WeightsError(f"{model.source}: convolution {model.tensors[op.outputs[0]].name!r} has a non-zero bias, "
                               f"but {name} has none")
    for name, gamma, beta in zip(norms, gammas, betas, strict=True):
        out[f"{name}.weight"] = _dequantize(model, gamma, f"the LayerNorm gamma of {name}")
        out[f"{name}.bias"] = _dequantize(model, beta, f"the LayerNorm beta of {name}")
    for key, value in out.items():
        if value.shape != params[key].shape:
            raise WeightsError(f"{model.source}: {key} has shape {list(value.shape)} in the TFLite model, the Generator "
                               f"needs {list(params[key].shape)}")
    return out


def save_state_dict(weights: dict[str, Array], dst: Path) -> None:
    """Load ``weights`` into a Generator with ``strict=True`` and ``torch.save`` its state dict to ``dst``
    (through a temporary file in the same folder, renamed at the end)."""
    import torch

    from ..archs.animeganv2 import Generator

    generator = Generator()
    try:
        generator.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    except RuntimeError as err:
        raise WeightsError(f"the converted weights do not fit the AnimeGANv2 Generator: {err}") from err
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dst.parent, prefix=".convert-") as tmp:
        path = Path(tmp) / f"{ARCHIVE_NAME}.pt"
        torch.save(generator.state_dict(), path)
        os.replace(path, dst)


def _constant_operand(model: Model, op: Op, only_first: bool = False) -> int | None:
    """The index of ``op``'s constant 1-D operand (a LayerNorm gamma or beta), or None."""
    candidates = op.inputs[:1] if only_first else op.inputs
    for index in candidates:
        tensor = model.tensors[index]
        if tensor.data is not None and len(tensor.shape) == 1:
            return index
    return None


def _conv_weight(model: Model, op: Op, name: str) -> Array:
    weight = _dequantize(model, op.inputs[1], f"the weight of {name}", axis=0 if op.code == "CONV_2D" else 3)
    # TFLite stores CONV_2D filters O×H×W×I and depthwise ones 1×H×W×C; PyTorch wants O×I×H×W.
    return np.ascontiguousarray(weight.transpose((0, 3, 1, 2) if op.code == "CONV_2D" else (3, 0, 1, 2)))


def _dequantize(model: Model, index: int, what: str, axis: int | None = None) -> Array:
    """``(q − zero_point)·scale`` in float32; per-channel along ``axis`` when the tensor has one scale per channel."""
    tensor = model.tensors[index]
    q = model.constant(index, f"{model.source}: {what}")
    if tensor.scales is None or tensor.zero_points is None:
        if q.dtype == np.float32:
            return q
        raise WeightsError(f"{model.source}: {what} ({tensor.name!r}) is {tensor.dtype} without quantization parameters")
    scales, zeros = tensor.scales, tensor.zero_points
    if scales.size > 1:
        if axis is None or q.shape[axis] != scales.size:
            raise WeightsError(f"{model.source}: {what} ({tensor.name!r}) has {scales.size} scales for shape {list(q.shape)}")
        shape: Any = [1] * q.ndim
        shape[axis] = -1
        scales, zeros = scales.reshape(shape), zeros.reshape(shape)
    centred = q.astype(np.int64) - zeros
    return (centred.astype(np.float32) * scales.astype(np.float32)).astype(np.float32)
