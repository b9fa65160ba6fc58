"""One inference interface over torch and onnxruntime, and the choice between them.

A style's weight file has one native format; :func:`open_style_backend` can also run it through a
model derived from it (an ONNX export of a PyTorch generator, an INT8 quantization), built locally
from the verified file and cached. Backends are imported lazily so that importing :mod:`animegan`
never imports torch.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..errors import BackendUnavailableError
from ..settings import Settings
from ..weights import WeightEntry

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
BackendName = Literal["auto", "torch", "onnx", "onnx-int8", "torch-bf16"]
BACKEND_NAMES: tuple[BackendName, ...] = ("auto", "torch", "onnx", "onnx-int8", "torch-bf16")
"""``auto``: the fastest backend that passes the quality guard; the others force one."""
BuildPolicy = Literal["cached", "forced", "prepare"]
"""How :func:`open_style_backend` treats a reduced-precision build (INT8, bf16): ``cached`` (``auto``) takes only an
existing build that is usable (guard passed, faster than fp32 here); ``forced`` builds it if needed and runs it even
if not usable (with a warning); ``prepare`` builds it if needed and runs it silently (the caller reports the record)."""
EXPORTABLE = frozenset({"animeganv2"})
"""PyTorch architectures that export to ONNX (see :mod:`animegan.backends.derived`)."""
QUANTIZABLE = EXPORTABLE | {"animeganv3", "animeganv3_tiny"}
"""Architectures with an INT8 path. Measured and left out (README, "Speed"): AnimeGAN v1 fails the
quality guard (PSNR 23–28 dB against fp32), White-box runs slower in INT8 (0.86× fp32)."""
GRAFTABLE = frozenset({"animeganv1"})
"""ONNX architectures whose per-image normalization statistics are grafted into a second graph for
full-resolution mode (see :mod:`animegan.backends.graft`); the others tile well without (README, "Speed")."""


class Backend(Protocol):
    """Runs one generator. Implementations are safe to call from many threads at once."""

    name: str

    def run(self, x_nhwc: FloatArray) -> FloatArray:
        """1×H×W×3 float32 in the model's value range → 1×H'×W'×3 float32."""
        ...


@runtime_checkable
class GlobalNormBackend(Protocol):
    """A backend whose generator normalizes with whole-image statistics (GroupNorm) and lets a tiled
    run use statistics measured elsewhere, so tiles match the untiled result."""

    name: str

    def run(self, x_nhwc: FloatArray) -> FloatArray: ...

    def norm_stats(self, x_nhwc: FloatArray) -> FloatArray:
        """Statistics of every normalization layer on this input, float32 in a shape fixed by the model
        (the v2 generator: L×2, mean and variance per layer; a grafted ONNX graph: one flat vector of every
        per-channel mean and variance)."""
        ...

    def run_with_stats(self, x_nhwc: FloatArray, stats: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``run`` with each normalization layer using ``stats`` instead of its input's own; also returns
        the statistics each layer measured on its input (as :meth:`norm_stats` would, given ``stats`` upstream)."""
        ...


def open_backend(
    path: Path,
    fmt: str,
    arch: str,
    threads: int,
    input_name: str | None = None,
    output_name: str | None = None,
) -> Backend:
    """Load a verified weight file into the backend its format needs."""
    if fmt == "torch":
        from .torch_backend import TorchBackend

        return TorchBackend.load(path, arch, threads)
    if fmt == "onnx":
        from .onnx_backend import OnnxBackend

        return OnnxBackend(path, threads, input_name, output_name)
    raise ValueError(f"no backend for weight format {fmt!r}")


def cancel_model_runs() -> None:
    """Cancel every onnxruntime model call of this process, running or future (for a server that is stopping:
    each fails with an onnxruntime error). PyTorch calls cannot be cancelled and run to their end."""
    if "onnxruntime" not in sys.modules:
        return  # no model has run: nothing to cancel, and no reason to import onnxruntime now
    from .onnx_backend import cancel_runs

    cancel_runs()


def candidates(entry: WeightEntry) -> list[BackendName]:
    """Backends that can run this weight file, fastest first (as measured in ``bench/speed.py``)."""
    int8: list[BackendName] = ["onnx-int8"] if entry.arch in QUANTIZABLE else []
    if entry.format == "torch":
        return ["torch-bf16", *int8, "onnx", "torch"] if entry.arch in EXPORTABLE else ["torch"]
    if entry.format == "onnx":
        return [*int8, "onnx"]
    return []


@dataclass(frozen=True)
class OnnxGraph:
    """A weight file's fp32 ONNX graph: NHWC, the style's value range, dynamic or fixed height and width."""

    path: Path
    sha256: str
    """Of the bytes at ``path``: the manifest's for a shipped ONNX file, the build record's for an export."""
    input_name: str | None = None
    output_name: str | None = None
    """Tensor names fixed by the export; None for a shipped file (the style's names apply)."""


def has_onnx_graph(entry: WeightEntry) -> bool:
    """Whether :func:`onnx_graph` can give this weight file's ONNX graph (it is one, or it exports to one)."""
    return entry.format == "onnx" or (entry.format == "torch" and entry.arch in EXPORTABLE)


def onnx_graph(path: Path, entry: WeightEntry, settings: Settings) -> OnnxGraph:
    """The fp32 ONNX graph of a verified weight file ``path`` (``entry`` is its manifest line): the file itself
    for an ONNX model, else its export, built once from the file and cached (:mod:`.derived`; needs torch to build).

    Raises BackendUnavailableError when the file has no ONNX form (not exportable, or the export fails).
    """
    if entry.format == "onnx":
        return OnnxGraph(path, entry.sha256)
    if not has_onnx_graph(entry):
        raise BackendUnavailableError(f"{entry.file!r} (a {entry.format} {entry.arch} model) has no ONNX form")
    from . import derived

    built = derived.cached(settings.model_cache_dir, entry.sha256, "onnx", _export(path, entry, settings.threads, False))
    return OnnxGraph(built.path, str(built.record["sha256"]), *derived.EXPORT_NAMES)


def _export(path: Path, entry: WeightEntry, threads: int, with_stats: bool) -> Callable[[Path], dict[str, object]]:
    """The build function of a PyTorch generator's ONNX export (see :func:`.derived.export_onnx`)."""

    def build(dst: Path) -> dict[str, object]:
        from . import derived
        from .torch_backend import TorchBackend  # torch is imported only to build: a cached export runs without it

        return derived.export_onnx(TorchBackend.load(path, entry.arch, threads).model, dst, with_stats)

    return build


def open_style_backend(
    choice: BackendName,
    path: Path,
    entry: WeightEntry,
    settings: Settings,
    value_range: tuple[float, float],
    input_name: str | None = None,
    output_name: str | None = None,
    build: BuildPolicy = "forced",
) -> Backend:
    """The backend ``choice`` for a verified weight file ``path`` (``entry`` is its manifest line).

    ``auto`` takes the fastest candidate that works here, never building a reduced-precision model on its own:
    INT8 is used when a cached INT8 build of this file passed the quality guard and is recorded as faster than
    fp32 (``derived.INT8_SPEED_FILE``), bf16 when a cached build passed and this CPU has native bf16
    (``python -m animegan prepare`` builds them, and so does forcing the backend once). A candidate that fails is
    logged and the next one tried. A forced choice that cannot run raises BackendUnavailableError; ``build`` is the
    policy for a forced ``onnx-int8`` or ``torch-bf16`` (see :data:`BuildPolicy`).
    """
    options = candidates(entry)
    if choice != "auto":
        if choice not in options:
            raise BackendUnavailableError(
                f"backend {choice!r} cannot run {entry.file!r} (a {entry.format} {entry.arch} model); "
                f"choose one of: auto, {', '.join(options)}"
            )
        return _open(choice, path, entry, settings, value_range, input_name, output_name, build)
    errors = []
    for name in options:
        try:
            backend = _open(name, path, entry, settings, value_range, input_name, output_name, "cached")
        except BackendUnavailableError as err:
            errors.append(f"{name}: {err}")
            log.info("backend %s skipped for %s: %s", name, entry.file, err)
            continue
        if errors:
            log.info("auto backend for %s is %s (%s)", entry.file, name, "; ".join(errors))
        return backend
    raise BackendUnavailableError(f"no backend can run {entry.file!r}: {'; '.join(errors)}")


def _open(
    name: BackendName,
    path: Path,
    entry: WeightEntry,
    settings: Settings,
    value_range: tuple[float, float],
    input_name: str | None,
    output_name: str | None,
    policy: BuildPolicy,
) -> Backend:
    threads = settings.threads
    if name == "torch-bf16":
        return _open_bf16(path, entry, settings, value_range, policy)
    if name == "torch":
        try:
            return open_backend(path, "torch", entry.arch, threads)
        except ImportError as err:  # the `lite` Docker image has no torch
            raise BackendUnavailableError(f"PyTorch is not installed ({err}); use --backend onnx") from err
    try:
        from . import derived
        from .onnx_backend import OnnxBackend, OnnxGlobalNormBackend
    except ImportError as err:
        raise BackendUnavailableError(f"onnxruntime is not installed ({err}); use --backend torch") from err
    root, sha = settings.model_cache_dir, entry.sha256
    fp32_path = onnx_graph(path, entry, settings).path
    stats: Callable[[], Path] | None = None
    if entry.format == "torch":
        stats = lambda: derived.cached(root, sha, "onnx-stats", _export(path, entry, threads, True)).path  # noqa: E731 (built on first tiled run)
        input_name = output_name = None
    elif entry.arch in GRAFTABLE:
        stats = lambda: derived.cached(root, sha, "onnx-stats", lambda dst: derived.graft_onnx_stats(path, dst)).path  # noqa: E731

    def onnx(model: Path, name: str) -> OnnxBackend:
        if stats is not None:
            return OnnxGlobalNormBackend(model, threads, stats, input_name, output_name, name=name)
        return OnnxBackend(model, threads, input_name, output_name, name=name)

    if name == "onnx":
        return onnx(fp32_path, "onnx")
    kind = "onnx-int8"
    if policy == "cached" and not derived.exists(root, entry.sha256, kind):
        raise BackendUnavailableError("no INT8 build cached (`python -m animegan prepare` builds and checks it)")
    int8 = derived.cached(root, entry.sha256, kind, lambda dst: derived.quantize_int8(
        fp32_path, dst, value_range, onnx(fp32_path, "onnx"), lambda p: onnx(p, kind)))  # fp32 loaded only to build
    unusable = derived.int8_unusable(int8.record, entry.file)
    if unusable and policy != "prepare":
        msg = f"the INT8 model of {entry.file!r} {unusable}"
        if policy == "cached":
            raise BackendUnavailableError(msg)
        log.warning("%s; using it because it was asked for", msg)
    return onnx(int8.path, kind)


def _open_bf16(path: Path, entry: WeightEntry, settings: Settings, value_range: tuple[float, float],
               policy: BuildPolicy) -> Backend:
    """The ``torch-bf16`` package of a PyTorch generator (:mod:`.compiled`), built once; tiles with whole-image
    statistics go through the fp32 ONNX statistics graph. Builds import torch; running imports it on the first run."""
    from . import compiled, derived

    root, threads = settings.model_cache_dir, settings.threads
    if policy == "cached":
        if not compiled.native_bf16():
            raise BackendUnavailableError("this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 would be slower")
        if not derived.exists(root, entry.sha256, compiled.kind(), compiled.SUFFIX):
            raise BackendUnavailableError("no bf16 build cached (`python -m animegan prepare` builds and checks it)")
    if importlib.util.find_spec("torch") is None:  # the `lite` Docker image has no torch (found, not imported: see run)
        raise BackendUnavailableError("PyTorch is not installed; use --backend onnx")

    def fp32() -> GlobalNormBackend:  # the fp32 export with its statistics graph: the guard's reference, and tiles
        backend = _open("onnx", path, entry, settings, value_range, None, None, "cached")
        assert isinstance(backend, GlobalNormBackend)
        return backend

    def build(dst: Path) -> dict[str, object]:
        from .torch_backend import TorchBackend

        if not (shutil.which("g++") or shutil.which("c++")):
            raise BackendUnavailableError("building the bf16 package needs a C++ compiler (g++)")
        return compiled.build(TorchBackend.load(path, entry.arch, threads).model, dst, fp32(), threads)

    built = derived.cached(root, entry.sha256, compiled.kind(), build, compiled.SUFFIX)
    if not built.record.get("passed") and policy != "prepare":
        msg = (f"the bf16 model of {entry.file!r} fails the quality guard (PSNR {built.record.get('psnr_min')} dB, "
               f"SSIM {built.record.get('ssim_min')})")
        if policy == "cached":
            raise BackendUnavailableError(msg)
        log.warning("%s; using it because it was asked for", msg)
    return compiled.CompiledBackend(built.path, threads, fp32)
