"""``stylize --ray``: the per-file job (:func:`animegan.files.stylize_file_to`) on a Ray cluster, through Ray Data.

The caller lists the work (the CLI skips inputs whose output is complete), a read step on the driver's node loads
each input's bytes, an actor pool (one actor per cluster CPU, each holding one loaded
:class:`~animegan.pipeline.Engine` with one thread per CPU) stylizes them, and the driver writes each result as it
streams back (temporary name, then rename) and yields it. Only the files in flight are in memory. Inputs and outputs
stay on the driver's machine: the nodes need the code, the weights and the models, not the photos.

Ray Data restarts actors lost with their node and retries their work elsewhere; a file that fails on
its own (a corrupt image) is reported in its result, as in a local run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..files import FileResult, load_models, save_output, stylize_file_to
from ..imageio import Face
from ..pipeline import Engine, StylizeOptions
from ..settings import Settings
from ..styles import STYLES
from .connect import connect, current_node, free_cpus

log = logging.getLogger(__name__)

ACTOR_CPUS = 1
"""CPUs (and engine threads) per actor: many small actors keep every node busy and lose little when one dies."""
FILES_PER_BLOCK = 4
"""Inputs per Ray Data block between the read step and the actors."""


def read_input(item: dict[str, Any]) -> dict[str, Any]:
    """Ray Data step on the driver's node: the input's bytes (or why it cannot be read)."""
    try:
        item["data"], item["read_error"] = Path(item["input"]).read_bytes(), ""
    except OSError as err:
        item["data"], item["read_error"] = b"", f"cannot read the file: {err.strerror or err}"
    return item


class StylizeActor:
    """One engine, loaded once per actor; runs :func:`animegan.files.stylize_file_to` on each input."""

    def __init__(self, settings: Settings, options: StylizeOptions) -> None:
        self.engine = Engine(settings.with_(threads=ACTOR_CPUS))
        self.options = options
        self.node = current_node()
        load_models(self.engine, options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"index": [], "data": [], "result": []}
        for index, src, dst, data, read_error in zip(batch["index"], batch["input"], batch["output"], batch["data"],
                                                     batch["read_error"], strict=True):
            if read_error:
                result: bytes | None = None
                row = FileResult(str(src), self.options.style, seconds=0.0, error=str(read_error))
            else:
                result, row = stylize_file_to(self.engine, bytes(data), str(src), Path(dst), self.options)
            out["index"].append(int(index))
            out["data"].append(result or b"")
            out["result"].append(json.dumps(asdict(row) | {"node": self.node}))
        return out


def _result(text: str) -> FileResult:
    fields = json.loads(text)
    faces = fields.pop("faces")
    return FileResult(**fields, faces=None if faces is None else tuple(
        Face(tuple(f["box"]), f["score"], tuple(tuple(p) for p in f["landmarks"])) for f in faces))


def stylize_on_cluster(address: str, work: Sequence[tuple[int, Path, Path]], options: StylizeOptions,
                       settings: Settings) -> Iterator[tuple[int, FileResult]]:
    """Stylize each ``(index, input, output)`` of ``work`` on the cluster, writing the outputs here; yields
    ``(index, result)`` as results arrive (in any order).

    Raises ClusterError (no cluster) or WeightsError (the style's weights are missing or corrupt here), before any
    cluster work.
    """
    Engine(settings).weights.resolve(STYLES.get(options.style).weights)  # fail fast, before any cluster work
    connect(address)
    return _stream(work, options, settings) if work else iter(())


def _stream(work: Sequence[tuple[int, Path, Path]], options: StylizeOptions,
            settings: Settings) -> Iterator[tuple[int, FileResult]]:
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    actors = max(1, free_cpus() // ACTOR_CPUS)
    here = {"ray.io/node-id": current_node()}  # where the inputs are
    todo = [{"index": i, "input": str(src), "output": str(dst)} for i, src, dst in work]
    outputs = {i: dst for i, _, dst in work}
    ds = (ray.data.from_items(todo, override_num_blocks=max(1, -(-len(todo) // FILES_PER_BLOCK)))
          .map(read_input, num_cpus=0, compute=ray.data.TaskPoolStrategy(size=1), label_selector=here)
          .map_batches(StylizeActor, fn_constructor_args=(settings, options), batch_size=1,
                       compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=ACTOR_CPUS))
    for item in ds.iter_rows():
        index = int(item["index"])
        result = _result(item["result"])
        if result.ok:
            result = save_output(outputs[index], bytes(item["data"]), result)
        yield index, result
