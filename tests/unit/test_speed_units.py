"""Fast checks (no weights) of the pieces behind tiled full resolution and the quality guard."""

from __future__ import annotations

import numpy as np
import pytest

from animegan.quality import psnr, ssim
from animegan.tiling import run_tiled


def test_margin_hides_tile_borders_from_a_border_sensitive_function() -> None:
    """A 9×9 box blur with reflect padding differs near a tile's edge; 4 px of margin removes that."""
    rng = np.random.default_rng(1)
    image = rng.random((150, 210, 3), dtype=np.float32)

    def blur(x: np.ndarray) -> np.ndarray:
        p = np.pad(x, ((4, 4), (4, 4), (0, 0)), mode="reflect")
        out = np.zeros_like(x)
        for dy in range(9):
            for dx in range(9):
                out += p[dy:dy + x.shape[0], dx:dx + x.shape[1]]
        return out / 81

    whole = blur(image)
    no_margin = run_tiled(blur, image, tile=64, overlap=8)
    with_margin = run_tiled(blur, image, tile=64, overlap=8, margin=4)
    assert np.abs(whole - no_margin).max() > 0.01
    np.testing.assert_allclose(with_margin, whole, atol=1e-5)


@pytest.mark.parametrize("noise", [0.01, 0.05])
def test_ssim_psnr_order(noise: float) -> None:
    rng = np.random.default_rng(2)
    a = rng.random((48, 64, 3))
    b = np.clip(a + rng.normal(0, noise, a.shape), 0, 1)
    assert ssim(a, a) == pytest.approx(1.0)
    assert psnr(a, a) == float("inf")
    assert 0 < ssim(a, b) < 1
    assert psnr(a, b) == pytest.approx(-20 * np.log10(noise), abs=1.5)


def test_every_style_is_offered_openvino_and_int8_only_where_it_was_measured_to_pay_off() -> None:
    from animegan.backends import candidates
    from animegan.settings import MANIFEST_PATH
    from animegan.weights import load_manifest

    entries = {e.id: e for e in load_manifest(MANIFEST_PATH).values()}
    assert candidates(entries["animeganv2_hayao"]) == ["openvino", "openvino-int8", "onnx-int8", "onnx", "torch"]
    assert candidates(entries["animeganv3_shinkai37"]) == ["openvino", "openvino-int8", "onnx-int8", "onnx"]
    assert candidates(entries["animeganv1_paprika"]) == ["openvino", "onnx"]
    assert candidates(entries["whitebox_cartoon"]) == ["openvino", "onnx"]
