"""Face-aware stylization: detect faces, align each to a square crop, stylize it, paste it back seamlessly.

Coordinates: :class:`Face` boxes and landmarks are in the *source image's* pixels (``Picture.size``,
after EXIF orientation; x right, y down, ``x1``/``y1`` exclusive edges). Internally every step works in
*processing* pixels (``Picture.photo``'s grid); :func:`to_source` converts.

Detection is RetinaFace MobileNet-0.25, from one of two SHA-verified copies of the same weights:
the ONNX export (preferred: ~14× faster than eager torch, outputs equal within 4e-5), run by onnxruntime or
OpenVINO as measured on this CPU (:mod:`.backends.choice`), or facexlib's network with
``torch.load(weights_only=True)`` of the ``.pth`` (facexlib's own loader, which may download, is never called).
Torch and facexlib are imported on first use only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from .errors import WeightsError
from .imageio import Face
from .settings import Settings
from .styles import StyleSpec

if TYPE_CHECKING:
    from torch import nn

    from .backends.graphs import Graph

Network = Callable[[npt.NDArray[np.float32]], tuple[npt.NDArray[np.float32], ...]]
"""RetinaFace: 1×3×H×W BGR minus mean → (loc 1×A×4, softmax conf 1×A×2, landmarks 1×A×10)."""

log = logging.getLogger(__name__)

RGB = npt.NDArray[np.float32]
Mask = npt.NDArray[np.float32]
Affine = npt.NDArray[np.float64]

DETECTOR_WEIGHTS = "detection_mobilenet0.25_Final.pth"
"""Manifest file name of the detector for facexlib's ``retinaface_mobile0.25`` network (torch)."""
DETECTOR_WEIGHTS_ONNX = "detection_mobilenet0.25_Final.onnx"
"""The same weights exported to ONNX (onnxruntime)."""

FFHQ_LANDMARKS_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                               [201.26117, 371.41043], [313.08905, 371.15118]])
"""Where the 5 landmarks (left eye, right eye, nose, left and right mouth corner) sit in a 512² FFHQ
crop: the template facexlib/GFPGAN align to. The crop holds the whole head with hair and chin."""

_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
_MIN_SIZES = ((16, 32), (64, 128), (256, 512))
_STEPS = (8, 16, 32)
_VARIANCE = (0.1, 0.2)


@dataclass(frozen=True)
class Detections:
    """Raw detector output in one image's pixels: N boxes (x0,y0,x1,y1), N scores, N×5×2 landmarks."""

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    landmarks: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: npt.NDArray[np.intp]) -> Detections:
        return Detections(self.boxes[index], self.scores[index], self.landmarks[index])

    def scaled(self, sx: float, sy: float) -> Detections:
        """The same detections in a grid scaled by (sx, sy)."""
        return Detections(self.boxes * np.array([sx, sy, sx, sy], np.float32), self.scores,
                          self.landmarks * np.array([sx, sy], np.float32))


# ---- detection ----------------------------------------------------------------------------------


def _priors(height: int, width: int) -> npt.NDArray[np.float32]:
    """RetinaFace anchors (cx, cy, w, h, normalised), in the network's output order."""
    out = []
    for step, sizes in zip(_STEPS, _MIN_SIZES, strict=True):
        fh, fw = -(-height // step), -(-width // step)
        cy, cx = np.meshgrid((np.arange(fh) + 0.5) * step / height, (np.arange(fw) + 0.5) * step / width, indexing="ij")
        per = [np.stack([cx, cy, np.full_like(cx, s / width), np.full_like(cy, s / height)], -1) for s in sizes]
        out.append(np.stack(per, 2).reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


class FaceDetector:
    """RetinaFace MobileNet-0.25 on the CPU. Stateless per call: safe to share between threads."""

    def __init__(self, network: Network, name: str) -> None:
        self.network = network
        self.name = name

    @classmethod
    def load(cls, path: Path, sha256: str, settings: Settings) -> FaceDetector:
        """The detector from a verified weight file: ``.onnx`` runs in the runtime measured fastest here (which must
        find the same faces), ``.pth`` in facexlib's network (weights-only, strict). Raises WeightsError for a file
        that does not load."""
        if path.suffix == ".onnx":
            graph = detector_graph(path, sha256, settings)
            return cls(lambda x: tuple(graph({"input0": x})), f"RetinaFace MobileNet-0.25 ({graph.runtime}, {path.name})")
        return cls(_torch_network(path, settings.threads), f"RetinaFace MobileNet-0.25 (facexlib/torch, {path.name})")

    def detect(self, rgb: RGB, threshold: float, nms: float = 0.4) -> Detections:
        """Faces in an H×W×3 float [0, 1] image, best first, in that image's pixels."""
        h, w = rgb.shape[:2]
        loc, conf, landm = self.network(detector_input(rgb))
        loc, scores, landm = loc[0], conf[0, :, 1], landm[0]
        keep = scores > threshold
        priors = _priors(h, w)[keep]
        loc, scores, landm = loc[keep], scores[keep], landm[keep]
        centre = priors[:, :2] + loc[:, :2] * _VARIANCE[0] * priors[:, 2:]
        size = priors[:, 2:] * np.exp(loc[:, 2:] * _VARIANCE[1])
        boxes = np.concatenate([centre - size / 2, centre + size / 2], 1) * np.array([w, h, w, h], np.float32)
        points = priors[:, None, :2] + landm.reshape(-1, 5, 2) * _VARIANCE[0] * priors[:, None, 2:]
        points = points * np.array([w, h], np.float32)
        order = _nms(boxes, scores, nms)
        return Detections(boxes[order].astype(np.float32), scores[order].astype(np.float32),
                          points[order].astype(np.float32))


def detector_input(rgb: RGB) -> npt.NDArray[np.float32]:
    """H×W×3 RGB in [0, 1] → RetinaFace's 1×3×H×W BGR input minus its mean."""
    bgr = rgb[..., ::-1] * np.float32(255.0) - _MEAN_BGR
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None], dtype=np.float32)


DETECTOR_SCORE_ERR = 0.02
"""Largest face-score difference a faster runtime may make against onnxruntime fp32 on the probe photos."""


def _same_detections(reference: list[list[npt.NDArray[np.float32]]],
                     candidate: list[list[npt.NDArray[np.float32]]]) -> dict[str, object]:
    """The detector's guard: every face score within :data:`DETECTOR_SCORE_ERR` of the reference's, and the boxes
    of likely faces (either score > 0.5) within 0.05 of a prior's size."""
    score_err = box_err = 0.0
    for (loc_a, conf_a, _), (loc_b, conf_b, _) in zip(reference, candidate, strict=True):
        score_err = max(score_err, float(np.abs(conf_a[..., 1] - conf_b[..., 1]).max()))
        faces = (conf_a[0, :, 1] > 0.5) | (conf_b[0, :, 1] > 0.5)
        if faces.any():
            box_err = max(box_err, float(np.abs(loc_a[0][faces] - loc_b[0][faces]).max()))
    return {"score_err": round(score_err, 5), "box_err": round(box_err, 5),
            "passed": score_err <= DETECTOR_SCORE_ERR and box_err <= 0.05}


def detector_graph(path: Path, sha256: str, settings: Settings) -> Graph:
    """The detector's ONNX file in the runtime measured fastest on this CPU (onnxruntime fp32 or OpenVINO)."""
    from .backends import measured_graph
    from .backends.derived import calibration_images

    return measured_graph(path, sha256, path.name, settings,
                          lambda _: [{"input0": detector_input(img)} for img in calibration_images(320)], _same_detections)


def _torch_network(path: Path, threads: int) -> Network:
    import torch
    from facexlib.detection.retinaface import RetinaFace

    from .backends.torch_backend import load_state_dict, set_torch_threads

    set_torch_threads(threads)
    model: nn.Module = RetinaFace(network_name="mobile0.25", half=False, phase="test", device="cpu")
    try:
        model.load_state_dict(load_state_dict(path), strict=True)
    except RuntimeError as err:
        raise WeightsError(f"{path.name} does not fit RetinaFace MobileNet-0.25: {err}") from err
    model.eval().requires_grad_(False)

    def run(x: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], ...]:
        with torch.inference_mode():
            return tuple(t.numpy() for t in model(torch.from_numpy(x)))

    return run


def _nms(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], iou: float) -> npt.NDArray[np.intp]:
    """Greedy non-maximum suppression: indices of the kept boxes, best score first."""
    order = np.argsort(-scores, kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        x0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        y0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        x1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        y1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        order = rest[inter / (area[i] + area[rest] - inter + 1e-9) <= iou]
    return np.array(keep, dtype=np.intp)


def detect_faces(detector: FaceDetector, photo: RGB, threshold: float, min_size: int, max_faces: int,
                 detect_side: int) -> Detections:
    """Faces in ``photo`` (processing pixels): confident, at least ``min_size`` px on their shorter
    side, and only the ``max_faces`` largest, sorted largest first. The detector sees the photo
    shrunk to ``detect_side`` on its longer side (faces that small are below any useful size anyway)."""
    h, w = photo.shape[:2]
    s = min(1.0, detect_side / max(h, w))
    # cv2 keeps the float32 dtype; its stubs type the result as any number array
    small = photo if s == 1.0 else np.asarray(cv2.resize(photo, (max(1, round(w * s)), max(1, round(h * s))),
                                                          interpolation=cv2.INTER_AREA), np.float32)
    found = detector.detect(small, threshold)
    if s != 1.0:
        found = found.scaled(w / small.shape[1], h / small.shape[0])
    return select_faces(found, min_size, max_faces)


def select_faces(found: Detections, min_size: int, max_faces: int) -> Detections:
    """Keep faces whose shorter box side is ≥ ``min_size``; then the ``max_faces`` largest, largest first."""
    sides = np.minimum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1])
    idx = np.flatnonzero(sides >= min_size)
    idx = idx[np.argsort(-sides[idx], kind="stable")][:max_faces]
    return found.take(idx)


def to_source(found: Detections, processing: tuple[int, int], source: tuple[int, int]) -> tuple[Face, ...]:
    """Detections in processing pixels (H, W) → :class:`Face` objects in source pixels (W, H)."""
    (ph, pw), (sw, sh) = processing, source
    src = found.scaled(sw / pw, sh / ph)
    return tuple(
        Face(box=(round(float(b[0]), 1), round(float(b[1]), 1), round(float(b[2]), 1), round(float(b[3]), 1)),
             score=round(float(sc), 4),
             landmarks=tuple((round(float(x), 1), round(float(y), 1)) for x, y in lm))
        for b, sc, lm in zip(src.boxes, src.scores, src.landmarks, strict=True)
    )


# ---- alignment, masks, blending (pure maths, no model) -------------------------------------------


def alignment(landmarks: npt.ArrayLike, crop: int, zoom: float = 1.0) -> Affine:
    """2×3 similarity transform taking image pixels to an aligned ``crop``² face crop.

    The 5 landmarks go onto the FFHQ template scaled to ``crop``; ``zoom`` < 1 shows more around the
    head (0.8 = 25 % more margin), > 1 less.
    """
    src = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    dst = (FFHQ_LANDMARKS_512 - 256.0) * zoom * (crop / 512.0) + crop / 2.0
    matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks (all on one point): fall back to least squares
        matrix = _similarity_lstsq(src, dst)
    return matrix.astype(np.float64)


def _similarity_lstsq(src: npt.NDArray[np.float64], dst: npt.NDArray[np.float64]) -> Affine:
    a = np.zeros((10, 4))
    a[0::2] = np.c_[src[:, 0], -src[:, 1], np.ones(5), np.zeros(5)]
    a[1::2] = np.c_[src[:, 1], src[:, 0], np.zeros(5), np.ones(5)]
    p, *_ = np.linalg.lstsq(a, dst.reshape(-1), rcond=None)
    return np.array([[p[0], -p[1], p[2]], [p[1], p[0], p[3]]])


def face_mask(crop: int, feather: float = 0.06) -> Mask:
    """Soft mask of the head in an aligned crop: an ellipse around face, hair and chin, 1 inside,
    falling to 0 with a Gaussian edge (σ = ``feather`` × crop) and exactly 0 on the crop border."""
    m = np.zeros((crop, crop), np.float32)
    c = crop / 512.0
    cv2.ellipse(m, (round(256 * c), round(262 * c)), (round(168 * c), round(206 * c)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    sigma = max(1.0, feather * crop)
    blurred = cv2.GaussianBlur(m, (0, 0), sigma)
    # force the border ring to 0 so the warped-back mask never shows the crop's square edge
    border = np.minimum.outer(*(2 * [np.minimum(np.arange(crop), np.arange(crop)[::-1])])).astype(np.float32)
    return np.clip(blurred * np.clip(border / max(1.0, 2 * sigma), 0, 1), 0, 1).astype(np.float32)


def warp_crop(image: RGB, matrix: Affine, crop: int) -> RGB:
    """The aligned crop of an H×W×C image (edges reflected where the crop leaves the image)."""
    out = cv2.warpAffine(image, matrix, (crop, crop), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    return np.clip(out, 0, 1).astype(np.float32)


def match_colours(face: RGB, reference: RGB, weight: Mask, amount: float = 1.0) -> RGB:
    """Shift ``face``'s per-channel mean and spread (in Lab, weighted by ``weight``) to ``reference``'s,
    so a face made by another model carries the background's palette. ``amount`` in [0, 1]."""
    if amount <= 0:
        return face
    f = cv2.cvtColor(face, cv2.COLOR_RGB2LAB)
    # statistics from 64² thumbnails: the same numbers to a fraction of a Lab unit, 16-64× less work
    thumb = (64, 64) if face.shape[0] > 64 else face.shape[1::-1]
    w = cv2.resize(weight, thumb, interpolation=cv2.INTER_AREA)[..., None].astype(np.float64)
    total = float(w.sum())
    if total < 1e-6:
        return face
    ft = cv2.cvtColor(cv2.resize(face, thumb, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2LAB).astype(np.float64)
    rt = cv2.cvtColor(cv2.resize(reference, thumb, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2LAB).astype(np.float64)
    fm, rm = (ft * w).sum((0, 1)) / total, (rt * w).sum((0, 1)) / total
    fs = np.sqrt(((ft - fm) ** 2 * w).sum((0, 1)) / total) + 1e-3
    rs = np.sqrt(((rt - rm) ** 2 * w).sum((0, 1)) / total) + 1e-3
    g = 1 + amount * (np.clip(rs / fs, 0.5, 2.0) - 1)
    out = (f - fm.astype(np.float32)) * g.astype(np.float32) + (fm + amount * (rm - fm)).astype(np.float32)
    return np.clip(cv2.cvtColor(out, cv2.COLOR_LAB2RGB), 0, 1).astype(np.float32)


def match_boundary(face: RGB, reference: RGB, mask: Mask, sigma: float = 0.05) -> RGB:
    """Remove low-frequency colour steps at the mask's soft edge (a cheap stand-in for Poisson blending).

    The smoothed difference ``reference − face`` measured in the edge zone (where 0 < mask < 1) is
    added to ``face`` with weight 1 − mask²: the edge takes the background's local colour, the centre
    keeps its own, and the face's detail is kept everywhere. ``sigma`` is in crop sides.
    """
    edge = (4.0 * mask * (1.0 - mask)).astype(np.float32)
    s = max(1.0, sigma * face.shape[0])
    num = cv2.GaussianBlur((reference - face) * edge[..., None], (0, 0), s)
    den = cv2.GaussianBlur(edge, (0, 0), s)[..., None]
    correction = num / np.maximum(den, 1e-3)
    weight = (1.0 - mask * mask)[..., None]
    return np.clip(face + correction * weight, 0, 1).astype(np.float32)


def paste(background: RGB, face: RGB, mask: Mask, matrix: Affine, strength: float = 1.0) -> RGB:
    """Warp an aligned ``face`` crop (and its soft ``mask``) back through ``matrix``'s inverse and
    alpha-blend it into ``background`` (H×W×3, changed in place and returned). Only the face's
    bounding region is warped, so the cost does not grow with the image size."""
    h, w = background.shape[:2]
    crop = face.shape[0]
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [crop, 0, 1], [0, crop, 1], [crop, crop, 1]], np.float64) @ inverse.T
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return background
    local = inverse.copy()
    local[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    face_w = cv2.warpAffine(face, local, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, local, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = (np.clip(alpha, 0, 1) * strength)[..., None]
    region = background[y0:y1, x0:x1]
    region[:] = region * (1 - alpha) + np.clip(face_w, 0, 1) * alpha
    return background


# ---- the whole face pass ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FacePlan:
    """How one style's faces are made.

    ``sizes`` are the aligned crop sides, smallest first: a face whose crop covers fewer than
    ``limits[i]`` image pixels across is stylized at ``sizes[i]``, larger ones at ``sizes[-1]`` (small
    faces gain nothing from big crops, which only cost time on crowds). ``colour_match`` is how much
    the result takes the stylized background's colours (1 = fully); ``zoom`` see :func:`alignment`.
    """

    sizes: tuple[int, ...] = (128, 256, 512)
    limits: tuple[int, ...] = (100, 384)
    colour_match: float = 0.0
    zoom: float = 0.85

    @property
    def large(self) -> int:
        return self.sizes[-1]

    def crop_for(self, matrix: Affine) -> tuple[int, Affine]:
        """The crop size for a face aligned by ``matrix`` (made for a ``large`` crop), and its matrix."""
        covered = self.large / float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
        crop = next((s for s, lim in zip(self.sizes, self.limits, strict=False) if covered < lim), self.large)
        return crop, matrix * (crop / self.large)


FOREIGN_FACE_COLOUR_MATCH = 0.5
"""A face made by another model (e.g. the Cute portrait model inside a Hayao picture) takes half of the
background's colour statistics: its own palette clashes at 0, it turns grey and flat at 1."""


def face_plan(spec: StyleSpec, face_spec: StyleSpec) -> FacePlan:
    """The face plan of a style whose faces are made by ``face_spec`` (the same spec or its face_style).

    Fixed-size models run at their size; slow models (AnimeGAN v1) stay at 256² crops to bound time.
    """
    match = 0.0 if face_spec.id == spec.id else FOREIGN_FACE_COLOUR_MATCH
    if face_spec.size.fixed:
        return FacePlan((max(face_spec.size.fixed),), (), match)
    if face_spec.cost == "slow":
        return FacePlan((128, 256), (100,), match)
    return FacePlan(colour_match=match)


def stylize_faces(background: RGB, photo: RGB, found: Detections, stylize: Callable[[RGB], RGB],
                  plan: FacePlan, strength: float = 1.0,
                  progress: Callable[[float, str], None] | None = None) -> RGB:
    """Every face of ``found`` (processing pixels) aligned from ``photo``, run through ``stylize``
    (crop² RGB → crop² RGB, including the style's post-processing), colour-matched to the same
    crop of ``background`` and pasted into a copy of ``background`` with a feathered mask.
    ``strength`` in [0, 1] blends the face result over the background's own stylization. Faces are
    pasted one after another, so where two overlap the later one's colours are matched to the earlier."""
    out = background.copy()
    masks: dict[int, Mask] = {}
    for i, lm in enumerate(found.landmarks):
        if progress:
            progress(i / len(found), f"face {i + 1}/{len(found)}")
        crop, matrix = plan.crop_for(alignment(lm, plan.large, plan.zoom))
        mask = masks.get(crop)
        if mask is None:
            mask = masks[crop] = face_mask(crop)
        face = stylize(warp_crop(photo, matrix, crop))
        under = warp_crop(out, matrix, crop)
        if plan.colour_match > 0:
            face = match_colours(face, under, mask, plan.colour_match)
        face = match_boundary(face, under, mask)
        paste(out, face, mask, matrix, strength)
    return out
