"""The CartoonGAN generator (Chen, Lai and Liu, CVPR 2018), laid out like its authors' released weights.

Parameter names are the stems of the released tensor files (``conv01_1.weight``, ``deconv01_1.bias``,
``in01_1.scale``, ``in01_1.shift``, ...), so those 94 tensors load with ``strict=True``: convolutions are
O×I×kh×kw, the two transposed convolutions I×O×kh×kw, instance-norm scale and shift one value per channel.

Input and output are N×3×H×W **BGR**. The input's scale and offset do not matter (the first convolution is
followed by an instance norm, which removes both), so [-1, 1] and [0, 255] give the same result; the output is
tanh in [-1, 1]. H and W must be multiples of 4: two stride-2 convolutions, then two ×2 transposed ones.
Every normalization is per image and channel, so a tile run alone is normalized differently from the same
pixels inside the whole image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-9
"""Added to the standard deviation (not to the variance) by the released network's instance norm."""
MULTIPLE_OF = 4
PARAMETERS = 11_129_667
RESIDUAL_BLOCKS = range(4, 12)
"""The eight residual blocks are numbered 04 to 11 in the released names (``conv04_1`` ... ``in11_2``)."""


class InstanceNorm(nn.Module):
    """``(x − mean) / (std + 1e-9) · scale + shift`` per image and channel, ``std`` the population deviation."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))
        self.shift = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=(2, 3), keepdim=True)
        std = centred.square().mean(dim=(2, 3), keepdim=True).sqrt()
        return centred / (std + EPS) * self.scale.view(1, -1, 1, 1) + self.shift.view(1, -1, 1, 1)


class Generator(nn.Module):
    """CartoonGAN generator (11,129,667 parameters): a 7×7 stem, two stride-2 downsamplings, eight residual
    blocks of 256 channels, two ×2 upsamplings and a 7×7 convolution to 3 channels with tanh. Every
    convolution is preceded by reflection padding."""

    def __init__(self) -> None:
        super().__init__()
        self.conv01_1, self.in01_1 = nn.Conv2d(3, 64, 7), InstanceNorm(64)
        self.conv02_1, self.conv02_2 = nn.Conv2d(64, 128, 3, stride=2), nn.Conv2d(128, 128, 3)
        self.in02_1 = InstanceNorm(128)
        self.conv03_1, self.conv03_2 = nn.Conv2d(128, 256, 3, stride=2), nn.Conv2d(256, 256, 3)
        self.in03_1 = InstanceNorm(256)
        for i in RESIDUAL_BLOCKS:
            for half in (1, 2):
                self.add_module(f"conv{i:02d}_{half}", nn.Conv2d(256, 256, 3))
                self.add_module(f"in{i:02d}_{half}", InstanceNorm(256))
        self.deconv01_1, self.deconv01_2 = nn.ConvTranspose2d(256, 128, 3, stride=2), nn.Conv2d(128, 128, 3)
        self.in12_1 = InstanceNorm(128)
        self.deconv02_1, self.deconv02_2 = nn.ConvTranspose2d(128, 64, 3, stride=2), nn.Conv2d(64, 64, 3)
        self.in13_1 = InstanceNorm(64)
        self.deconv03_1 = nn.Conv2d(64, 3, 7)

    def forward(self, x_bgr: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in01_1(self.conv01_1(_reflect(x_bgr, 3))))
        y = F.relu(self.in02_1(self.conv02_2(_reflect(self.conv02_1(_reflect(y, 1)), 1))))
        y = F.relu(self.in03_1(self.conv03_2(_reflect(self.conv03_1(_reflect(y, 1)), 1))))
        for i in RESIDUAL_BLOCKS:
            t = F.relu(self._layer("in", i, 1)(self._layer("conv", i, 1)(_reflect(y, 1))))
            y = y + self._layer("in", i, 2)(self._layer("conv", i, 2)(_reflect(t, 1)))
        y = F.relu(self.in12_1(self.deconv01_2(_reflect(_upsample(self.deconv01_1, y), 1))))
        y = F.relu(self.in13_1(self.deconv02_2(_reflect(_upsample(self.deconv02_1, y), 1))))
        return torch.tanh(self.deconv03_1(_reflect(y, 3)))

    def _layer(self, kind: str, block: int, half: int) -> nn.Module:
        return self.get_submodule(f"{kind}{block:02d}_{half}")


def _reflect(x: torch.Tensor, pad: int) -> torch.Tensor:
    return F.pad(x, (pad, pad, pad, pad), mode="reflect")


def _upsample(deconv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    # A 3×3 stride-2 transposed convolution without padding gives 2H+1 rows and columns; the released
    # network drops the first of each (Torch's pad 1 plus adj 1), which gives exactly 2H.
    return deconv(x)[..., 1:, 1:]
