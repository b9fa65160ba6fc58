"""PyTorch backend: strict, weights-only loading of a state dict into an ``archs/`` module."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..archs.animeganv2 import Generator
from ..errors import WeightsError
from . import FloatArray

ARCHS: dict[str, type[nn.Module]] = {"animeganv2": Generator}

_threads_lock = threading.Lock()


def set_torch_threads(threads: int) -> None:
    """torch's intra-op pool is process-global; set it once, from the first backend built."""
    with _threads_lock:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)``; unwraps ``{"params": ...}`` / ``{"state_dict": ...}`` containers."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise WeightsError(f"{path.name}: not a loadable weights-only PyTorch file ({err})") from err
    for key in ("params_ema", "params", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path.name}: expected a state dict, found {type(obj).__name__}")
    return {k.removeprefix("module."): v for k, v in obj.items()}


class TorchBackend:
    """Eager fp32 inference of an NCHW generator, fed NHWC arrays."""

    name = "torch"

    def __init__(self, model: nn.Module, threads: int) -> None:
        set_torch_threads(threads)
        self.model = model.eval().requires_grad_(False)

    @classmethod
    def load(cls, path: Path, arch: str, threads: int) -> TorchBackend:
        """Build ``arch`` and load ``path`` into it with ``strict=True``."""
        model = ARCHS[arch]()
        try:
            model.load_state_dict(load_state_dict(path), strict=True)
        except RuntimeError as err:
            raise WeightsError(f"{path.name} does not fit architecture {arch!r}: {err}") from err
        return cls(model, threads)

    def run(self, x_nhwc: FloatArray) -> FloatArray:
        x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))
        with torch.inference_mode():
            y = self.model(x)
        return np.ascontiguousarray(y.numpy().transpose(0, 2, 3, 1), dtype=np.float32)
