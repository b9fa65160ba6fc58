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
    """Eager fp32 inference of an NCHW generator, fed NHWC arrays (channels_last: ~10% faster here)."""

    name = "torch"

    def __init__(self, model: nn.Module, threads: int) -> None:
        set_torch_threads(threads)
        self.model = model.eval().requires_grad_(False).to(memory_format=torch.channels_last)

    @classmethod
    def load(cls, path: Path, arch: str, threads: int) -> TorchBackend:
        """Build ``arch`` and load ``path`` into it with ``strict=True``."""
        model = ARCHS[arch]()
        try:
            model.load_state_dict(load_state_dict(path), strict=True)
        except RuntimeError as err:
            raise WeightsError(f"{path.name} does not fit architecture {arch!r}: {err}") from err
        if isinstance(model, Generator):  # the one architecture with ``forward_with_stats``
            return TorchGlobalNormBackend(model, threads)
        return cls(model, threads)

    def run(self, x_nhwc: FloatArray) -> FloatArray:
        with torch.inference_mode():
            y = self.model(self._nchw(x_nhwc))
        return self._nhwc(y)

    @staticmethod
    def _nchw(x_nhwc: FloatArray) -> torch.Tensor:
        # an NHWC buffer viewed as NCHW *is* channels_last: no copy
        return torch.from_numpy(np.ascontiguousarray(x_nhwc, dtype=np.float32)).permute(0, 3, 1, 2)

    @staticmethod
    def _nhwc(y: torch.Tensor) -> FloatArray:
        return np.ascontiguousarray(y.permute(0, 2, 3, 1).numpy(), dtype=np.float32)


class TorchGlobalNormBackend(TorchBackend):
    """A GroupNorm generator that can normalize with given statistics (see ``Generator.forward_with_stats``)."""

    model: Generator

    def __init__(self, model: Generator, threads: int) -> None:
        super().__init__(model, threads)

    def norm_stats(self, x_nhwc: FloatArray) -> FloatArray:
        from ..archs.animeganv2 import NORM_LAYERS

        with torch.inference_mode():
            _, stats = self.model.forward_with_stats(self._nchw(x_nhwc), torch.zeros(NORM_LAYERS, 2), torch.tensor(0.0))
        return stats.numpy().astype(np.float32)

    def run_with_stats(self, x_nhwc: FloatArray, stats: FloatArray) -> tuple[FloatArray, FloatArray]:
        with torch.inference_mode():
            y, seen = self.model.forward_with_stats(self._nchw(x_nhwc), torch.from_numpy(stats), torch.tensor(1.0))
        return self._nhwc(y), seen.numpy().astype(np.float32)
