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


HAYAO_V2 = "animeganv2_hayao_bryandlee_generator.pt"  # recorded 1.15×
CUTE = "animeganv3_tiny_cute.onnx"  # recorded 1.04×: not worth it


@pytest.mark.parametrize(("record", "file", "usable"), [
    ({"passed": True}, HAYAO_V2, True),
    ({"passed": True}, CUTE, False),
    ({"passed": False}, HAYAO_V2, False),
    ({"passed": True, "speedup": 2.0}, "unknown.onnx", False),  # no recorded figure; a build's own timing is ignored
])
def test_auto_takes_an_int8_build_only_if_it_passed_and_is_recorded_faster(record: dict[str, object], file: str,
                                                                            usable: bool) -> None:
    from animegan.backends.derived import int8_unusable

    assert (int8_unusable(record, file) is None) is usable


def test_every_int8_candidate_has_a_speed_figure_recorded_for_the_current_recipe() -> None:
    """Whether ``auto`` runs INT8 comes from int8_speed.json, never from a timing during a build; bumping
    RECIPE (a new quantization) means measuring again with ``bench/int8_speed.py --write``."""
    import json

    from animegan.backends import candidates
    from animegan.backends.derived import INT8_SPEED_FILE, RECIPE, int8_speedup
    from animegan.settings import MANIFEST_PATH
    from animegan.styles import STYLES
    from animegan.weights import load_manifest

    entries = load_manifest(MANIFEST_PATH)
    policy = json.loads(INT8_SPEED_FILE.read_text())
    assert policy["recipe"] == RECIPE, f"{INT8_SPEED_FILE.name} was measured for recipe {policy['recipe']}, not {RECIPE}"
    for spec in STYLES:
        entry = entries[spec.weights]
        if "onnx-int8" in candidates(entry):
            assert int8_speedup(entry.file) is not None, f"{spec.id}: no INT8 speed figure for {entry.file}"


def test_int8_and_bf16_are_offered_only_for_architectures_where_they_were_measured_to_pay_off() -> None:
    from animegan.backends import candidates
    from animegan.settings import MANIFEST_PATH
    from animegan.weights import load_manifest

    entries = {e.id: e for e in load_manifest(MANIFEST_PATH).values()}
    assert candidates(entries["animeganv2_hayao"]) == ["torch-bf16", "onnx-int8", "onnx", "torch"]
    assert candidates(entries["animeganv3_shinkai37"]) == ["onnx-int8", "onnx"]
    assert candidates(entries["animeganv1_paprika"]) == ["onnx"]
    assert candidates(entries["whitebox_cartoon"]) == ["onnx"]
