"""The engine: cached stylizers plus the pipeline decode → normalize → stylize → faces → upscale → encode.

Each step is a plain function ``(Picture, StylizeOptions) -> Picture``; a step that a request does
not need is left out of the plan rather than skipped inside.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from . import grades
from .availability import Availability
from .backends import BACKEND_NAMES, BackendName, StyleModel, has_onnx_graph, onnx_graph, open_style_backend
from .chroma import keep_colors
from .errors import InvalidOptionError
from .imageio import OutputFormat, Picture, Source, decode, encode
from .progress import Progress, no_progress, scaled
from .resample import fit_within, resize
from .settings import Settings, get_settings
from .styles import STYLES, StyleSpec
from .stylizer import Stylizer
from .upscale import UPSCALERS, UpscalerCache, upscale_picture
from .weights import WeightStore

if TYPE_CHECKING:
    from .faces import FaceDetector

log = logging.getLogger(__name__)

FaceMode = Literal["auto", "on", "off"]
FACE_MODES: tuple[FaceMode, ...] = ("auto", "on", "off")
UPSCALES = (1, 2, 3, 4)
STYLE_SIDE = 0
"""``StylizeOptions.max_side``: the style's own processing size (:attr:`StyleSpec.default_side`), else DEFAULT_SIDE."""
DEFAULT_SIDE = 1024


@dataclass(frozen=True)
class StylizeOptions:
    """One request's choices, checked when built (raises UnknownStyleError / InvalidOptionError).

    ``max_side=None`` means full resolution: the image is stylized at its own size, in tiles; ``STYLE_SIDE`` (the
    default) the style's own processing size where it has one (:attr:`StyleSpec.default_side`), else 1024.
    """

    style: str
    max_side: int | None = STYLE_SIDE
    face: FaceMode = "off"
    """Library default off: video/live frames and other callers opt in; the CLI and app default to auto."""
    face_strength: float = 1.0
    """How much the face pass replaces the plain result inside each face (0-1)."""
    upscale: int = 1
    upscaler: str | None = None
    backend: BackendName = "auto"
    match_brightness: bool = False
    strength: float = 1.0
    keep_colors: bool = False
    """The result's luminance from the style, its colours (Cb, Cr) from the photo; applied last, after faces and
    upscaling."""

    def __post_init__(self) -> None:
        spec = STYLES.get(self.style)
        if self.max_side == STYLE_SIDE:
            object.__setattr__(self, "max_side", spec.default_side or DEFAULT_SIDE)
        if self.max_side is not None and not 64 <= self.max_side <= 8192:
            raise InvalidOptionError(f"max_side={self.max_side} must be between 64 and 8192 (or None for full resolution)")
        if self.face not in FACE_MODES:
            raise InvalidOptionError(f"face={self.face!r} must be one of {', '.join(FACE_MODES)}")
        if self.upscale not in UPSCALES:
            raise InvalidOptionError(f"upscale={self.upscale!r} must be one of {', '.join(map(str, UPSCALES))}")
        if self.upscaler is not None:
            UPSCALERS.get(self.upscaler)
        if self.backend not in BACKEND_NAMES:
            raise InvalidOptionError(f"backend={self.backend!r} must be one of {', '.join(BACKEND_NAMES)}")
        if not 0.0 <= self.strength <= 1.0:
            raise InvalidOptionError(f"strength={self.strength} must be between 0 and 1")
        if not 0.0 <= self.face_strength <= 1.0:
            raise InvalidOptionError(f"face_strength={self.face_strength} must be between 0 and 1")


@dataclass(frozen=True)
class OnnxModel:
    """A style's generator as one fp32 ONNX file another runtime can run (e.g. onnxruntime-web in a browser).

    Input 1×H×W×3 float32 in ``spec.value_range`` named ``input_name``, output the same at ``output_name``;
    H×W follow ``spec.size``. The colour grade, padding and cropping are the caller's (see :class:`Stylizer`).
    """

    spec: StyleSpec
    path: Path
    sha256: str
    """SHA-256 of the file's bytes (verified, or recorded when it was derived from the verified weights)."""
    input_name: str | None
    output_name: str | None
    layout: Literal["NHWC", "NCHW"]


Step = Callable[[Picture, StylizeOptions, Progress], Picture]


class Engine:
    """Everything a process needs to stylize: settings, verified weights and cached models.

    Thread-safe: models load once (under a lock) and are shared by all callers.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.weights = WeightStore(self.settings)
        self._stylizers: dict[tuple[str, str], Stylizer] = {}
        self.upscalers = UpscalerCache(self.weights, self.settings)
        self._face_detector: FaceDetector | None = None
        self._lock = threading.Lock()

    # ---- styles -------------------------------------------------------------------------------

    def style_status(self, style_id: str) -> Availability[StyleSpec]:
        """Whether the style's weights verify here, and why not (no model is loaded)."""
        spec = STYLES.get(style_id)
        st = self.weights.status(spec.weights)
        return Availability(spec, st.state, st.reason, st.license, st.path)

    def styles(self) -> list[Availability[StyleSpec]]:
        """Every registered style, in registry order, with availability (no model is loaded)."""
        return [self.style_status(s.id) for s in STYLES]

    def styles_fastest_first(self) -> list[StyleSpec]:
        """The available styles, the fastest first (by cost class, then registry order)."""
        order = {"fast": 0, "medium": 1, "slow": 2}
        return sorted((s.item for s in self.styles() if s.available), key=lambda spec: order[spec.cost])

    def stylizer(self, style_id: str, backend: BackendName = "auto") -> Stylizer:
        """The cached Stylizer of a style. Raises WeightsError if its weights are missing or corrupt."""
        key = (style_id, backend)
        with self._lock:
            cached = self._stylizers.get(key)
            if cached is None:
                cached = self._load(STYLES.get(style_id), backend)
                self._stylizers[key] = cached
        return cached

    def _load(self, spec: StyleSpec, backend: BackendName) -> Stylizer:
        return Stylizer(spec, open_style_backend(backend, self.style_model(spec.id), self.settings))

    def style_model(self, style_id: str) -> StyleModel:
        """The style's verified weight file and how its graph is fed. Raises UnknownStyleError or WeightsError."""
        spec = STYLES.get(style_id)
        found = self.weights.locate(spec.weights)
        return StyleModel(found.path, found.entry, spec.value_range, spec.input_name, spec.output_name, spec.fp32_tail)

    def onnx_model(self, style_id: str) -> OnnxModel:
        """The style's fp32 ONNX file: the verified weight file itself, or its export built from it once (``hayao``).

        Raises UnknownStyleError, WeightsError (weights missing or corrupt) or BackendUnavailableError
        (the weights have no ONNX form here).
        """
        spec = STYLES.get(style_id)
        found = self.weights.locate(spec.weights)
        graph = onnx_graph(found.path, found.entry, self.settings)
        if graph.input_name is not None:  # an export: NHWC, its own tensor names
            return OnnxModel(spec, graph.path, graph.sha256, graph.input_name, graph.output_name, "NHWC")
        return OnnxModel(spec, graph.path, graph.sha256, spec.input_name, spec.output_name, spec.layout)

    def onnx_model_status(self, style_id: str) -> Availability[StyleSpec]:
        """Whether :meth:`onnx_model` can give this style's file (its weights verify and have an ONNX form),
        and why not; nothing is built or loaded."""
        status = self.style_status(style_id)
        if not status.available:
            return status
        entry = self.weights.entry(status.item.weights)
        if not has_onnx_graph(entry):
            return status.because(f"{entry.file!r} (a {entry.format} {entry.arch} model) has no ONNX form")
        return status

    def features(self) -> dict[str, Availability[str]]:
        """Optional capabilities (``faces``, ``upscale``) and whether they can run (the UI disables the rest)."""
        return {"faces": self._faces_feature(), "upscale": self.upscalers.availability()}

    # ---- pipeline -----------------------------------------------------------------------------

    def plan(self, options: StylizeOptions) -> list[tuple[str, Step]]:
        """The named steps a request runs, in order.

        Raises InvalidOptionError when the request needs a capability that is unavailable here.
        """
        features = self.features()
        if options.face == "on" and not features["faces"].available:
            raise InvalidOptionError(f"face mode 'on' is unavailable: {features['faces'].reason}")
        if options.upscale > 1 and not features["upscale"].available:
            raise InvalidOptionError(f"upscaling is unavailable: {features['upscale'].reason}")
        steps: list[tuple[str, Step]] = [("preparing", self._normalize), ("stylizing", self._stylize)]
        if options.face != "off" and features["faces"].available:
            steps.append(("faces", self._faces))
        elif options.face == "auto":
            log.debug("face pass left out: %s", features["faces"].reason)
        if options.upscale > 1:
            upscaler = self.upscalers.status(options.upscaler)
            if not upscaler.available:
                raise InvalidOptionError(f"upscaler {upscaler.item.id!r} is unavailable: {upscaler.reason}")
            steps.append(("upscaling", self._upscale))
        if options.keep_colors:
            steps.append(("colours", self._keep_colors))
        return steps

    def stylize(self, picture: Picture, options: StylizeOptions, progress: Progress = no_progress) -> Picture:
        """Run the plan on a decoded picture. The result's ``rgb`` is at processing size; encoding
        (or :func:`animegan.imageio.to_pil`) resizes it to ``output_size``."""
        steps = self.plan(options)
        for i, (name, step) in enumerate(steps):
            progress(i / len(steps), name)
            picture = step(picture, options, scaled(progress, i / len(steps), (i + 1) / len(steps)))
        progress(1.0, "done")
        return picture

    def stylize_file(self, source: Source, options: StylizeOptions, progress: Progress = no_progress) -> Picture:
        """Decode then stylize. Raises UnsupportedImageError / ImageTooLargeError / WeightsError."""
        progress(0.0, "decoding")
        picture = decode(Path(source) if isinstance(source, str) else source, self.settings.max_pixels)
        return self.stylize(picture, options, progress)

    def render(self, source: Source, options: StylizeOptions, fmt: OutputFormat = "png",
               progress: Progress = no_progress) -> bytes:
        """Decode, stylize and encode: the result file's bytes (``fmt``: an OutputFormat).

        Raises what :meth:`stylize_file` raises.
        """
        picture = self.stylize_file(source, options, progress)
        progress(0.98, "encoding")
        return encode(picture, fmt)

    def _normalize(self, pic: Picture, opts: StylizeOptions, progress: Progress) -> Picture:
        h, w = pic.rgb.shape[:2]
        if opts.max_side is None:
            return replace(pic, photo=pic.rgb)
        th, tw = fit_within(h, w, opts.max_side)
        rgb = resize(pic.rgb, th, tw)
        return replace(pic, rgb=rgb, photo=rgb)

    # ---- faces (animegan.faces sits right of the pipeline: imported on first use) -----------------

    def _face_weights(self) -> tuple[Path | None, str]:
        """The detector file to use (the ONNX copy first, else the .pth with facexlib), or None and why."""
        from .faces import DETECTOR_WEIGHTS, DETECTOR_WEIGHTS_ONNX

        onnx, pth = self.weights.status(DETECTOR_WEIGHTS_ONNX), self.weights.status(DETECTOR_WEIGHTS)
        if onnx.available:
            return onnx.path, f"RetinaFace MobileNet-0.25 ({onnx.path})"
        if not pth.available:
            return None, f"face detector unavailable: {onnx.reason}; {pth.reason}"
        if importlib.util.find_spec("facexlib") is None:
            return None, f"face detection with {pth.item.file!r} needs facexlib; pip install -r requirements.txt"
        return pth.path, f"RetinaFace MobileNet-0.25 (facexlib, {pth.path})"

    def _faces_feature(self) -> Availability[str]:
        path, reason = self._face_weights()
        return Availability("faces", "ok" if path else "unavailable", reason, path=path)

    def face_detector(self) -> FaceDetector:
        """The cached face detector (verified weights, loaded once). Raises WeightsError."""
        from .faces import DETECTOR_WEIGHTS, DETECTOR_WEIGHTS_ONNX, FaceDetector

        with self._lock:
            if self._face_detector is None:
                path, _ = self._face_weights()
                # no usable copy: locate() raises the WeightsError naming the file and the fix
                found = self.weights.locate(DETECTOR_WEIGHTS_ONNX if path and path.suffix == ".onnx" else DETECTOR_WEIGHTS)
                self._face_detector = FaceDetector.load(found.path, found.entry.sha256, self.settings)
            return self._face_detector

    def _faces(self, pic: Picture, opts: StylizeOptions, progress: Progress) -> Picture:
        from . import faces

        photo = pic.photo if pic.photo is not None else pic.rgb
        s = self.settings
        found = faces.detect_faces(self.face_detector(), photo, s.face_threshold, s.face_min_size, s.face_max,
                                   s.face_detect_side)
        if not len(found):
            return pic
        spec = STYLES.get(opts.style)
        face_spec = STYLES.get(spec.face_style or spec.id)
        same = face_spec.id == spec.id or opts.backend == "onnx"  # the fp32 baseline runs every model in onnxruntime
        stylizer = self.stylizer(face_spec.id, opts.backend if same else "auto")

        def stylize_face(crop: np.ndarray) -> np.ndarray:
            return finish(stylizer(crop), crop, spec, opts)

        plan = faces.face_plan(spec, face_spec)
        rgb = faces.stylize_faces(pic.rgb, photo, found, stylize_face, plan, opts.face_strength, progress)
        return replace(pic, rgb=rgb, faces=faces.to_source(found, photo.shape[:2], pic.size))

    def _stylize(self, pic: Picture, opts: StylizeOptions, progress: Progress) -> Picture:
        stylizer = self.stylizer(opts.style, opts.backend)
        photo = pic.photo if pic.photo is not None else pic.rgb
        full_res = opts.max_side is None
        out = stylizer.full_resolution(photo, self.settings.tile_size, progress) if full_res else stylizer(photo)
        out = finish(out, photo, stylizer.spec, opts)
        return replace(pic, rgb=out)

    def _keep_colors(self, pic: Picture, opts: StylizeOptions, progress: Progress) -> Picture:
        return replace(pic, rgb=keep_colors(pic.rgb, pic.photo if pic.photo is not None else pic.rgb))

    def _upscale(self, pic: Picture, opts: StylizeOptions, progress: Progress) -> Picture:
        # --backend onnx is onnxruntime fp32 for every model of the job: the baseline every speed-up is measured against
        upscaler = self.upscalers.get(opts.upscaler, measured=opts.backend != "onnx")
        return upscale_picture(upscaler, pic, opts.upscale, progress)


def finish(out: np.ndarray, photo: np.ndarray, spec: StyleSpec, opts: StylizeOptions) -> np.ndarray:
    """Post-processing after the generator: the style's grade, then the opt-in adjustments."""
    if spec.grade:
        out = grades.GRADES[spec.grade](out)
    if opts.match_brightness:
        out = grades.match_brightness(out, photo)
    if opts.strength < 1.0:
        out = (opts.strength * out + (1.0 - opts.strength) * photo).astype(np.float32)
    return out
