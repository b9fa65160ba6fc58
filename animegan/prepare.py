"""``python -m animegan prepare``: build the fast models once, before the first request.

``auto`` never builds an INT8 model by itself (about a minute for ``hayao``), so a first-time user
would get fp32. This builds the derived models (the ONNX export of a PyTorch generator, the INT8
quantization with its quality guard, the full-resolution statistics graphs, the onnxruntime
exports of the fast upscalers)
into the model cache; later runs reuse them. ``make run`` and the Docker image run it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .backends import candidates, open_style_backend
from .backends.derived import int8_speedup, int8_unusable
from .backends.onnx_backend import OnnxBackend
from .errors import AnimeGANError, BackendUnavailableError
from .pipeline import Engine
from .styles import STYLES


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` found for one style (whether ``auto`` will run its INT8 model, and why) or upscaler."""

    name: str
    int8_used: bool
    note: str
    failed: bool = False
    """The style's weights or a build failed (``note`` says why)."""
    bf16_used: bool = False
    """``auto`` will run the style's ``torch-bf16`` package (built on CPUs with native bf16 only)."""


def prepare_style(engine: Engine, style_id: str, bf16: bool = True) -> Prepared:
    """Build (or find cached) the style's INT8 model, and on a CPU with native bf16 its ``torch-bf16`` package,
    and report whether ``auto`` will take them. ``bf16=False`` skips the package (the Docker image's models must not
    depend on the CPU of the machine that builds it).

    Raises WeightsError if the style's weights are missing or corrupt, BackendUnavailableError if a build fails.
    """
    spec = STYLES.get(style_id)
    found = engine.weights.locate(spec.weights)
    path, entry = found.path, found.entry
    stylizer = engine.stylizer(style_id)
    stylizer.norm_stats(np.zeros((64, 64, 3), np.float32))  # builds the full-resolution statistics graph, if any
    if "onnx-int8" not in candidates(entry):
        return Prepared(style_id, False, f"fp32 only: no INT8 path for {entry.arch} models (README, Speed)")
    backend = open_style_backend("onnx-int8", path, entry, engine.settings, spec.value_range, spec.input_name,
                                 spec.output_name, build="prepare")
    assert isinstance(backend, OnnxBackend)
    record = json.loads(backend.path.with_suffix(".json").read_text())
    why_not = int8_unusable(record, entry.file)
    facts = f"PSNR ≥ {record['psnr_min']} dB, SSIM ≥ {record['ssim_min']}, {int8_speedup(entry.file)}× fp32 speed"
    int8 = Prepared(style_id, why_not is None, f"INT8 {why_not}" if why_not else f"INT8: {facts}")
    if not bf16 or "torch-bf16" not in candidates(entry):
        return int8
    from .backends import compiled

    if not compiled.native_bf16():
        return Prepared(style_id, int8.int8_used, f"{int8.note}; no bf16 build (this CPU has no native bf16)")
    try:
        package = open_style_backend("torch-bf16", path, entry, engine.settings, spec.value_range, build="prepare")
    except BackendUnavailableError as err:  # no torch, or no C++ compiler to build with: INT8 stays the choice
        return Prepared(style_id, int8.int8_used, f"{int8.note}; no bf16 build ({err})")
    assert isinstance(package, compiled.CompiledBackend)
    record = json.loads(package.path.with_suffix(".json").read_text())
    verdict = "passed" if record["passed"] else "fails the quality guard"
    note = f"{int8.note}; bf16 {verdict}: PSNR ≥ {record['psnr_min']} dB, SSIM ≥ {record['ssim_min']}"
    return Prepared(style_id, int8.int8_used and not record["passed"], note, bf16_used=bool(record["passed"]))


def prepare_styles(engine: Engine, style_ids: Iterable[str] | None = None, bf16: bool = True) -> Iterator[Prepared]:
    """:func:`prepare_style` for each style (default: every style whose weights are here); a style that
    fails is reported in its note and the others go on."""
    if style_ids is None:
        ids = [s.spec.id for s in engine.styles() if s.available]
    else:
        ids = [STYLES.get(style_id).id for style_id in style_ids]  # an unknown id is a usage error, before any build
    for style_id in ids:
        try:
            yield prepare_style(engine, style_id, bf16)
        except AnimeGANError as err:
            yield Prepared(style_id, False, f"not prepared: {err}", failed=True)


def prepare_upscalers(engine: Engine) -> Iterator[Prepared]:
    """Load every available fast upscaler's networks (building their onnxruntime exports once).
    The slower RRDB models are built on first use."""
    for status in engine.upscalers.statuses():
        if not status.available or status.spec.cost != "fast":
            continue
        try:
            upscaler = engine.upscalers.get(status.spec.id)
            runs = ", ".join(upscaler.runtime(scale) for scale in upscaler.networks.scales)
            yield Prepared(status.spec.id, False, f"upscaler: {runs}")
        except AnimeGANError as err:
            yield Prepared(status.spec.id, False, f"not prepared: {err}", failed=True)


def prepare(engine: Engine, style_ids: Iterable[str] | None = None, bf16: bool = True) -> Iterator[Prepared]:
    """The given styles, or (default) every available style and then the fast upscalers."""
    yield from prepare_styles(engine, style_ids, bf16)
    if style_ids is None:
        yield from prepare_upscalers(engine)
