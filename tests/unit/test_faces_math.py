"""Face pass maths without any model: alignment, masks, paste-back, colour matching, selection, settings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from animegan import InvalidOptionError, Settings, StylizeOptions
from animegan.faces import (
    FFHQ_LANDMARKS_512,
    Detections,
    FacePlan,
    _nms,
    _priors,
    alignment,
    face_mask,
    match_boundary,
    match_colours,
    paste,
    select_faces,
    to_source,
    warp_crop,
)
from tests.measures import pasted_mask


def _landmarks(scale: float, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    """The FFHQ template moved by a known similarity (what a real face in a photo looks like)."""
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (FFHQ_LANDMARKS_512 - 256) @ rot.T * scale + np.array(shift)


def _photo(h: int = 300, w: int = 400) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.random((h // 10, w // 10, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(base, 0, 1).astype(np.float32)


@pytest.mark.parametrize("angle", [0.0, 25.0, -40.0])
def test_alignment_puts_landmarks_on_the_template(angle: float) -> None:
    lm = _landmarks(0.3, angle, (200, 150))
    m = alignment(lm, 256, zoom=1.0)
    mapped = np.c_[lm, np.ones(5)] @ m.T
    assert np.abs(mapped - FFHQ_LANDMARKS_512 / 2).max() < 1e-3
    # a similarity: equal scale on both axes, rotation undone
    assert np.isclose(np.linalg.det(m[:, :2]), (256 / 512 / 0.3) ** 2, rtol=1e-4)


def test_zoom_below_one_adds_margin() -> None:
    lm = _landmarks(0.3, 0, (200, 150))
    tight, loose = alignment(lm, 256, 1.0), alignment(lm, 256, 0.8)
    assert np.linalg.det(loose[:, :2]) < np.linalg.det(tight[:, :2])


def test_degenerate_landmarks_do_not_crash() -> None:
    m = alignment(np.full((5, 2), 50.0), 256)
    assert m.shape == (2, 3) and np.isfinite(m).all()


def test_crop_for_picks_small_crops_for_small_faces() -> None:
    plan = FacePlan()
    # the crop covers 512 / zoom × scale image pixels
    tiny = alignment(_landmarks(0.12, 0, (200, 150)), 512, plan.zoom)  # 72 px: a crowd face
    small = alignment(_landmarks(0.4, 0, (200, 150)), 512, plan.zoom)  # 241 px
    big = alignment(_landmarks(1.2, 0, (600, 600)), 512, plan.zoom)
    assert plan.crop_for(tiny)[0] == 128
    crop, m = plan.crop_for(small)
    assert crop == 256 and np.allclose(m, small / 2)
    crop, m = plan.crop_for(big)
    assert crop == 512 and np.allclose(m, big)
    fixed = FacePlan((512,), ())
    assert fixed.crop_for(tiny)[0] == 512 and fixed.large == 512


def test_face_mask_is_soft_and_zero_on_the_border() -> None:
    m = face_mask(256)
    assert m.dtype == np.float32 and m.shape == (256, 256)
    assert m.min() >= 0.0 and m.max() <= 1.0
    assert m[128, 128] > 0.99  # the face centre is fully replaced
    for edge in (m[0], m[-1], m[:, 0], m[:, -1]):
        assert edge.max() == 0.0
    # a feathered edge: many intermediate values, not a hard step
    assert ((m > 0.05) & (m < 0.95)).mean() > 0.1


def test_paste_of_the_background_itself_changes_nothing_and_stays_local() -> None:
    bg = _photo()
    lm = _landmarks(0.25, 10, (150, 140))
    m = alignment(lm, 256)
    out = paste(bg.copy(), warp_crop(bg, m, 256), face_mask(256), m)
    region = pasted_mask(bg.shape[:2], face_mask(256), m)
    inside = region > 0.5
    assert np.abs(out - bg)[inside].mean() < 0.01  # warp there and back is nearly lossless
    assert np.array_equal(out[region == 0], bg[region == 0])  # outside the mask: bit-identical


def test_paste_strength_blends_linearly() -> None:
    bg = _photo()
    m = alignment(_landmarks(0.25, 0, (200, 150)), 256)
    white = np.ones((256, 256, 3), np.float32)
    full = paste(bg.copy(), white, face_mask(256), m, 1.0)
    half = paste(bg.copy(), white, face_mask(256), m, 0.5)
    none = paste(bg.copy(), white, face_mask(256), m, 0.0)
    assert np.allclose(half, (full + bg) / 2, atol=1e-5)
    assert np.array_equal(none, bg)


def test_paste_handles_faces_cut_by_the_image_edge() -> None:
    bg = _photo()
    m = alignment(_landmarks(0.3, 0, (5, 5)), 256)
    out = paste(bg.copy(), np.ones((256, 256, 3), np.float32), face_mask(256), m)
    assert out.shape == bg.shape and out[0, 0].min() > bg[0, 0].min()
    far = alignment(_landmarks(0.3, 0, (5000, 5000)), 256)
    assert np.array_equal(paste(bg.copy(), np.ones((256, 256, 3), np.float32), face_mask(256), far), bg)


def test_match_colours_moves_statistics_to_the_reference() -> None:
    rng = np.random.default_rng(1)
    face = np.clip(rng.normal([0.8, 0.5, 0.5], 0.1, (64, 64, 3)), 0, 1).astype(np.float32)
    ref = np.clip(rng.normal([0.3, 0.5, 0.6], 0.05, (64, 64, 3)), 0, 1).astype(np.float32)
    w = np.ones((64, 64), np.float32)
    full = match_colours(face, ref, w, 1.0)
    assert np.abs(full.mean((0, 1)) - ref.mean((0, 1))).max() < 0.02
    half = match_colours(face, ref, w, 0.5)
    # half-way in Lab lands near half-way in RGB (not exactly: Lab is not linear in RGB)
    assert np.abs(half.mean((0, 1)) - (face.mean((0, 1)) + ref.mean((0, 1))) / 2).max() < 0.05
    assert ref[..., 0].mean() < half[..., 0].mean() < face[..., 0].mean()
    assert match_colours(face, ref, w, 0.0) is face


def _dets(boxes: list[list[float]], scores: list[float]) -> Detections:
    b = np.array(boxes, np.float32).reshape(-1, 4)
    lm = np.repeat(b[:, None, :2], 5, 1)
    return Detections(b, np.array(scores, np.float32), lm)


def test_select_faces_applies_min_size_and_keeps_the_largest() -> None:
    found = _dets([[0, 0, 10, 10], [0, 0, 50, 40], [0, 0, 30, 30], [0, 0, 100, 20]], [0.99, 0.95, 0.97, 0.99])
    kept = select_faces(found, min_size=25, max_faces=5)
    assert kept.boxes[:, 3].tolist() == [40, 30]  # 10 px and the 100×20 sliver are too small; largest first
    assert len(select_faces(found, min_size=1, max_faces=2)) == 2
    assert len(select_faces(found, min_size=1, max_faces=0)) == 0
    assert len(select_faces(_dets([], []), 1, 5)) == 0


def test_to_source_scales_processing_pixels_to_source_pixels() -> None:
    found = _dets([[10, 20, 30, 40]], [0.987654])
    (face,) = to_source(found, processing=(100, 200), source=(400, 200))  # processing H×W, source W×H
    assert face.box == (20.0, 40.0, 60.0, 80.0)
    assert face.score == pytest.approx(0.9877)
    assert len(face.landmarks) == 5 and face.landmarks[0] == (20.0, 40.0)


def test_priors_match_the_feature_map_layout() -> None:
    p = _priors(100, 64)
    expected = sum(-(-100 // s) * -(-64 // s) * 2 for s in (8, 16, 32))
    assert p.shape == (expected, 4)
    assert np.allclose(p[0], [4 / 64, 4 / 100, 16 / 64, 16 / 100])


def test_face_settings_come_from_the_environment() -> None:
    s = Settings.from_env({"ANIMEGAN_FACE_THRESHOLD": "0.7", "ANIMEGAN_FACE_MIN_SIZE": "40", "ANIMEGAN_FACE_MAX": "3"})
    assert (s.face_threshold, s.face_min_size, s.face_max) == (0.7, 40, 3)
    with pytest.raises(InvalidOptionError, match="ANIMEGAN_FACE_THRESHOLD"):
        Settings.from_env({"ANIMEGAN_FACE_THRESHOLD": "1.5"})
    with pytest.raises(InvalidOptionError, match="not a number"):
        Settings.from_env({"ANIMEGAN_FACE_THRESHOLD": "high"})


def test_face_options_are_checked() -> None:
    assert StylizeOptions(style="hayao").face == "off"  # library callers (video, live) opt in
    with pytest.raises(InvalidOptionError, match="face_strength"):
        StylizeOptions(style="hayao", face_strength=1.5)
    with pytest.raises(InvalidOptionError, match="face="):
        StylizeOptions(style="hayao", face="maybe")  # type: ignore[arg-type]


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.8, 0.95, 0.9, 0.7], np.float32)
    assert _nms(boxes, scores, 0.4).tolist() == [1, 2]
    assert _nms(boxes, scores, 1.0).tolist() == [1, 2, 0, 3]
    assert _nms(boxes[:0], scores[:0], 0.4).tolist() == []


def test_match_boundary_removes_a_colour_step_at_the_edge_only() -> None:
    mask = face_mask(128)
    face = np.full((128, 128, 3), 0.7, np.float32)
    background = np.full((128, 128, 3), 0.4, np.float32)
    out = match_boundary(face, background, mask)
    edge = (mask > 0.2) & (mask < 0.8)
    assert np.abs(out[edge] - 0.4).mean() < np.abs(face[edge] - 0.4).mean() / 2  # the step is mostly gone
    assert np.abs(out[mask > 0.999] - 0.7).max() < 1e-3  # the face centre keeps its own colour
