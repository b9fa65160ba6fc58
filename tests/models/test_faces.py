"""Face-aware stylization on real photos with the real detector and generators (../shared)."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from animegan import Engine, InvalidOptionError, StylizeOptions, decode, encode
from animegan.backends.graphs import open_graph
from animegan.faces import (
    DETECTOR_WEIGHTS,
    DETECTOR_WEIGHTS_ONNX,
    FaceDetector,
    alignment,
    detect_faces,
    face_mask,
    face_plan,
)
from animegan.resample import fit_within, resize
from animegan.styles import STYLES
from tests.measures import pasted_mask

from ..conftest import WEIGHTS_PATH, make_settings

# what a person counts in each photo (faces a detector can see at all; the crowd is left out)
COUNTS = {
    "group_8_kids.jpg": 8,
    "group_dinner_6_faces.jpg": 6,
    "lowlight_bar_group_7_faces.jpg": 7,
    "group_two_people_obama_biden.jpg": 2,
    "oldphoto_family_3_faces.png": 3,
    "portrait_obama_official.jpg": 1,
    "gray_two_people_L.png": 2,
    "landscape_fuji_autumn_1365x2048.jpg": 0,
    "still_coffee_cup.png": 0,
    "city_tokyo_street.jpg": 0,
}


def _photo(photos: Path, name: str, max_side: int = 1024) -> np.ndarray:
    rgb = decode(photos / name, 10**8).rgb
    return resize(rgb, *fit_within(*rgb.shape[:2], max_side))


def _save(path: Path, *images: np.ndarray) -> None:
    row = np.concatenate([np.clip(i, 0, 1) for i in images], 1)
    cv2.imwrite(str(path), cv2.cvtColor((row * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR))


def test_faces_feature_is_available(engine: Engine) -> None:
    feature = engine.features()["faces"]
    assert feature.available, feature.reason
    assert "RetinaFace" in feature.reason


@pytest.mark.parametrize("name", list(COUNTS))
def test_face_counts_match_a_person(engine: Engine, photos: Path, name: str) -> None:
    s = engine.settings
    found = detect_faces(engine.face_detector(), _photo(photos, name), s.face_threshold, s.face_min_size, 100,
                         s.face_detect_side)
    expected = COUNTS[name]
    assert abs(len(found) - expected) <= (1 if expected > 2 else 0), (name, len(found), found.scores)


def test_both_detector_copies_agree_and_facexlib_never_downloads(engine: Engine, photos: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine prefers the ONNX copy; the .pth runs in facexlib's network, whose downloader must never run."""
    import facexlib.detection
    import facexlib.utils.misc

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("facexlib tried to download a model")

    monkeypatch.setattr(facexlib.utils.misc, "load_file_from_url", refuse)
    monkeypatch.setattr(facexlib.detection, "load_file_from_url", refuse)
    assert re.search(r"\((onnxruntime|openvino), detection_mobilenet0\.25_Final\.onnx\)", engine.face_detector().name)
    pth = engine.weights.locate(DETECTOR_WEIGHTS)
    torch_detector = FaceDetector.load(pth.path, pth.entry.sha256, engine.settings)
    assert "facexlib" in torch_detector.name
    photo = _photo(photos, "group_dinner_6_faces.jpg")
    # the two copies of the weights, both in fp32 (the measured runtime may be bf16: its own guard holds it to fp32)
    onnx_graph = open_graph(engine.weights.resolve(DETECTOR_WEIGHTS_ONNX), "onnxruntime", 2)
    onnx_detector = FaceDetector(lambda x: tuple(onnx_graph({"input0": x})), "onnxruntime fp32")
    a, b = onnx_detector.detect(photo, 0.9), torch_detector.detect(photo, 0.9)
    assert len(a) == len(b) == len(engine.face_detector().detect(photo, 0.9)) == 6
    assert np.abs(a.boxes - b.boxes).max() < 0.05 and np.abs(a.landmarks - b.landmarks).max() < 0.05


def test_detector_is_shared_and_thread_safe(engine: Engine, photos: Path) -> None:
    photo = _photo(photos, "group_dinner_6_faces.jpg")
    detector = engine.face_detector()
    assert engine.face_detector() is detector
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(detector.detect(photo, 0.9).boxes)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(np.allclose(r, results[0], atol=1e-3) for r in results)


def test_without_face_weights_auto_is_left_out_and_on_is_refused(tmp_path: Path) -> None:
    engine = Engine(make_settings(tmp_path, ANIMEGAN_WEIGHTS_PATH=str(Path(WEIGHTS_PATH.split(os.pathsep)[0]) / "anime")))
    feature = engine.features()["faces"]
    assert not feature.available and "detection_mobilenet0.25_Final.pth" in feature.reason
    assert [name for name, _ in engine.plan(StylizeOptions(style="cute", face="auto"))] == ["preparing", "stylizing"]
    with pytest.raises(InvalidOptionError, match="face mode 'on' is unavailable"):
        engine.plan(StylizeOptions(style="cute", face="on"))


def test_plan_has_a_faces_step_unless_off(engine: Engine) -> None:
    names = [n for n, _ in engine.plan(StylizeOptions(style="hayao", face="auto"))]
    assert names[-1] == "faces" and names.index("faces") > names.index("stylizing")
    assert "faces" not in [n for n, _ in engine.plan(StylizeOptions(style="hayao", face="off"))]


def _seam_step(image: np.ndarray, mask: np.ndarray, width: int = 3) -> float:
    """Mean colour difference between the rings just inside and just outside the mask's 0.5 contour."""
    inside = (mask >= 0.5).astype(np.uint8)
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    ring_in = inside.astype(bool) & ~cv2.erode(inside, kernel).astype(bool)
    ring_out = cv2.dilate(inside, kernel).astype(bool) & ~inside.astype(bool)
    return float(np.abs(image[ring_in].mean(0) - image[ring_out].mean(0)).sum())


@pytest.mark.parametrize(("name", "style"), [("group_dinner_6_faces.jpg", "shinkai"), ("portrait_old_man_test2.jpg", "cute")])
def test_faces_change_only_faces_without_a_seam(engine: Engine, photos: Path, artifacts: Path, name: str,
                                                style: str) -> None:
    picture = decode(photos / name, engine.settings.max_pixels)
    plain = engine.stylize(picture, StylizeOptions(style=style, face="off"))
    faced = engine.stylize(picture, StylizeOptions(style=style, face="on"))
    _save(artifacts / "photo_plain_faces.png", plain.photo, plain.rgb, faced.rgb)  # type: ignore[arg-type]
    assert faced.rgb.shape == plain.rgb.shape
    assert len(faced.faces) == COUNTS.get(name, 1)
    photo = faced.photo
    assert photo is not None
    s = engine.settings
    found = detect_faces(engine.face_detector(), photo, s.face_threshold, s.face_min_size, s.face_max,
                         s.face_detect_side)
    spec = STYLES.get(style)
    plan = face_plan(spec, STYLES.get(spec.face_style or style))
    union = np.zeros(photo.shape[:2], np.float32)
    diff = np.abs(faced.rgb - plain.rgb).max(-1)
    for lm in found.landmarks:
        crop, matrix = plan.crop_for(alignment(lm, plan.large, plan.zoom))
        mask = pasted_mask(photo.shape[:2], face_mask(crop), matrix)
        union = np.maximum(union, mask)
        assert diff[mask > 0.9].mean() > 0.02, "the face pass did not change a face"
    for lm in found.landmarks:
        crop, matrix = plan.crop_for(alignment(lm, plan.large, plan.zoom))
        mask = pasted_mask(photo.shape[:2], face_mask(crop), matrix)
        if (mask >= 0.5).sum() < 200:
            continue
        step_faced, step_plain = _seam_step(faced.rgb, mask), _seam_step(plain.rgb, mask)
        assert step_faced <= step_plain + 0.02, f"visible seam: {step_faced:.3f} vs {step_plain:.3f} without faces"
    assert np.array_equal(faced.rgb[union == 0], plain.rgb[union == 0]), "pixels far from every face changed"


def test_no_faces_means_the_plain_result(engine: Engine, photos: Path) -> None:
    picture = decode(photos / "still_coffee_cup.png", engine.settings.max_pixels)
    auto = engine.stylize(picture, StylizeOptions(style="cute", face="auto"))
    off = engine.stylize(picture, StylizeOptions(style="cute", face="off"))
    assert auto.faces == () and np.array_equal(auto.rgb, off.rgb)


def test_face_strength_zero_is_the_plain_result(engine: Engine, photos: Path) -> None:
    picture = decode(photos / "portrait_old_man_test2.jpg", engine.settings.max_pixels)
    off = engine.stylize(picture, StylizeOptions(style="cute", face="off"))
    zero = engine.stylize(picture, StylizeOptions(style="cute", face="on", face_strength=0.0))
    assert len(zero.faces) == 1 and np.allclose(zero.rgb, off.rgb, atol=1e-6)


def test_boxes_are_in_source_pixels(engine: Engine, photos: Path) -> None:
    """Processing at 512 px still reports boxes on the 1126×661 original, the same as at full size."""
    picture = decode(photos / "group_two_people_obama_biden.jpg", engine.settings.max_pixels)
    small = engine.stylize(picture, StylizeOptions(style="cute", max_side=512, face="on", face_strength=0.0))
    assert small.size == (1126, 661) and len(small.faces) == 2
    s = engine.settings
    full = detect_faces(engine.face_detector(), picture.rgb, s.face_threshold, s.face_min_size, s.face_max, 2048)
    for face, box in zip(sorted(small.faces, key=lambda f: f.box[0]), sorted(full.boxes.tolist()), strict=True):  # type: ignore[attr-defined]
        assert np.abs(np.array(face.box) - box).max() < 12, (face.box, box)  # type: ignore[attr-defined]
        assert 0.9 <= face.score <= 1.0  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["alpha_children_rgba.png", "gray_two_people_L.png"])
def test_mode_size_and_alpha_survive(engine: Engine, photos: Path, artifacts: Path, name: str) -> None:
    picture = decode(photos / name, engine.settings.max_pixels)
    result = engine.stylize(picture, StylizeOptions(style="cute", face="on"))
    assert len(result.faces) >= 2
    out = encode(result, "png")
    (artifacts / f"faces_{name}").write_bytes(out)
    with Image.open(photos / name) as src, Image.open(artifacts / f"faces_{name}") as got:
        assert got.size == src.size and got.mode == src.mode
        if src.mode == "RGBA":
            assert np.array_equal(np.asarray(got)[..., 3], np.asarray(src)[..., 3])


def test_pictures_from_replace_keep_faces_empty_by_default(engine: Engine, photos: Path) -> None:
    picture = decode(photos / "still_coffee_cup.png", engine.settings.max_pixels)
    assert replace(picture).faces == ()
