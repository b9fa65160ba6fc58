"""Temporal stabilisation without a model: flicker metric, scene cuts, warping follows motion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegan.settings import Settings
from animegan.temporal import Stabilizer, flicker, is_scene_cut, luma_histogram, luma_u8


@pytest.fixture(scope="module")
def photo(photos: Path) -> np.ndarray:
    img = Image.open(photos / "city_tokyo_street.jpg").convert("RGB").resize((240, 160))
    return np.asarray(img, dtype=np.float32) / 255.0


def test_flicker_metric() -> None:
    frames = [np.full((4, 4, 3), v, np.uint8) for v in (10, 20, 20, 50)]
    assert flicker(frames) == pytest.approx((10 + 0 + 30) / 3)
    assert flicker(frames[:1]) == 0.0


def test_scene_cut_on_different_photo_only(photo: np.ndarray, photos: Path) -> None:
    other = np.asarray(Image.open(photos / "portrait_obama_official.jpg").convert("RGB").resize((240, 160)), np.float32) / 255
    h0 = luma_histogram(luma_u8(photo))
    assert not is_scene_cut(h0, luma_histogram(luma_u8(np.roll(photo, 6, axis=1))))
    assert is_scene_cut(h0, luma_histogram(luma_u8(other)))


def test_stabilizer_reduces_noise_flicker_and_follows_motion(photo: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    noisy = [np.clip(photo + rng.normal(0, 0.03, photo.shape), 0, 1).astype(np.float32) for _ in range(12)]
    stab = Stabilizer(0.7)
    steady = [stab(p, p) for p in noisy]
    assert flicker(steady) < 0.5 * flicker(noisy)
    # A pan: history is warped along with the picture, so frames stay sharp (no ghost of the old position).
    stab = Stabilizer(0.7)
    pan = [np.ascontiguousarray(np.roll(photo, 3 * i, axis=1)) for i in range(8)]
    outs = [stab(p, p) for p in pan]
    inner = (slice(10, -10), slice(40, -40))
    assert np.abs(outs[-1][inner] - pan[-1][inner]).mean() < 0.02
    assert stab.cuts == 0


def test_strength_zero_is_identity_and_range_checked(photo: np.ndarray) -> None:
    styled = photo[::-1]
    stab = Stabilizer(0.0)
    assert stab(photo, styled) is styled and stab(photo, styled) is styled
    with pytest.raises(ValueError):
        Stabilizer(1.0)


def test_video_limits_from_env() -> None:
    s = Settings.from_env({"ANIMEGAN_VIDEO_MAX_SECONDS": "12", "ANIMEGAN_VIDEO_MAX_FRAMES": "30", "ANIMEGAN_LIVE_SIDE": "192"})
    assert (s.video_max_seconds, s.video_max_frames, s.live_side) == (12, 30, 192)
