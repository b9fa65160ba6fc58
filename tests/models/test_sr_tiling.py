"""The numpy port of RealESRGANer's padding and tiling (``animegan.sr_tiling``) against RealESRGANer's own code,
on the same PyTorch networks with the real weights and real photos: the same tiles in the same order, and the
same result to float error."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from animegan import Engine, decode
from animegan.sr_tiling import upscale_tiles
from animegan.upscale import PRE_PAD, TILE_PAD, UPSCALERS, build_model, fold_x2, tile_count

if TYPE_CHECKING:
    import torch
    from torch import nn

pytestmark = pytest.mark.slow

F32 = npt.NDArray[np.float32]
TOLERANCE = 1e-4
"""Max |numpy port - RealESRGANer| (both run the same model on bitwise equal tiles; only float error may differ)."""


@functools.cache
def reference_class() -> type:
    """RealESRGANer around a model we built, as ``animegan.upscale`` has used it (its constructor would load a
    file itself): ``pre_process`` at the native scale, the rest at the network's output scale."""
    import torch
    from realesrgan import utils as realesrgan_utils

    class Reference(realesrgan_utils.RealESRGANer):  # type: ignore[misc, name-defined]
        def __init__(self, model: Callable[[torch.Tensor], torch.Tensor], native: int, scale: int, tile: int) -> None:
            self.native, self.out_scale = native, scale
            self.tile_size, self.tile_pad, self.pre_pad = tile, TILE_PAD, PRE_PAD
            self.mod_scale = None
            self.half = False
            self.device = torch.device("cpu")
            self.model = model

        def run(self, rgb_hwc: F32) -> F32:
            self.scale = self.native
            self.pre_process(rgb_hwc)
            self.scale = self.out_scale
            if 0 < self.tile_size < max(self.img.shape[2:]):
                self.tile_process()
            else:
                self.process()
            return self.post_process()[0].clamp(0, 1).permute(1, 2, 0).numpy()

    return Reference


class Recorder:
    """A PyTorch model as the network of both paths, keeping a copy of every input tile."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.tiles: list[F32] = []

    def torch_net(self, x: torch.Tensor) -> torch.Tensor:
        self.tiles.append(x.numpy().copy())
        return self.model(x)  # type: ignore[no-any-return]

    def numpy_net(self, x: F32) -> F32:
        import torch

        self.tiles.append(x.copy())
        return self.model(torch.from_numpy(x)).numpy()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def rgb(photos: Path) -> F32:
    """A real 90×60 photo crop (pre-padded to 100×70)."""
    return np.ascontiguousarray(decode(photos / "city_tokyo_street.jpg", 10**8).rgb[180:240, 300:390])


@pytest.fixture(scope="module")
def odd(photos: Path) -> F32:
    """A real 91×61 photo crop: pre-padded to 101×71, so a ×2 model mod-pads 1 px and a ×1 one 3 and 1."""
    return np.ascontiguousarray(decode(photos / "portrait_astronaut_eileen_collins.png", 10**8).rgb[100:161, 220:311])


def real_model(engine: Engine, upscaler_id: str, scale: int | None = None) -> nn.Module:
    from animegan.backends.torch_backend import load_state_dict

    spec = UPSCALERS.get(upscaler_id)
    state = load_state_dict(engine.weights.resolve(spec.weights))
    model = build_model(spec, scale)
    model.load_state_dict(fold_x2(state, spec.blocks) if scale and scale != spec.scale else state, strict=True)
    return model.float().eval().requires_grad_(False)


def compare(model: nn.Module, rgb: F32, native: int, scale: int, tile: int, artifacts: Path) -> tuple[float, int]:
    """Run both paths; assert equal tiles in equal order and results within :data:`TOLERANCE`. → (max |diff|, calls)."""
    import torch

    ours, theirs = Recorder(model), Recorder(model)
    with torch.inference_mode():
        got = upscale_tiles(ours.numpy_net, rgb, native, scale, tile, TILE_PAD, PRE_PAD)
        want = reference_class()(theirs.torch_net, native, scale, tile).run(rgb)
    h, w = rgb.shape[:2]
    assert got.shape == want.shape == (h * scale, w * scale, 3) and got.dtype == np.float32
    assert len(ours.tiles) == len(theirs.tiles) == tile_count(h, w, tile, native)
    for i, (a, b) in enumerate(zip(ours.tiles, theirs.tiles, strict=True)):
        assert a.shape == b.shape and np.array_equal(a, b), f"input tile {i + 1}: {a.shape} vs {b.shape}"
    diff = np.abs(got - want)
    worst = float(diff.max())
    if worst > TOLERANCE:
        for name, image in (("sr_tiling", got), ("realesrganer", want), ("diff_x100", np.clip(diff * 100, 0, 1))):
            Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(artifacts / f"{name}.png")
        y, x, c = np.unravel_index(int(diff.argmax()), diff.shape)
        pytest.fail(f"×{scale} (native ×{native}) tile {tile}: max |diff| {worst:.2e} at ({y}, {x}, {c}), "
                    f"mean {float(diff.mean()):.2e}, {int((diff > TOLERANCE).sum())} values over {TOLERANCE:g}; "
                    f"images in {artifacts}")
    return worst, len(ours.tiles)


@pytest.fixture(scope="module")
def animevideov3(engine: Engine) -> nn.Module:
    return real_model(engine, "animevideov3")


@pytest.mark.parametrize(("tile", "calls"), [
    (0, 1),      # untiled
    (100, 1),    # the tile covers the padded 100×70: RealESRGANer's process() branch
    (99, 2),     # a 1 px wide last column
    (50, 4),     # 2×2, the last row partial (70 = 50 + 20)
    (32, 12),    # 4×3, last column 4 px, last row 6 px
    (24, 15),
])
def test_x4_matches_realesrganer(animevideov3: nn.Module, rgb: F32, artifacts: Path, tile: int, calls: int) -> None:
    _, n = compare(animevideov3, rgb, 4, 4, tile, artifacts)
    assert n == calls


@pytest.mark.parametrize("tile", [0, 32, 50])
def test_folded_x2_matches_realesrganer(engine: Engine, rgb: F32, artifacts: Path, tile: int) -> None:
    """The folded ×2 SRVGGNetCompact: native ×4 (no mod pad), tiles put together at ×2."""
    compare(real_model(engine, "animevideov3", 2), rgb, 4, 2, tile, artifacts)


@pytest.mark.parametrize("tile", [0, 40])
def test_general_x4v3_matches_realesrganer(engine: Engine, odd: F32, artifacts: Path, tile: int) -> None:
    compare(real_model(engine, "general_x4v3"), odd, 4, 4, tile, artifacts)


def test_rrdbnet_x4_matches_realesrganer(engine: Engine, artifacts: Path, photos: Path) -> None:
    rgb = np.ascontiguousarray(decode(photos / "still_coffee_cup.png", 10**8).rgb[40:76, 60:113])  # 53×36: RRDBNet is slow
    compare(real_model(engine, "x4plus_anime_6b"), rgb, 4, 4, 0, artifacts)
    compare(real_model(engine, "x4plus_anime_6b"), rgb, 4, 4, 30, artifacts)


def test_rrdbnet_x2_real_weights_mod_pad_2(engine: Engine, odd: F32, artifacts: Path) -> None:
    spec = UPSCALERS.get("x2plus")
    status = engine.weights.status(spec.weights)
    if status.state != "ok":
        pytest.skip(f"{spec.weights} is not in the weight store ({status.reason}); the mod-pad 2 path is still "
                    "checked on a seeded RRDBNet ×2 below")
    small = odd[:31, :41]  # RRDBNet with 23 blocks: ~3 s per 1000 px here
    compare(real_model(engine, "x2plus"), small, 2, 2, 0, artifacts)
    compare(real_model(engine, "x2plus"), small, 2, 2, 24, artifacts)


@pytest.mark.parametrize("native", [2, 1])
@pytest.mark.parametrize("tile", [0, 28, 36])
def test_rrdbnet_mod_pad_matches_realesrganer(odd: F32, artifacts: Path, native: int, tile: int) -> None:
    """The real RRDBNet ×2 / ×1 architecture (pixel-unshuffle by 2 / 4: mod pad 2 / 4) with seeded random
    weights, on a photo whose pre-padded size is odd: the weights we ship have no ×2 or ×1 RRDBNet.

    Tiles (and TILE_PAD) must be multiples of 4 for ×1, as in RealESRGANer: every tile is unshuffled too."""
    import torch
    from basicsr.archs.rrdbnet_arch import RRDBNet

    torch.manual_seed(native)
    model = RRDBNet(num_in_ch=3, num_out_ch=3, scale=native, num_feat=16, num_block=1, num_grow_ch=8).eval()
    with torch.no_grad():  # random init sits near 0: shift into [0, 1] so the clamp keeps most values
        model.conv_last.bias.add_(0.5)
    compare(model, odd, native, native, tile, artifacts)
