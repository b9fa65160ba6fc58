"""Adapters giving an NCHW generator the NHWC interface every ONNX style in this project has."""

from __future__ import annotations

import torch
from torch import nn

from .animeganv2 import Generator


class Nhwc(nn.Module):
    """``x_nhwc → y_nhwc`` around an NCHW generator."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class NhwcWithStats(nn.Module):
    """``(x_nhwc, given, mix) → (y_nhwc, stats)`` around a generator's ``forward_with_stats``."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: torch.Tensor, given: torch.Tensor, mix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, stats = self.generator.forward_with_stats(x.permute(0, 3, 1, 2), given, mix)
        return y.permute(0, 2, 3, 1), stats

