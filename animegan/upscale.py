"""Real-ESRGAN upscaling: the registry of upscaler models and the tiled, memory-bounded upscaling pass.

The models are the real ``realesrgan`` / ``basicsr`` architectures (``SRVGGNetCompact``, ``RRDBNet``); their
weights come only from our manifest (SHA-256 verified, ``torch.load(weights_only=True)``), never from a URL.

Runtime: each network is exported once to an ONNX model derived from the verified weights (``backends.derived``:
checked against PyTorch, cached by the source's SHA-256; the only step that needs torch), which runs in the runtime
measured fastest on this CPU (``backends.choice``), inside RealESRGANer's pre-pad / tile / post-process geometry
reproduced in numpy (:mod:`.sr_tiling`, equal to it call for call).

Geometry: every model here is natively ×4 (×2 for x2plus). ×2 from a ×4 SRVGGNetCompact runs a folded ×2
network (:func:`fold_x2`), equal to "×4, then a 2×2 area average" without computing the ×4 image. Any other
factor ``k`` below the native scale runs at the native scale and is area-downscaled by ``native / k``, which
is what Real-ESRGAN's ``outscale`` does. The image is processed in horizontal bands with context rows, so
the network-scale intermediate never exists for the whole image: memory is bounded by the band budget
plus the result itself. Because ``k`` is an integer, every band edge falls on a pixel edge at both
scales and the banded result equals the one-piece result.

torch, basicsr and realesrgan are imported to build the ONNX models only.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
import numpy.typing as npt

from .availability import Availability
from .errors import AnimeGANError, BackendUnavailableError, InvalidOptionError, WeightsError
from .imageio import Picture
from .progress import Progress, no_progress
from .settings import Settings
from .sr_tiling import upscale_tiles
from .styles import Cost, Registry
from .weights import WeightStore

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .backends.derived import Derived
    from .backends.graphs import Graph

log = logging.getLogger(__name__)

RGB = npt.NDArray[np.float32]
UpscalerArch = Literal["srvgg_compact", "rrdbnet"]

TILE_PAD = 24
"""Context pixels around each tile and band: more than SRVGGNetCompact's receptive radius (18 px), so
tile seams are invisible (tiled vs untiled ≥ 40 dB PSNR, see tests)."""
PRE_PAD = 10
"""RealESRGANer's reflect padding at the bottom/right edge against border artefacts (its default)."""
BAND_BYTES = 192 << 20
"""Budget of one band's network-scale output (float32 RGB); bands are cut to stay below it."""
MIN_SIDE = 16
"""Smaller inputs are edge-padded to this size first (reflect padding needs some pixels)."""


class UpscaleError(AnimeGANError):
    """The upscaling model failed while running (typically out of memory)."""


@dataclass(frozen=True)
class UpscalerSpec:
    """Facts about one upscaler model: what it is, which weight file and how to build it."""

    id: str
    label: str
    description: str
    weights: str
    """File name in ``weights/manifest.json``."""
    arch: UpscalerArch
    scale: int
    """The network's native factor."""
    blocks: int
    """``num_conv`` of SRVGGNetCompact or ``num_block`` of RRDBNet."""
    cost: Cost = "fast"
    max_tile: int = 512
    """Largest tile side (input px): RRDBNet keeps 64-channel maps at 4× the tile, so its tiles are smaller."""


UPSCALERS: Registry[UpscalerSpec] = Registry("upscaler", InvalidOptionError)
DEFAULT_UPSCALER = "animevideov3"

UPSCALERS.add(UpscalerSpec(
    id="animevideov3", label="Anime video v3 (fast)", arch="srvgg_compact", scale=4, blocks=16,
    description="realesr-animevideov3: small and fast, made for anime lines and flat colours (the default).",
    weights="realesr-animevideov3.pth",
))
UPSCALERS.add(UpscalerSpec(
    id="general_x4v3", label="General v3", arch="srvgg_compact", scale=4, blocks=32,
    description="realesr-general-x4v3: compact general-purpose model with strong denoising.",
    weights="realesr-general-x4v3.from-ncnn.pth",
))
UPSCALERS.add(UpscalerSpec(
    id="x4plus_anime_6b", label="x4plus anime 6B", arch="rrdbnet", scale=4, blocks=6, cost="medium", max_tile=256,
    description="RealESRGAN_x4plus_anime_6B: RRDB network for anime illustrations; several times slower.",
    weights="RealESRGAN_x4plus_anime_6B.from-ncnn.pth",
))
UPSCALERS.add(UpscalerSpec(
    id="x4plus", label="x4plus (slow)", arch="rrdbnet", scale=4, blocks=23, cost="slow", max_tile=256,
    description="RealESRGAN_x4plus: the large general model; very slow on a CPU (minutes per megapixel).",
    weights="RealESRGAN_x4plus.from-ncnn.pth",
))
UPSCALERS.add(UpscalerSpec(
    id="x2plus", label="x2plus (slow)", arch="rrdbnet", scale=2, blocks=23, cost="slow", max_tile=256,
    description="RealESRGAN_x2plus: the large general model at native ×2; very slow on a CPU.",
    weights="RealESRGAN_x2plus.pth",
))


# ---- geometry (pure functions, unit-tested) ------------------------------------------------------


def model_factor(processing: tuple[int, int], target: tuple[int, int], native: int) -> int:
    """The integer factor the upscaling pass produces from a ``processing`` (H, W) image.

    The smallest integer reaching ``target`` (H, W), capped at the model's ``native`` scale; the encoder
    resizes the rest of the way (a mild downscale, or an enlargement when even ``native`` falls short).
    """
    ratio = max(target[0] / processing[0], target[1] / processing[1])
    return max(1, min(native, math.ceil(ratio - 1e-9)))


def bands(height: int, width: int, scale: int, budget_bytes: int = BAND_BYTES) -> list[tuple[int, int]]:
    """Row ranges ``[y0, y1)`` covering ``height`` so one band's float32 RGB output at the network's ``scale``
    fits ``budget_bytes``."""
    row_bytes = 12 * scale * scale * (width + PRE_PAD)
    rows = max(1, budget_bytes // row_bytes - 2 * TILE_PAD)
    n = -(-height // rows)
    # equal bands: no thin last band whose context would cost more than its rows
    return [(height * i // n, height * (i + 1) // n) for i in range(n)]


def effective_tile(height: int, width: int, tile: int) -> int:
    """The tile side actually used for an ``height × width`` input (after RealESRGANer's pre-pad).

    Tiles are made equal instead of leaving a thin last row and column (a 512² image pre-pads to 522, which
    a 512 tile would cut into 512 + 10): ``n = ceil(side / (tile + 2·TILE_PAD))`` tiles per side, so a tile
    with its context is never larger than a nominal tile plus twice its context. 0 (untiled) stays 0.
    """
    if tile <= 0:
        return 0
    side = max(height, width) + PRE_PAD
    n = -(-side // (tile + 2 * TILE_PAD))
    return -(-side // n)


def tile_count(height: int, width: int, tile: int, native: int) -> int:
    """Model calls RealESRGANer makes for an ``height × width`` input (after its pre-pad and mod-pad)."""
    h, w = height + PRE_PAD, width + PRE_PAD
    mod = {2: 2, 1: 4}.get(native)
    if mod:
        h, w = -(-h // mod) * mod, -(-w // mod) * mod
    if tile <= 0:
        return 1
    return math.ceil(h / tile) * math.ceil(w / tile)


# ---- the networks ---------------------------------------------------------------------------------


def build_model(spec: UpscalerSpec, scale: int | None = None) -> nn.Module:
    """The spec's network from the real ``realesrgan`` / ``basicsr`` classes (random weights).

    ``scale`` below the native one (SRVGGNetCompact only) builds the folded network of :func:`fold_x2`.
    """
    if spec.arch == "srvgg_compact":
        from realesrgan.archs.srvgg_arch import SRVGGNetCompact

        return SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=spec.blocks, upscale=scale or spec.scale,
                               act_type="prelu")
    from basicsr.archs.rrdbnet_arch import RRDBNet

    return RRDBNet(num_in_ch=3, num_out_ch=3, scale=spec.scale, num_feat=64, num_block=spec.blocks, num_grow_ch=32)


def fold_x2(state: dict[str, torch.Tensor], blocks: int) -> dict[str, torch.Tensor]:
    """A ×4 SRVGGNetCompact state dict → the ×2 network equal to "×4, then a 2×2 box average" (INTER_AREA by 2).

    Both parts of the output are linear in the last convolution: PixelShuffle(4) puts channel c·16 + a·4 + b
    at sub-pixel (a, b), so the ×2 pixel (p, q) is the mean of channels with a ∈ {2p, 2p+1}, b ∈ {2q, 2q+1}
    (the 48 output channels become 12, for PixelShuffle(2)); the nearest ×4 base averages to the nearest ×2.
    """
    last = f"body.{2 * blocks + 2}"
    folded = dict(state)
    for key in (f"{last}.weight", f"{last}.bias"):
        t = state[key]  # channel index c·16 + (2p + r)·4 + (2q + s) = (c, p, r, q, s)
        folded[key] = t.reshape(3, 2, 2, 2, 2, *t.shape[1:]).mean(dim=(2, 4)).reshape(12, *t.shape[1:])
    return folded


def _export(spec: UpscalerSpec, path: Path, scale: int, dst: Path) -> dict[str, object]:
    """Build the network producing ``scale`` from the verified weights at ``path`` (strict, weights-only) and export
    it to ONNX (NCHW in [0, 1], dynamic H×W), checked against PyTorch on a real photo. Needs torch, basicsr and
    realesrgan: only here, at build time."""
    import torch

    from .backends import derived
    from .backends.torch_backend import load_state_dict

    state = load_state_dict(path)
    model = build_model(spec, scale)
    try:
        model.load_state_dict(fold_x2(state, spec.blocks) if scale != spec.scale else state, strict=True)
    except RuntimeError as err:
        raise WeightsError(f"{spec.weights} does not fit upscaler {spec.id!r} ({spec.arch}): {err}") from err
    model = model.float().eval().requires_grad_(False)
    x = torch.from_numpy(np.ascontiguousarray(derived.calibration_images(side=96)[0].transpose(2, 0, 1)[None]))
    axes = {"x": {2: "height", 3: "width"}, "y": {2: "out_height", 3: "out_width"}}
    max_err = derived.export_checked(model, (x,), ["x"], ["y"], None, dst, dynamic_axes=axes)
    return {"max_abs_err": max_err, "input": "nchw, [0, 1]", "exporter": "torchscript"}


def _same_images(reference: list[list[RGB]], candidate: list[list[RGB]]) -> dict[str, object]:
    """The upscalers' quality guard: NCHW [0, 1] outputs compared as images (see :func:`.backends.derived.image_quality`)."""
    from .backends.derived import image_quality

    def nhwc(outputs: list[list[RGB]]) -> list[list[RGB]]:
        return [[y[0].transpose(0, 2, 3, 1)] for y in outputs]

    return image_quality(nhwc(reference), nhwc(candidate), (0.0, 1.0))


PROBE_SIDE = 64
"""The measured choice of an upscaler's runtime runs the example photos at this longer side (×4: 256 px out)."""


class Networks:
    """The networks of one upscaler, by output scale: the native one, and for a ×4 SRVGGNetCompact also the folded
    ×2. Each is an ONNX model derived from the verified weights once (:func:`_export`, needs torch) and cached, then
    run in the runtime measured fastest on this CPU (:mod:`.backends.choice`), without torch."""

    def __init__(self, spec: UpscalerSpec, path: Path, source_sha256: str, settings: Settings,
                 measured: bool = True) -> None:
        self.spec, self.path, self.source_sha256, self.settings = spec, path, source_sha256, settings
        self.measured = measured
        """False: always onnxruntime fp32 (the baseline of ``--backend onnx``), nothing measured."""
        self._nets: dict[int, Graph] = {}
        self._lock = threading.Lock()

    @property
    def scales(self) -> tuple[int, ...]:
        """Output scales a network exists for."""
        return (2, 4) if self.spec.arch == "srvgg_compact" and self.spec.scale == 4 else (self.spec.scale,)

    def kind(self, scale: int) -> str:
        """The derived-model kind of the network producing ``scale``."""
        return "onnx" if scale == self.spec.scale else f"onnx-x{scale}"

    def built(self) -> bool:
        """Whether every network's ONNX model is in the model cache (then nothing here needs torch)."""
        from .backends import derived

        return all(derived.exists(self.settings.model_cache_dir, self.source_sha256, self.kind(s)) for s in self.scales)

    def build(self) -> list[Path]:
        """Build (or find) every network's ONNX model without loading or measuring any (the image's build step)."""
        return [self._built(scale).path for scale in self.scales]

    def _built(self, scale: int) -> Derived:
        from .backends import derived

        return derived.cached(self.settings.model_cache_dir, self.source_sha256, self.kind(scale),
                              lambda dst: _export(self.spec, self.path, scale, dst))

    def get(self, scale: int) -> Graph:
        """The network producing ``scale`` (one of :attr:`scales`); built and loaded once."""
        with self._lock:
            if scale not in self._nets:
                self._nets[scale] = self._load(scale)
            return self._nets[scale]

    def _load(self, scale: int) -> Graph:
        from .backends import derived, measured_graph
        from .backends.graphs import open_graph

        found = self._built(scale)
        if not self.measured:
            return open_graph(found.path, "onnxruntime", self.settings.threads)
        feeds = [{"x": np.ascontiguousarray(img.transpose(2, 0, 1)[None])} for img in derived.calibration_images(PROBE_SIDE)]
        return measured_graph(found.path, str(found.record["sha256"]), f"{self.spec.id} ×{scale}", self.settings,
                              lambda _: feeds, _same_images)


@dataclass(frozen=True)
class Upscaler:
    """A loaded upscaler. Safe to call from many threads at once (per-call state is per call)."""

    spec: UpscalerSpec
    networks: Networks
    tile: int
    """Tile side in input pixels; 0 runs each band in one piece."""
    band_bytes: int = BAND_BYTES

    def network_scale(self, factor: int) -> int:
        """The network used for ``factor``: the folded ×2 when there is one, else the native scale."""
        return factor if factor in self.networks.scales else self.spec.scale

    def runtime(self, factor: int) -> str:
        """Where ``factor`` runs, e.g. ``"openvino bf16 ×2 (folded)"`` (loads that network)."""
        scale = self.network_scale(factor)
        graph = self.networks.get(scale)
        return f"{graph.runtime} {graph.precision} ×{scale}" + (" (folded)" if scale != self.spec.scale else "")

    def __call__(self, rgb: RGB, factor: int, progress: Progress = no_progress) -> RGB:
        """h×w×3 float32 RGB in [0, 1] → (h·factor)×(w·factor)×3 float32 in [0, 1], for 1 ≤ factor ≤ native scale.

        Raises UpscaleError if the model fails (e.g. out of memory).
        """
        native = self.spec.scale
        if not 1 <= factor <= native:
            raise InvalidOptionError(f"upscale factor {factor} must be between 1 and {native} for upscaler {self.spec.id!r}")
        scale = self.network_scale(factor)
        graph = self.networks.get(scale)
        h, w = rgb.shape[:2]
        ph, pw = max(0, MIN_SIDE - h), max(0, MIN_SIDE - w)
        if ph or pw:
            rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")
        hp, wp = rgb.shape[:2]
        plan = []
        for y0, y1 in bands(hp, wp, scale, self.band_bytes):
            c0, c1 = max(0, y0 - TILE_PAD), min(hp, y1 + TILE_PAD)
            plan.append((y0, y1, c0, c1, effective_tile(c1 - c0, wp, self.tile)))
        total = sum(tile_count(c1 - c0, wp, tile, native) for _, _, c0, c1, tile in plan)
        done = 0

        def net(x: RGB) -> RGB:
            nonlocal done
            try:
                (y,) = graph({"x": x})
            except Exception as err:  # the runtimes raise their own types (out of memory, a bad shape)
                raise UpscaleError(f"upscaler {self.spec.id!r} failed on a {x.shape[3]}×{x.shape[2]} px tile ({err}); "
                                   "if memory ran out, set a smaller ANIMEGAN_TILE_SIZE") from err
            done += 1
            progress(min(done / total, 1.0), f"upscaling tile {done}/{total}")
            return y

        out = np.empty((hp * factor, wp * factor, 3), np.float32)
        for y0, y1, c0, c1, tile in plan:
            scaled = upscale_tiles(net, rgb[c0:c1], native, scale, tile, TILE_PAD, PRE_PAD)
            core = scaled[(y0 - c0) * scale:(y1 - c0) * scale]
            if factor != scale:  # cv2 keeps the float32 dtype; its stubs type the result as any number array
                core = np.asarray(cv2.resize(np.ascontiguousarray(core), (wp * factor, (y1 - y0) * factor),
                                             interpolation=cv2.INTER_AREA), np.float32)
            out[y0 * factor:y1 * factor] = core
        return out[:h * factor, :w * factor]


def load_upscaler(spec: UpscalerSpec, store: WeightStore, settings: Settings, measured: bool = True) -> Upscaler:
    """The spec's upscaler from its verified weights, with its native network loaded (built once from the weights),
    in the runtime measured fastest here (``measured``) or in onnxruntime fp32.

    Raises WeightsMissingError / WeightsChecksumError, or WeightsError if the file does not fit the network.
    """
    found = store.locate(spec.weights)
    entry = found.entry
    if entry.arch != spec.arch:
        raise WeightsError(f"upscaler {spec.id!r} needs an {spec.arch!r} file; the manifest has {entry.file!r} as {entry.arch!r}")
    networks = Networks(spec, found.path, entry.sha256, settings, measured)
    try:
        networks.get(spec.scale)
    except BackendUnavailableError as err:
        raise WeightsError(f"upscaler {spec.id!r}: {err}") from err
    return Upscaler(spec, networks, tile=min(settings.tile_size, spec.max_tile))


def packages_missing() -> list[str]:
    """Names of the upscaling packages that are not installed (checked without importing them)."""
    return [name for name in ("torch", "basicsr", "realesrgan") if importlib.util.find_spec(name) is None]


class UpscalerCache:
    """Loads each upscaler once (thread-safe) and reports which ones can run here."""

    def __init__(self, store: WeightStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._loaded: dict[tuple[str, bool], Upscaler] = {}
        self._lock = threading.Lock()

    def get(self, upscaler_id: str | None, measured: bool = True) -> Upscaler:
        """The cached upscaler (``None``: the default) in the measured runtime, or (``measured=False``) in
        onnxruntime fp32. Raises InvalidOptionError or WeightsError."""
        spec = UPSCALERS.get(upscaler_id or DEFAULT_UPSCALER)
        with self._lock:
            cached = self._loaded.get((spec.id, measured))
            if cached is None:
                cached = load_upscaler(spec, self.store, self.settings, measured)
                self._loaded[(spec.id, measured)] = cached
        return cached

    def status(self, upscaler_id: str | None) -> Availability[UpscalerSpec]:
        """Whether the upscaler can run here: its weights verify, and its ONNX models are built or can be (torch,
        basicsr and realesrgan installed); nothing is loaded."""
        spec = UPSCALERS.get(upscaler_id or DEFAULT_UPSCALER)
        st = self.store.status(spec.weights)
        if not st.available:
            return Availability(spec, st.state, st.reason, st.license)
        missing = packages_missing()
        if missing and not (st.path and Networks(spec, st.path, st.item.sha256, self.settings).built()):
            return Availability(spec, "unavailable", f"its ONNX models are not built, and building them needs "
                                f"{', '.join(missing)} (pip install -r requirements-torch.txt, then python -m animegan prepare)",
                                st.license)
        return Availability(spec, "ok", "", st.license, st.path)

    def statuses(self) -> list[Availability[UpscalerSpec]]:
        """Every registered upscaler, in registry order, with availability (no model is loaded)."""
        return [self.status(s.id) for s in UPSCALERS]

    def availability(self) -> Availability[str]:
        """Whether upscaling can run at all here (some upscaler is available), and why not."""
        rows = self.statuses()
        if any(r.available for r in rows):
            return Availability("upscale")
        return Availability("upscale", "unavailable", rows[0].reason if rows else "no upscaler is registered")


def upscale_picture(upscaler: Upscaler, pic: Picture, scale: int, progress: Progress = no_progress) -> Picture:
    """The pipeline step: upscale ``pic.rgb`` towards ``output_size`` = source size × ``scale``.

    ``rgb`` becomes the model's result at an integer factor of the processing size (see
    :func:`model_factor`); the encoder resizes it to ``output_size`` and upscales the alpha channel.
    """
    h, w = pic.rgb.shape[:2]
    target = (pic.size[1] * scale, pic.size[0] * scale)
    factor = model_factor((h, w), target, upscaler.spec.scale)
    return replace(pic, rgb=upscaler(pic.rgb, factor, progress), scale=scale)
