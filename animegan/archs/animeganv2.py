"""The AnimeGANv2 generator, laid out like the public PyTorch port (bryandlee/animegan2-pytorch).

Parameter names match that port exactly, so its state dicts (and ours) load with ``strict=True``.
Input and output: N×3×H×W RGB in [-1, 1]; any H×W works, multiples of 8 avoid resampling seams.

Every normalization is ``GroupNorm(1, C)``: each layer's output depends on statistics over the whole
image, so a tile run alone is normalized differently from the same pixels in the full image.
:meth:`Generator.forward_with_stats` exposes those statistics (one mean and variance per norm layer) so a
tiled run can use the ones measured on a downscaled whole-image pass instead of its tile-local ones.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class ConvNormLReLU(nn.Sequential):
    """Pad → conv → GroupNorm(1) (a LayerNorm over C×H×W) → LeakyReLU(0.2)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | tuple[int, int, int, int] = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__(
            nn.ReflectionPad2d(padding),
            nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=0, groups=groups, bias=bias),
            nn.GroupNorm(1, out_ch, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
        )


class InvertedResBlock(nn.Module):
    """MobileNetV2-style block: 1×1 expand, 3×3 depthwise, 1×1 project, residual when shapes match."""

    def __init__(self, in_ch: int, out_ch: int, expansion: int = 2) -> None:
        super().__init__()
        mid = in_ch * expansion
        self.layers = nn.Sequential(
            ConvNormLReLU(in_ch, mid, kernel_size=1, padding=0),
            ConvNormLReLU(mid, mid, groups=mid, bias=True),
            nn.Conv2d(mid, out_ch, kernel_size=1, bias=False),
            nn.GroupNorm(1, out_ch, affine=True),
        )
        self.residual = in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layers(x)
        return x + y if self.residual else y


class Generator(nn.Module):
    """AnimeGANv2 generator (2,143,552 parameters)."""

    def __init__(self) -> None:
        super().__init__()
        # (0, 1, 0, 1): TF "same" padding for a stride-2 3×3 conv pads only right and bottom.
        self.block_a = nn.Sequential(
            ConvNormLReLU(3, 32, kernel_size=7, padding=3),
            ConvNormLReLU(32, 64, stride=2, padding=(0, 1, 0, 1)),
            ConvNormLReLU(64, 64),
        )
        self.block_b = nn.Sequential(
            ConvNormLReLU(64, 128, stride=2, padding=(0, 1, 0, 1)),
            ConvNormLReLU(128, 128),
        )
        self.block_c = nn.Sequential(
            ConvNormLReLU(128, 128),
            InvertedResBlock(128, 256),
            InvertedResBlock(256, 256),
            InvertedResBlock(256, 256),
            InvertedResBlock(256, 256),
            ConvNormLReLU(256, 128),
        )
        self.block_d = nn.Sequential(ConvNormLReLU(128, 128), ConvNormLReLU(128, 128))
        self.block_e = nn.Sequential(
            ConvNormLReLU(128, 64),
            ConvNormLReLU(64, 64),
            ConvNormLReLU(64, 32, kernel_size=7, padding=3),
        )
        self.out_layer = nn.Sequential(nn.Conv2d(32, 3, kernel_size=1, bias=False), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._walk(x, lambda norm, t: norm(t))

    def forward_with_stats(self, x: torch.Tensor, given: torch.Tensor, mix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run with GroupNorm statistics ``mix·given + (1−mix)·local`` (batch size 1).

        ``given`` is ``NORM_LAYERS×2`` (mean, variance per norm layer, in forward order); ``mix`` a
        scalar tensor (0: ordinary forward, 1: use ``given`` only). Returns the output and the
        ``NORM_LAYERS×2`` statistics each layer measured on its own input (with the mixed upstream).
        """
        seen: list[torch.Tensor] = []

        def norm(gn: nn.GroupNorm, t: torch.Tensor) -> torch.Tensor:
            i = len(seen)
            mean = t.mean(dim=(1, 2, 3), keepdim=True)
            var = (t - mean).square().mean(dim=(1, 2, 3), keepdim=True)
            seen.append(torch.stack([mean.reshape(()), var.reshape(())]))
            mean = mix * given[i, 0] + (1 - mix) * mean
            var = mix * given[i, 1] + (1 - mix) * var
            scale = gn.weight.view(1, -1, 1, 1) * torch.rsqrt(var + gn.eps)
            return t * scale + (gn.bias.view(1, -1, 1, 1) - mean * scale)

        y = self._walk(x, norm)
        return y, torch.stack(seen)

    def _walk(self, x: torch.Tensor, norm: Callable[[nn.GroupNorm, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """The forward pass with every GroupNorm applied through ``norm`` (one code path for both modes)."""

        def run(mods: nn.Module, t: torch.Tensor) -> torch.Tensor:
            for m in mods.children():
                if isinstance(m, nn.GroupNorm):
                    t = norm(m, t)
                elif isinstance(m, InvertedResBlock):
                    t = t + run(m.layers, t) if m.residual else run(m.layers, t)
                elif isinstance(m, nn.Sequential):
                    t = run(m, t)
                else:
                    t = m(t)
            return t

        y = run(self.block_a, x)
        half = y.shape[-2:]
        y = run(self.block_c, run(self.block_b, y))
        y = F.interpolate(y, size=half, mode="bilinear", align_corners=True)
        y = run(self.block_d, y)
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=True)
        return run(self.out_layer, run(self.block_e, y))


NORM_LAYERS = 24
"""GroupNorm layers in :class:`Generator`, i.e. rows of its statistics tensor."""
