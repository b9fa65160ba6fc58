"""Real-ESRGAN upscaling: the registry of upscaler models and the tiled, memory-bounded upscaling pass.

The models are the real ``realesrgan`` / ``basicsr`` architectures (``SRVGGNetCompact``, ``RRDBNet``)
run through ``realesrgan.RealESRGANer``'s own pre-pad / tile / post-process code; their weights come
only from our manifest (SHA-256 verified, ``torch.load(weights_only=True)``), never from a URL.

Runtime: each network runs in onnxruntime through an ONNX model derived locally from the verified
weights (``backends.derived``: built once, checked against PyTorch, cached by the source's SHA-256);
PyTorch is the fallback when onnxruntime is missing or the export fails (logged).

Geometry: every model here is natively ×4 (×2 for x2plus). ×2 from a ×4 SRVGGNetCompact runs a folded ×2
network (:func:`fold_x2`), equal to "×4, then a 2×2 area average" without computing the ×4 image. Any other
factor ``k`` below the native scale runs at the native scale and is area-downscaled by ``native / k``, which
is what Real-ESRGAN's ``outscale`` does. The image is processed in horizontal bands with context rows, so
the network-scale intermediate never exists for the whole image: memory is bounded by the band budget
plus the result itself. Because ``k`` is an integer, every band edge falls on a pixel edge at both
scales and the banded result equals the one-piece result.

torch, basicsr, realesrgan and onnxruntime are imported on first use only.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
import numpy.typing as npt

from .errors import AnimeGANError, InvalidOptionError, WeightsError
from .imageio import Picture
from .progress import Progress, no_progress
from .settings import Settings
from .styles import Cost, Registry
from .weights import WeightStore

if TYPE_CHECKING:
    import onnxruntime as ort
    import torch
    from torch import nn

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


@dataclass(frozen=True)
class UpscalerStatus:
    """An upscaler as the UI and CLI list it: whether it can run here, and why not."""

    spec: UpscalerSpec
    available: bool
    reason: str
    license: str


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


def gradient_energy(rgb: RGB) -> float:
    """Variance of the Laplacian of the luma: a sharpness measure (higher is sharper)."""
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return float(cv2.Laplacian(luma, cv2.CV_32F).var())


# ---- the networks ---------------------------------------------------------------------------------

Net = Callable[["torch.Tensor"], "torch.Tensor"]
"""One network on one tile: 1×3×h×w float32 NCHW in [0, 1] → 1×3×(h·s)×(w·s) (s: the network's scale)."""
Runtime = Literal["onnxruntime", "torch"]


def _quiet_print(*values: object) -> None:
    log.debug(" ".join(map(str, values)))


@functools.cache
def _upsampler_class() -> type:
    """``RealESRGANer`` bound to a model we loaded ourselves (built on first use: the import is heavy)."""
    import torch
    from realesrgan import utils as realesrgan_utils

    # RealESRGANer prints a line per tile; the engine never prints, so its prints go to our debug log.
    realesrgan_utils.print = _quiet_print  # type: ignore[attr-defined]

    class BoundUpsampler(realesrgan_utils.RealESRGANer):  # type: ignore[misc, name-defined]
        """RealESRGANer's padding and tiling around an already loaded model.

        Its own constructor is bypassed on purpose: it would ``torch.load`` a path itself (or download a
        URL) and pick CUDA when present; we load through the manifest and run fp32 on the CPU. One
        instance per call: it keeps the call's tensors on ``self``.
        """

        def __init__(self, model: Net, native: int, scale: int, tile: int) -> None:
            self.native, self.out_scale = native, scale
            self.tile_size = tile
            self.tile_pad = TILE_PAD
            self.pre_pad = PRE_PAD
            self.mod_scale = None
            self.half = False
            self.device = torch.device("cpu")
            self.model = model

        def run(self, rgb_hwc: RGB) -> RGB:
            """h×w×3 float32 RGB in [0, 1] → clamped (h·scale)×(w·scale)×3 (a strided view, not a copy)."""
            # mod padding is for what the weights need (×2/×1 RRDBNet unshuffle pixels), not for a folded ×2
            self.scale = self.native
            self.pre_process(rgb_hwc)
            self.scale = self.out_scale
            if 0 < self.tile_size < max(self.img.shape[2:]):
                self.tile_process()
            else:  # one tile covers it: skip tile_process's zero-filled canvas and copy
                self.process()
            out = self.post_process()[0].clamp_(0, 1).permute(1, 2, 0).numpy()
            self.img = self.output = None
            return out

    return BoundUpsampler


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


def _torch_net(model: nn.Module) -> Net:
    import torch

    # fp32 always (half is useless on a CPU); channels_last runs these 3×3 convolutions faster on CPU.
    model = model.to(memory_format=torch.channels_last)
    return lambda x: model(x.contiguous(memory_format=torch.channels_last))


class _OrtNet:
    """An onnxruntime session as a :data:`Net` (``run`` is thread-safe in onnxruntime)."""

    def __init__(self, session: ort.InferenceSession) -> None:
        from .backends.onnx_backend import run

        self.session, self._run = session, run

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        try:
            (y,) = self._run(self.session, None, {"x": np.ascontiguousarray(x.numpy())})
        except Exception as err:  # onnxruntime's Fail/InvalidArgument/RuntimeException are not RuntimeError
            raise RuntimeError(str(err)) from err
        return torch.from_numpy(y)


def _export(model: nn.Module, dst: Path) -> dict[str, object]:
    """Export an upscaling network (NCHW, dynamic H×W) and check it against PyTorch on a real photo."""
    import torch

    from .backends import derived

    x = torch.from_numpy(np.ascontiguousarray(derived.calibration_images(side=96)[0].transpose(2, 0, 1)[None]))
    axes = {"x": {2: "height", 3: "width"}, "y": {2: "out_height", 3: "out_width"}}
    err = derived.export_checked(model, (x,), ["x"], ["y"], None, dst, dynamic_axes=axes)
    return {"max_abs_err": err, "input": "nchw, [0, 1]", "exporter": "torchscript"}


def _ort_net(model: nn.Module, source_sha256: str, kind: str, settings: Settings) -> Net:
    """``model`` through its cached ONNX export. Raises ImportError or BackendUnavailableError/WeightsError."""
    import onnxruntime  # noqa: F401 (missing: the caller falls back to torch)

    from .backends import derived
    from .backends.onnx_backend import open_session

    found = derived.cached(settings.model_cache_dir, source_sha256, kind, lambda dst: _export(model, dst))
    return _OrtNet(open_session(found.path, settings.threads))


class Networks:
    """The loaded networks of one upscaler, by output scale: the native one, and for a ×4 SRVGGNetCompact
    also the folded ×2 (built on first use). Each runs in onnxruntime through an ONNX model derived from
    the verified weights and cached, or in PyTorch if onnxruntime is missing or the export fails."""

    def __init__(self, spec: UpscalerSpec, state: dict[str, torch.Tensor], source_sha256: str, settings: Settings) -> None:
        self.spec, self.source_sha256, self.settings = spec, source_sha256, settings
        self._state = state
        self._nets: dict[int, tuple[Net, Runtime]] = {}
        self._lock = threading.Lock()

    @property
    def scales(self) -> tuple[int, ...]:
        """Output scales a network exists for."""
        return (2, 4) if self.spec.arch == "srvgg_compact" and self.spec.scale == 4 else (self.spec.scale,)

    def get(self, scale: int) -> tuple[Net, Runtime]:
        """The network producing ``scale`` (one of :attr:`scales`) and where it runs; loaded once."""
        with self._lock:
            if scale not in self._nets:
                self._nets[scale] = self._load(scale)
            return self._nets[scale]

    def _load(self, scale: int) -> tuple[Net, Runtime]:
        folded = scale != self.spec.scale
        model = build_model(self.spec, scale)
        state = fold_x2(self._state, self.spec.blocks) if folded else self._state
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise WeightsError(f"{self.spec.weights} does not fit upscaler {self.spec.id!r} ({self.spec.arch}): {err}") from err
        model = model.float().eval().requires_grad_(False)
        kind = f"onnx-x{scale}" if folded else "onnx"
        try:
            return _ort_net(model, self.source_sha256, kind, self.settings), "onnxruntime"
        except (ImportError, AnimeGANError) as err:
            log.warning("upscaler %s ×%d runs in PyTorch (slower): %s", self.spec.id, scale, err)
            return _torch_net(model), "torch"


class _CountedModel:
    """Calls the network on one tile, reports progress, and turns its RuntimeError into ours
    (RealESRGANer's tile loop would print a RuntimeError and carry on with a stale tile)."""

    def __init__(self, net: Net, spec: UpscalerSpec, total: int, progress: Progress) -> None:
        self.net, self.spec, self.total, self.progress = net, spec, total, progress
        self.done = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        try:
            y = self.net(x)
        except RuntimeError as err:
            raise UpscaleError(
                f"upscaler {self.spec.id!r} failed on a {x.shape[3]}×{x.shape[2]} px tile ({err}); "
                "if memory ran out, set a smaller ANIMEGAN_TILE_SIZE"
            ) from err
        self.done += 1
        self.progress(min(self.done / self.total, 1.0), f"upscaling tile {self.done}/{self.total}")
        return y


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
        """Where ``factor`` runs, e.g. ``"onnxruntime ×2 (folded)"`` (loads that network)."""
        scale = self.network_scale(factor)
        where = self.networks.get(scale)[1]
        return f"{where} ×{scale}" + (" (folded)" if scale != self.spec.scale else "")

    def __call__(self, rgb: RGB, factor: int, progress: Progress = no_progress) -> RGB:
        """h×w×3 float32 RGB in [0, 1] → (h·factor)×(w·factor)×3 float32 in [0, 1], for 1 ≤ factor ≤ native scale.

        Raises UpscaleError if the model fails (e.g. out of memory).
        """
        import torch

        native = self.spec.scale
        if not 1 <= factor <= native:
            raise InvalidOptionError(f"upscale factor {factor} must be between 1 and {native} for upscaler {self.spec.id!r}")
        scale = self.network_scale(factor)
        net = self.networks.get(scale)[0]
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
        counted = _CountedModel(net, self.spec, total, progress)
        out = np.empty((hp * factor, wp * factor, 3), np.float32)
        upsampler_class = _upsampler_class()
        with torch.inference_mode():
            for y0, y1, c0, c1, tile in plan:
                scaled = upsampler_class(counted, native, scale, tile).run(rgb[c0:c1])
                core = scaled[(y0 - c0) * scale:(y1 - c0) * scale]
                if factor != scale:
                    core = cv2.resize(np.ascontiguousarray(core), (wp * factor, (y1 - y0) * factor),
                                      interpolation=cv2.INTER_AREA)
                out[y0 * factor:y1 * factor] = core
        return out[:h * factor, :w * factor]


def load_upscaler(spec: UpscalerSpec, store: WeightStore, settings: Settings) -> Upscaler:
    """Load the spec's verified weights (strict, weights-only, fp32, CPU) and its native network.

    Raises WeightsMissingError / WeightsChecksumError, or WeightsError if the file does not fit the network.
    """
    from .backends.torch_backend import load_state_dict, set_torch_threads

    found = store.locate(spec.weights)
    path, entry = found.path, found.entry
    if entry.arch != spec.arch:
        raise WeightsError(f"upscaler {spec.id!r} needs an {spec.arch!r} file; the manifest has {entry.file!r} as {entry.arch!r}")
    set_torch_threads(settings.threads)  # RealESRGANer pads and slices with torch
    networks = Networks(spec, load_state_dict(path), entry.sha256, settings)
    networks.get(spec.scale)
    return Upscaler(spec, networks, tile=min(settings.tile_size, spec.max_tile))


def packages_missing() -> list[str]:
    """Names of the upscaling packages that are not installed (checked without importing them)."""
    return [name for name in ("torch", "basicsr", "realesrgan") if importlib.util.find_spec(name) is None]


class UpscalerCache:
    """Loads each upscaler once (thread-safe) and reports which ones can run here."""

    def __init__(self, store: WeightStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._loaded: dict[str, Upscaler] = {}
        self._lock = threading.Lock()

    def get(self, upscaler_id: str | None) -> Upscaler:
        """The cached upscaler (``None``: the default). Raises InvalidOptionError or WeightsError."""
        spec = UPSCALERS.get(upscaler_id or DEFAULT_UPSCALER)
        with self._lock:
            cached = self._loaded.get(spec.id)
            if cached is None:
                cached = load_upscaler(spec, self.store, self.settings)
                self._loaded[spec.id] = cached
        return cached

    def status(self, upscaler_id: str | None) -> UpscalerStatus:
        spec = UPSCALERS.get(upscaler_id or DEFAULT_UPSCALER)
        st = self.store.status(spec.weights)
        missing = packages_missing()
        if missing:
            return UpscalerStatus(spec, False, f"Python packages not installed: {', '.join(missing)}", st.entry.license)
        return UpscalerStatus(spec, st.state == "ok", "" if st.state == "ok" else st.message, st.entry.license)

    def statuses(self) -> list[UpscalerStatus]:
        """Every registered upscaler, in registry order, with availability (no model is loaded)."""
        return [self.status(s.id) for s in UPSCALERS]

    def availability(self) -> tuple[bool, str]:
        """Whether upscaling can run at all here (some upscaler is available), and why not."""
        rows = self.statuses()
        if any(r.available for r in rows):
            return True, ""
        return False, rows[0].reason if rows else "no upscaler is registered"


def upscale_picture(upscaler: Upscaler, pic: Picture, scale: int, progress: Progress = no_progress) -> Picture:
    """The pipeline step: upscale ``pic.rgb`` towards ``output_size`` = source size × ``scale``.

    ``rgb`` becomes the model's result at an integer factor of the processing size (see
    :func:`model_factor`); the encoder resizes it to ``output_size`` and upscales the alpha channel.
    """
    h, w = pic.rgb.shape[:2]
    target = (pic.size[1] * scale, pic.size[0] * scale)
    factor = model_factor((h, w), target, upscaler.spec.scale)
    return replace(pic, rgb=upscaler(pic.rgb, factor, progress), scale=scale)
