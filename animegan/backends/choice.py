"""The measured choice of a backend per model and per machine.

``auto`` runs each model on the backend that is fastest *on this CPU* among those that pass the quality guard. The
first time a model is used here (or at ``python -m animegan prepare``) every candidate runs the same few example
photos, alternated after a warm-up: the fp32 reference (onnxruntime) gives the outputs the others are compared with
(:func:`..quality` PSNR and SSIM), and the summed times rank them. The result is cached as JSON with the CPU's
signature (:func:`.cpu.signature`), so the same CPU always makes the same choice and never measures again; another
CPU (a shared cache, a moved container) measures its own. ``python -m animegan backends`` prints the table.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import BackendName, FloatArray, Precision, cpu
from .graphs import Graph

log = logging.getLogger(__name__)

VERSION = 1
"""Bump when the measurement changes: older cached choices are then measured again."""

Feeds = list[dict[str, FloatArray]]
MakeFeeds = Callable[[Graph], Feeds]
"""The probe inputs, made for the loaded reference graph (its input names and shapes)."""
Compare = Callable[[list[list[FloatArray]], list[list[FloatArray]]], dict[str, Any]]
"""(reference outputs, candidate outputs) per feed → facts with ``passed`` (bool), e.g. ``psnr_min``, ``ssim_min``."""


@dataclass(frozen=True)
class Trial:
    """One candidate as measured: its time on the probe photos and its quality against the reference."""

    backend: BackendName
    precision: Precision
    seconds: float | None
    """Summed over the probe photos (median of the runs per photo); None if it could not run."""
    passed: bool
    facts: dict[str, Any] = field(default_factory=dict)
    """``psnr_min``/``ssim_min`` (or the model's own measure) against the reference, or ``error``."""


@dataclass(frozen=True)
class Choice:
    """The measured choice for one model on this CPU."""

    model: str
    chosen: BackendName
    trials: tuple[Trial, ...]
    cpu: str
    measured: str
    """When (UTC, ISO 8601)."""

    def precision(self, backend: BackendName) -> Precision | None:
        """The precision ``backend`` runs at here: the fastest of its trials that passed, or None."""
        passed = [t for t in self.trials if t.backend == backend and t.passed and t.seconds is not None]
        return min(passed, key=lambda t: t.seconds or 0.0).precision if passed else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Candidate:
    """A backend that may run the model: its name, precision and how to load its graph."""

    backend: BackendName
    precision: Precision
    open: Callable[[], Graph]
    fallback: Candidate | None = None
    """The same backend at a higher precision, measured only if this one fails the guard (OpenVINO fp32 for a model
    whose bf16 run drifts)."""


_lock = threading.Lock()
_memory: dict[tuple[str, str], Choice] = {}
"""Choices of this process that could not be written (a read-only cache): measured once per process."""


def cache_file(folder: Path, threads: int) -> Path:
    """The choices of this CPU at ``threads`` threads."""
    return folder / f"backends-{cpu.signature(threads)}.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == VERSION else {}


def _from_dict(d: Mapping[str, Any]) -> Choice:
    trials = tuple(Trial(t["backend"], t["precision"], t["seconds"], t["passed"], dict(t.get("facts", {})))
                   for t in d["trials"])
    return Choice(d["model"], d["chosen"], trials, d["cpu"], d["measured"])


def cached_choices(folder: Path, threads: int) -> dict[str, Choice]:
    """Every choice cached for this CPU, by key."""
    data = _read(cache_file(folder, threads))
    return {key: _from_dict(c) for key, c in data.get("choices", {}).items()}


def _write(folder: Path, threads: int, key: str, choice: Choice) -> bool:
    path = cache_file(folder, threads)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        data = _read(path) or {"version": VERSION, "cpu": cpu.cpu_name(), "flags": cpu.vector_flags(), "threads": threads,
                               "choices": {}}
        data["choices"][key] = choice.as_dict()
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part.json")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        Path(tmp).replace(path)
        return True
    except OSError as err:
        log.warning("cannot cache the backend choice in %s (%s); it is measured again in the next process", folder,
                    err.strerror)
        return False


def key_of(source_sha256: str, candidates: list[Candidate], variant: str = "") -> str:
    """The cache key: the model's bytes, how it is run (``variant``) and the candidates with their precisions (a new INT8
    build, or ``ANIMEGAN_PRECISION=fp32``, is a new set, measured again)."""
    return f"{source_sha256[:16]}{variant}:{'+'.join(f'{c.backend}@{c.precision}' for c in candidates)}"


def choose(folder: Path, threads: int, model: str, source_sha256: str, candidates: list[Candidate], feeds: MakeFeeds,
           compare: Compare, runs: int = 1, measure: bool = True, variant: str = "") -> tuple[Choice | None, Graph | None]:
    """The cached choice for this model and candidate set on this CPU, or (``measure``) a new measurement.

    ``candidates[0]`` is the fp32 reference. Returns the choice and, when it was just measured, the chosen graph
    already loaded (None otherwise); ``(None, None)`` when nothing is cached and ``measure`` is false.
    """
    key = key_of(source_sha256, candidates, variant)
    with _lock:
        found = cached_choices(folder, threads).get(key) or _memory.get((str(folder), key))
        if found is not None or not measure:
            return found, None
        choice, graph = _measure(model, candidates, feeds, compare, runs)
        if not _write(folder, threads, key, choice):
            _memory[(str(folder), key)] = choice
        log.info("backend for %s on this CPU: %s (%s)", model, choice.chosen,
                 ", ".join(f"{t.backend} {t.seconds:.3f} s" if t.seconds is not None else f"{t.backend} failed"
                           for t in choice.trials))
        return choice, graph


def _measure(model: str, candidates: list[Candidate], make_feeds: MakeFeeds, compare: Compare,
             runs: int) -> tuple[Choice, Graph | None]:
    reference = candidates[0]
    loaded: dict[tuple[str, str], Graph] = {}
    reference_graph = reference.open()  # the reference must load: its errors are the caller's
    feeds = make_feeds(reference_graph)
    trials = _trials(reference, reference_graph, candidates[1:], feeds, compare, runs, loaded)
    fallbacks = [c.fallback for c, t in zip(candidates[1:], trials[1:], strict=True)
                 if c.fallback is not None and t.seconds is not None and not t.passed]
    if fallbacks:  # a second round at the higher precision, against the same reference
        trials += _trials(reference, reference_graph, fallbacks, feeds, compare, runs, loaded)[1:]
    usable = [t for t in trials if t.passed and t.seconds is not None]
    best = min(usable, key=lambda t: t.seconds or 0.0) if usable else trials[0]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return Choice(model, best.backend, tuple(trials), cpu.cpu_name(), stamp), loaded.get((best.backend, best.precision))


def _trials(reference: Candidate, reference_graph: Graph, others: list[Candidate], feeds: Feeds, compare: Compare,
            runs: int, loaded: dict[tuple[str, str], Graph]) -> list[Trial]:
    """The reference's trial, then one per other candidate (in order); loaded graphs are kept in ``loaded``."""
    graphs: dict[int, Graph] = {}
    errors: dict[int, str] = {}
    for i, c in enumerate([reference, *others]):
        try:
            graph = reference_graph if i == 0 else c.open()
            graph(feeds[0])  # warm-up: the first call at a size plans memory
            graphs[i] = loaded[(c.backend, c.precision)] = graph
        except Exception as err:  # a runtime that cannot load or run it: reported in the table, never fatal
            if i == 0:
                raise
            errors[i] = str(err).splitlines()[0] if str(err) else type(err).__name__
    times: dict[int, list[float]] = {i: [] for i in graphs}
    outputs: dict[int, list[list[FloatArray]]] = {i: [] for i in graphs}
    for x in feeds:
        per_feed: dict[int, list[float]] = {i: [] for i in graphs}
        for _ in range(runs):
            for i, graph in graphs.items():  # alternated: a busy moment hits every candidate alike
                start = time.perf_counter()
                y = graph(x)
                per_feed[i].append(time.perf_counter() - start)
                if len(per_feed[i]) == 1:
                    outputs[i].append(y)
        for i in graphs:
            times[i].append(statistics.median(per_feed[i]))
    trials = []
    for i, c in enumerate([reference, *others]):
        if i not in graphs:
            trials.append(Trial(c.backend, c.precision, None, False, {"error": errors.get(i, "not run")}))
            continue
        seconds = round(math.fsum(times[i]), 4)
        facts = {"passed": True} if i == 0 else compare(outputs[0], outputs[i])
        trials.append(Trial(c.backend, c.precision, seconds, bool(facts.pop("passed")), facts))
    return trials
