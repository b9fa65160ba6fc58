"""Converted vs shipped models: ``python bench/convert_speed.py [--runs 5] [--side 512] [--only v1_hayao,...]``.

Converts every upstream original in ``../shared/weights/anime/original`` with :mod:`animegan.convert` into a
temporary folder, then times each converted ONNX model against the file we ship, in one process, runs
alternated (converted, shipped, converted, ...) after a warm-up, on a real photo at ``side``² with the
product's onnxruntime session options and ``ANIMEGAN_THREADS`` (default 2) threads. Prints one JSON document:
per model the converted file's SHA-256 and size, the shipped file's size, both medians and
``speed_ratio`` = shipped ÷ converted time (> 1: the converted file is faster), plus the load average.
The v2 state dict is byte-identical to the shipped one, so it is only converted and hashed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from animegan import STYLES  # noqa: E402
from animegan.backends.graphs import GraphBackend, open_graph  # noqa: E402
from animegan.convert import CONVERSIONS  # noqa: E402
from animegan.imageio import decode  # noqa: E402
from animegan.resample import resize  # noqa: E402
from tests.convert_cases import ANIME, CASES  # noqa: E402

PHOTO = REPO.parent / "shared" / "photos" / "city_tokyo_street.jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--only", default="", help="comma-separated case ids (default: all)")
    args = parser.parse_args()
    threads = int(os.environ.get("ANIMEGAN_THREADS", "2"))
    wanted = set(filter(None, args.only.split(",")))
    rgb = decode(PHOTO, 40_000_000).rgb
    x = (resize(rgb, args.side, args.side) * 2 - 1)[None].astype(np.float32)
    report: dict[str, object] = {"side": args.side, "runs": args.runs, "threads": threads,
                                 "load_average_start": os.getloadavg()}
    models: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            if wanted and case.id not in wanted:
                continue
            dst = Path(tmp) / case.shipped
            start = time.perf_counter()
            CONVERSIONS[case.conversion](case.inputs(Path(tmp) / "inputs"), dst)
            row: dict[str, object] = {"conversion": case.conversion, "convert_s": round(time.perf_counter() - start, 2),
                                      "sha256": hashlib.sha256(dst.read_bytes()).hexdigest(), "bytes": dst.stat().st_size,
                                      "shipped_bytes": (ANIME / case.shipped).stat().st_size}
            if dst.suffix == ".onnx":
                spec = STYLES.get(case.style)
                ours = GraphBackend(open_graph(dst, "onnxruntime", threads), spec.input_name, spec.output_name)
                shipped = GraphBackend(open_graph(ANIME / case.shipped, "onnxruntime", threads), spec.input_name,
                                       spec.output_name)
                times: dict[str, list[float]] = {"converted": [], "shipped": []}
                ours.run(x), shipped.run(x)
                for _ in range(args.runs):
                    for label, backend in (("converted", ours), ("shipped", shipped)):
                        t = time.perf_counter()
                        backend.run(x)
                        times[label].append(time.perf_counter() - t)
                mine, theirs = statistics.median(times["converted"]), statistics.median(times["shipped"])
                row.update(converted_ms=round(mine * 1000), shipped_ms=round(theirs * 1000),
                           speed_ratio=round(theirs / mine, 3))
            else:
                row["identical_to_shipped"] = row["sha256"] == hashlib.sha256((ANIME / case.shipped).read_bytes()).hexdigest()
            models[case.id] = row
            print(json.dumps({case.id: row}), file=sys.stderr, flush=True)
    report.update(models=models, load_average_end=os.getloadavg())
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
