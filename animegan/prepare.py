"""``python -m animegan prepare``: build the derived models once and measure which backend runs each one fastest here.

A first request would otherwise pay for the builds (the ONNX export of a PyTorch generator, the full-resolution
statistics graphs, the upscalers' exports) and for the measurement of its model's backends. ``prepare`` also builds
the INT8 quantizations (about a minute each), which ``auto`` never builds by itself, so that the measurement weighs
them too. ``make run`` and the Docker image run it (the image without measuring: its CPU is the user's, not the
build machine's).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .backends import style_choice
from .backends.choice import Choice
from .errors import AnimeGANError
from .pipeline import Engine
from .styles import STYLES


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` did for one model: the backend ``auto`` runs it on here (None if not measured), and a note."""

    name: str
    backend: str | None
    note: str
    failed: bool = False
    """The model's weights or a build failed (``note`` says why)."""


def describe(choice: Choice) -> str:
    """One line of a measured choice, e.g. ``openvino (bf16) 0.21 s; onnx 0.93 s; ...``."""
    parts = []
    for t in sorted(choice.trials, key=lambda t: (t.seconds is None, t.seconds or 0.0)):
        if t.seconds is None:
            parts.append(f"{t.backend} failed ({t.facts.get('error', '')})")
            continue
        quality = f", {t.facts['psnr_min']} dB" if "psnr_min" in t.facts else ""
        verdict = "" if t.passed else " fails the guard"
        parts.append(f"{t.backend} ({t.precision}) {t.seconds:.3f} s{quality}{verdict}")
    return "; ".join(parts)


def prepare_style(engine: Engine, style_id: str, measure: bool = True) -> Prepared:
    """Build the style's derived models (export, statistics graph, INT8 where its architecture has one) and, with
    ``measure``, measure its backends on this CPU. Raises WeightsError or BackendUnavailableError."""
    model = engine.style_model(style_id)
    engine.stylizer(style_id, "onnx").norm_stats(np.zeros((64, 64, 3), np.float32))  # builds the statistics graph, if any
    choice, _ = style_choice(model, engine.settings, measure=measure, build_int8=True)
    if choice is None:
        return Prepared(style_id, None, "models built; the backend is measured on first use")
    return Prepared(style_id, choice.chosen, describe(choice))


def prepare_styles(engine: Engine, style_ids: Iterable[str] | None = None, measure: bool = True) -> Iterator[Prepared]:
    """:func:`prepare_style` for each style (default: every style whose weights are here); a style that
    fails is reported in its note and the others go on."""
    if style_ids is None:
        ids = [s.item.id for s in engine.styles() if s.available]
    else:
        ids = [STYLES.get(style_id).id for style_id in style_ids]  # an unknown id is a usage error, before any build
    for style_id in ids:
        try:
            yield prepare_style(engine, style_id, measure)
        except AnimeGANError as err:
            yield Prepared(style_id, None, f"not prepared: {err}", failed=True)


def prepare_upscalers(engine: Engine, measure: bool = True, every: bool = False) -> Iterator[Prepared]:
    """Build every available fast upscaler's ONNX models (``every``: the slower RRDB ones too, which are otherwise
    built on first use) and, with ``measure``, load them in the runtime measured fastest here."""
    from .upscale import Networks

    for status in engine.upscalers.statuses():
        if not status.available or (status.item.cost != "fast" and not every):
            continue
        try:
            if not measure:
                found = engine.weights.locate(status.item.weights)
                built = Networks(status.item, found.path, found.entry.sha256, engine.settings).build()
                yield Prepared(status.item.id, None, f"upscaler: {len(built)} ONNX model(s) built")
                continue
            upscaler = engine.upscalers.get(status.item.id)
            runs = ", ".join(upscaler.runtime(scale) for scale in upscaler.networks.scales)
            yield Prepared(status.item.id, None, f"upscaler: {runs}")
        except AnimeGANError as err:
            yield Prepared(status.item.id, None, f"not prepared: {err}", failed=True)


def prepare(engine: Engine, style_ids: Iterable[str] | None = None, measure: bool = True,
            every_upscaler: bool = False) -> Iterator[Prepared]:
    """The given styles, or (default) every available style and then the upscalers (see :func:`prepare_upscalers`)."""
    yield from prepare_styles(engine, style_ids, measure)
    if style_ids is None:
        yield from prepare_upscalers(engine, measure, every_upscaler)


def measured_choices(engine: Engine) -> Iterator[tuple[str, Choice]]:
    """The measured backend choice of every available style on this CPU (measured now where none is cached;
    INT8 models are weighed where they are built)."""
    for status in engine.styles():
        if not status.available:
            continue
        try:
            choice, _ = style_choice(engine.style_model(status.item.id), engine.settings)
        except AnimeGANError:
            continue
        if choice is not None:
            yield status.item.id, choice
