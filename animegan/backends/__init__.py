"""One inference interface over onnxruntime, OpenVINO and torch, and the measured choice between them.

A style's weight file has one native format; :func:`open_style_backend` runs it through its fp32 ONNX graph (the
file itself, or an export of a PyTorch generator built locally from the verified file and cached) in onnxruntime or
OpenVINO, through an INT8 quantization of that graph, or in eager PyTorch. ``auto`` takes the fastest that passes the
quality guard on this CPU, measured once (:mod:`.choice`). Runtimes are imported lazily so that importing
:mod:`animegan` never imports torch.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..errors import BackendUnavailableError
from ..settings import Settings
from ..weights import WeightEntry

if TYPE_CHECKING:
    from .choice import Candidate, Choice, Compare, MakeFeeds
    from .derived import Derived
    from .graphs import Graph

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
Runtime = Literal["onnxruntime", "openvino"]
Precision = Literal["fp32", "bf16", "int8"]
"""What a graph computes in: ``fp32``; ``bf16`` (OpenVINO's inference precision on a CPU with native bf16); ``int8``
(a quantized graph, in either runtime)."""
BackendName = Literal["auto", "onnx", "openvino", "onnx-int8", "openvino-int8", "torch"]
BACKEND_NAMES: tuple[BackendName, ...] = ("auto", "onnx", "openvino", "onnx-int8", "openvino-int8", "torch")
"""``auto``: the fastest backend that passes the quality guard on this CPU; the others force one. ``onnx`` is
onnxruntime fp32 (the reference every other is measured against), ``openvino`` OpenVINO at this CPU's precision
(:func:`openvino_precision`), the ``-int8`` ones the INT8 quantization in either runtime, ``torch`` eager fp32."""
EXPORTABLE = frozenset({"animeganv2"})
"""PyTorch architectures that export to ONNX (see :mod:`animegan.backends.derived`)."""
QUANTIZABLE = EXPORTABLE | {"animeganv3", "animeganv3_tiny"}
"""Architectures with an INT8 path. Measured and left out (docs/speed.md): AnimeGAN v1 fails the quality guard
(PSNR 23–28 dB against fp32), White-box runs slower in INT8 (0.86× fp32)."""
GRAFTABLE = frozenset({"animeganv1", "cartoongan"})
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


def cancel_model_runs() -> None:
    """Cancel every onnxruntime and OpenVINO model call of this process, running or future (for a server that is
    stopping: each fails with the runtime's error). PyTorch calls cannot be cancelled and run to their end."""
    if "onnxruntime" in sys.modules:  # else no model has run there: nothing to cancel, and no reason to import it now
        from .onnx_backend import cancel_runs

        cancel_runs()
    if "openvino" in sys.modules:
        from .openvino_backend import cancel_runs as cancel_openvino_runs

        cancel_openvino_runs()


def openvino_precision(settings: Settings) -> Precision:
    """OpenVINO's precision here: bf16 on a CPU with native bf16 (unless ``ANIMEGAN_PRECISION=fp32``), else fp32."""
    from . import cpu

    return "bf16" if settings.precision == "auto" and cpu.native_bf16() else "fp32"


def candidates(entry: WeightEntry) -> list[BackendName]:
    """Backends that can run this weight file (``auto`` measures the ONNX ones and takes the fastest that passes)."""
    if not has_onnx_graph(entry):
        return ["torch"] if entry.format == "torch" else []
    int8: list[BackendName] = ["openvino-int8", "onnx-int8"] if entry.arch in QUANTIZABLE else []
    torch: list[BackendName] = ["torch"] if entry.format == "torch" else []
    return ["openvino", *int8, "onnx", *torch]


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


@dataclass(frozen=True)
class StyleModel:
    """What :func:`open_style_backend` needs of a style: its verified weight file and how its graph is fed."""

    path: Path
    entry: WeightEntry
    value_range: tuple[float, float]
    input_name: str | None = None
    output_name: str | None = None
    fp32_tail: str | None = None


def open_style_backend(choice: BackendName, model: StyleModel, settings: Settings, build_int8: bool = False) -> Backend:
    """The backend ``choice`` for a style's verified weight file.

    ``auto`` takes the measured choice of this CPU (:func:`style_choice`: measured on first use, a few seconds,
    then cached); it never builds an INT8 model by itself (``python -m animegan prepare`` or ``build_int8`` does,
    about a minute, and the next choice measures it too). A forced choice runs even where the guard failed (with a
    warning) and builds its INT8 model if needed; one that cannot run raises BackendUnavailableError.
    """
    entry = model.entry
    options = candidates(entry)
    if choice != "auto" and choice not in options:
        raise BackendUnavailableError(
            f"backend {choice!r} cannot run {entry.file!r} (a {entry.format} {entry.arch} model); "
            f"choose one of: auto, {', '.join(options)}"
        )
    if choice == "torch" or options == ["torch"]:
        return _open_torch(model, settings)
    # a forced openvino runs at the precision measured for it here (bf16, or fp32 where bf16 fails the guard)
    decided, graph = style_choice(model, settings, measure=choice in ("auto", "openvino"), build_int8=build_int8)
    if choice == "auto":
        choice = decided.chosen if decided is not None else "onnx"
    else:
        graph = None
        if choice.endswith("-int8"):
            record = _int8(model, settings).record
            if not record.get("passed"):
                log.warning("the INT8 model of %r fails the quality guard (PSNR %s dB, SSIM %s); using it because it "
                            "was asked for", entry.file, record.get("psnr_min"), record.get("ssim_min"))
    measured = decided.precision(choice) if decided is not None else None
    precision = measured if measured in ("fp32", "bf16", "int8") else _precision(choice, settings)
    return _style_backend(choice, precision, model, settings, graph)


def _open_torch(model: StyleModel, settings: Settings) -> Backend:
    try:
        return open_backend(model.path, "torch", model.entry.arch, settings.threads)
    except ImportError as err:  # PyTorch is optional at run time
        raise BackendUnavailableError(f"PyTorch is not installed ({err}); use --backend onnx") from err


def open_backend(path: Path, fmt: str, arch: str, threads: int) -> Backend:
    """Load a verified weight file into the backend its format needs (``torch``, or ``onnx``: onnxruntime fp32)."""
    if fmt == "torch":
        from .torch_backend import TorchBackend

        return TorchBackend.load(path, arch, threads)
    if fmt == "onnx":
        from .graphs import GraphBackend, open_graph

        return GraphBackend(open_graph(path, "onnxruntime", threads))
    raise ValueError(f"no backend for weight format {fmt!r}")


def _runtime(name: BackendName) -> Runtime:
    return "openvino" if name.startswith("openvino") else "onnxruntime"


def _int8(model: StyleModel, settings: Settings) -> Derived:
    """The style's INT8 quantization, built once (about a minute) with its quality guard in the record."""
    from . import derived
    from .graphs import GraphBackend, open_graph

    fp32 = onnx_graph(model.path, model.entry, settings)
    names = (fp32.input_name or model.input_name, fp32.output_name or model.output_name)

    def ort(path: Path) -> Backend:
        return GraphBackend(open_graph(path, "onnxruntime", settings.threads), *names)

    return derived.cached(settings.model_cache_dir, model.entry.sha256, "onnx-int8", lambda dst: derived.quantize_int8(
        fp32.path, dst, model.value_range, ort(fp32.path), ort))


def _style_graphs(model: StyleModel, settings: Settings) -> tuple[OnnxGraph, Callable[[], Path] | None]:
    """The style's fp32 graph and (for whole-image-statistics generators) the builder of its statistics graph."""
    from . import derived

    entry, root, threads = model.entry, settings.model_cache_dir, settings.threads
    fp32 = onnx_graph(model.path, entry, settings)
    if entry.format == "torch":
        return fp32, lambda: derived.cached(root, entry.sha256, "onnx-stats", _export(model.path, entry, threads, True)).path
    if entry.arch in GRAFTABLE:
        return fp32, lambda: derived.cached(root, entry.sha256, "onnx-stats",
                                            lambda dst: derived.graft_onnx_stats(model.path, dst)).path
    return fp32, None


def _precision(name: BackendName, settings: Settings) -> Precision:
    if name.endswith("-int8"):
        return "int8"
    return openvino_precision(settings) if name == "openvino" else "fp32"


def _style_backend(name: BackendName, precision: Precision, model: StyleModel, settings: Settings,
                   graph: Graph | None) -> Backend:
    """The style backend ``name`` (an ONNX one) at ``precision`` over ``graph``, loaded here if not given."""
    from .graphs import GlobalNormGraphBackend, GraphBackend, open_graph

    fp32, stats = _style_graphs(model, settings)
    runtime = _runtime(name)
    if graph is None:
        path = _int8(model, settings).path if precision == "int8" else fp32.path
        graph = open_graph(path, runtime, settings.threads, precision, model.fp32_tail)
    names = (fp32.input_name or model.input_name, fp32.output_name or model.output_name)
    if stats is None:
        return GraphBackend(graph, *names, name=name)
    stats_precision: Precision = "fp32" if precision == "int8" else precision  # the statistics graph is fp32 only
    return GlobalNormGraphBackend(graph, lambda: open_graph(stats(), runtime, settings.threads, stats_precision), *names,
                                  name=name)


def runtime_candidate(name: BackendName, path: Path, precision: Precision, threads: int,
                      fp32_tail: str | None = None) -> Candidate:
    """The measured choice's candidate ``name`` (its runtime from the name) running ``path`` at ``precision``; a bf16
    candidate falls back to fp32 if it fails the guard."""
    from . import choice
    from .graphs import open_graph

    fallback = runtime_candidate(name, path, "fp32", threads, fp32_tail) if precision == "bf16" else None
    return choice.Candidate(name, precision, lambda: open_graph(path, _runtime(name), threads, precision, fp32_tail), fallback)


def measured_graph(path: Path, source_sha256: str, model: str, settings: Settings, feeds: MakeFeeds,
                   compare: Compare) -> Graph:
    """One ONNX file (an upscaler, the face detector) in the runtime measured fastest on this CPU among onnxruntime
    fp32 and OpenVINO at this CPU's precision (see :func:`.choice.choose`), loaded."""
    from . import choice
    from .graphs import open_graph

    threads = settings.threads
    found = [runtime_candidate("onnx", path, "fp32", threads),
             runtime_candidate("openvino", path, openvino_precision(settings), threads)]
    decided, graph = choice.choose(settings.measure_dir or settings.model_cache_dir, threads, model, source_sha256, found,
                                   feeds, compare)
    if graph is not None:
        return graph
    assert decided is not None
    precision = decided.precision(decided.chosen) or "fp32"
    return open_graph(path, _runtime(decided.chosen), threads, precision)


def style_choice(model: StyleModel, settings: Settings, measure: bool = True,
                 build_int8: bool = False) -> tuple[Choice | None, Graph | None]:
    """The measured backend choice of a style on this CPU (see :func:`.choice.choose`): cached, or measured now when
    ``measure``. The candidates are onnxruntime fp32 (the reference), OpenVINO at this CPU's precision, and, when
    its INT8 model is built (``build_int8`` builds it), INT8 in both runtimes."""
    from . import choice, derived

    entry, threads = model.entry, settings.threads
    fp32 = onnx_graph(model.path, entry, settings)
    names: list[BackendName] = ["onnx", "openvino"]
    if entry.arch in QUANTIZABLE and (build_int8 or derived.exists(settings.model_cache_dir, entry.sha256, "onnx-int8")):
        int8 = _int8(model, settings)
        if int8.record.get("passed"):
            names += ["onnx-int8", "openvino-int8"]

    def candidate(name: BackendName, precision: Precision) -> Candidate:
        path = _int8(model, settings).path if precision == "int8" else fp32.path
        return runtime_candidate(name, path, precision, threads, model.fp32_tail)

    def feeds(reference: Graph) -> list[dict[str, FloatArray]]:
        name = fp32.input_name or model.input_name or reference.input_names[0]
        return [{name: x} for x in derived.style_feeds(reference.input_shape(name), model.value_range)]

    found = [candidate(n, _precision(n, settings)) for n in names]
    return choice.choose(settings.measure_dir or settings.model_cache_dir, threads, entry.file, entry.sha256, found, feeds,
                         lambda ref, got: derived.image_quality(ref, got, model.value_range), measure=measure,
                         variant=f"@{model.fp32_tail}" if model.fp32_tail else "")
