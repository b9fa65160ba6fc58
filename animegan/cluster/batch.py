"""``stylize --ray``: the CLI's per-file function on a Ray cluster, through Ray Data.

The driver lists the work (skipping inputs whose output is complete), a read step on the driver's
node loads each input's bytes, an actor pool (one actor per cluster CPU, each holding one loaded
:class:`~animegan.pipeline.Engine` with one thread per CPU) runs :func:`animegan.cli.stylize_one`,
and the driver writes each result as it streams back (temporary name, then rename). Only the files
in flight are in memory. Inputs and outputs stay on the driver's machine: the nodes need the code,
the weights and the models, not the photos.

Ray Data restarts actors lost with their node and retries their work elsewhere; a file that fails on
its own (a corrupt image) is reported in its row, as in a local run.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cli import Row, finish_report, keep_stdout_for_report, report_error, save_output, stylize_one
from ..pipeline import Engine, StylizeOptions
from ..settings import Settings, get_settings
from ..styles import STYLES
from .connect import connect, current_node, free_cpus

log = logging.getLogger(__name__)

ACTOR_CPUS = 1
"""CPUs (and engine threads) per actor: many small actors keep every node busy and lose little when one dies."""
FILES_PER_BLOCK = 4
"""Inputs per Ray Data block between the read step and the actors."""


def is_complete(path: Path) -> bool:
    """An output written by :func:`animegan.cli.save_output` exists only once complete (renamed into place)."""
    return path.is_file() and path.stat().st_size > 0


def read_input(item: dict[str, Any]) -> dict[str, Any]:
    """Ray Data step on the driver's node: the input's bytes (or why it cannot be read)."""
    try:
        item["data"], item["read_error"] = Path(item["input"]).read_bytes(), ""
    except OSError as err:
        item["data"], item["read_error"] = b"", f"cannot read the file: {err.strerror or err}"
    return item


class StylizeActor:
    """One engine, loaded once per actor; runs :func:`animegan.cli.stylize_one` on each input."""

    def __init__(self, settings: Settings, options: StylizeOptions) -> None:
        from ..cli import load_models

        self.engine = Engine(settings.with_(threads=ACTOR_CPUS))
        self.options = options
        self.node = current_node()
        load_models(self.engine, options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"index": [], "data": [], "row": []}
        for index, src, dst, data, read_error in zip(batch["index"], batch["input"], batch["output"], batch["data"],
                                                     batch["read_error"], strict=True):
            if read_error:
                result: bytes | None = None
                row: Row = {"input": src, "output": None, "style": self.options.style, "width": None, "height": None,
                            "seconds": 0.0, "error": str(read_error)}
            else:
                result, row = stylize_one(self.engine, bytes(data), str(src), Path(dst), self.options)
            row["node"] = self.node
            out["index"].append(int(index))
            out["data"].append(result or b"")
            out["row"].append(json.dumps(row))
        return out


def stylize_on_cluster(address: str, inputs: Sequence[Path], outputs: Sequence[Path], options: StylizeOptions, *,
                       overwrite: bool, as_json: bool, settings: Settings | None = None) -> int:
    """Stylize ``inputs`` into ``outputs`` (same order) on the cluster; print the report; return the exit code.

    Inputs whose output is complete are skipped (and counted) unless ``overwrite``. Raises
    ClusterError (no cluster), WeightsError (the style's weights are missing or corrupt here).
    """
    import ray
    from tqdm import tqdm

    settings = settings or get_settings()
    Engine(settings).weights.resolve(STYLES.get(options.style).weights)  # fail fast, before any cluster work
    report_to = keep_stdout_for_report()
    connect(address)
    rows: dict[int, Row] = {}
    todo = []
    for i, (src, dst) in enumerate(zip(inputs, outputs, strict=True)):
        if not overwrite and is_complete(dst):
            rows[i] = {"input": str(src), "output": str(dst), "style": options.style, "width": None, "height": None,
                       "seconds": 0.0, "error": None, "node": None, "skipped": True}
        else:
            todo.append({"index": i, "input": str(src), "output": str(dst)})
    if rows:
        print(f"skipping {len(rows)} of {len(inputs)} inputs: their output is already complete "
              "(--overwrite redoes them)", file=sys.stderr)
    if todo:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.enable_operator_progress_bars = False
        actors = max(1, free_cpus() // ACTOR_CPUS)
        here = {"ray.io/node-id": current_node()}  # where the inputs are
        ds = (ray.data.from_items(todo, override_num_blocks=max(1, -(-len(todo) // FILES_PER_BLOCK)))
              .map(read_input, num_cpus=0, compute=ray.data.TaskPoolStrategy(size=1), label_selector=here)
              .map_batches(StylizeActor, fn_constructor_args=(settings, options), batch_size=1,
                           compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=ACTOR_CPUS))
        bar = tqdm(total=len(inputs), initial=len(rows), unit="img", file=sys.stderr, disable=as_json or None)
        try:
            for item in ds.iter_rows():
                row = json.loads(item["row"])
                index = int(item["index"])
                if row["error"] is None:
                    save_output(outputs[index], bytes(item["data"]), row)
                report_error(row, as_json)
                rows[index] = row
                bar.update(1)
        finally:
            bar.close()
    return finish_report([rows[i] for i in sorted(rows)], as_json, single=len(inputs) == 1, out=report_to)
