"""What the app's result cache buys: median latency of a request computed vs answered from the cache.

    python bench/app_cache.py [--style cute] [--photo PATH] [--max-side 1024] [--runs 3]

Prints one JSON document. Both paths run in this process through the same job layer the app uses
(stylize_job: cache lookup, stylize, PNG encode, write), so the ratio is what a user sees for a repeat.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from animegan import Engine, LocalService, ResultCache, StylizeOptions, get_settings, stylize_job  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--style", default="cute")
    p.add_argument("--photo", type=Path, default=ROOT / "examples" / "astronaut.png")
    p.add_argument("--max-side", type=int, default=1024)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    engine = Engine(get_settings())
    options = StylizeOptions(style=args.style, max_side=args.max_side)
    data = args.photo.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        no_cache = ResultCache(out / "off", 0)
        cache = ResultCache(out / "cache", 256 << 20)
        stylize_job(LocalService(engine), no_cache, data, args.photo.name, options, out)  # warm-up: model load
        cold, hot = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            stylize_job(LocalService(engine), no_cache, data, args.photo.name, options, out)
            cold.append(time.perf_counter() - t)
        stylize_job(LocalService(engine), cache, data, args.photo.name, options, out)  # fill the cache
        for _ in range(args.runs * 3):
            t = time.perf_counter()
            job = stylize_job(LocalService(engine), cache, data, args.photo.name, options, out)
            hot.append(time.perf_counter() - t)
            assert job.cached
    cold_ms, hot_ms = statistics.median(cold) * 1000, statistics.median(hot) * 1000
    print(json.dumps({
        "bench": "app_cache", "style": args.style, "photo": args.photo.name, "max_side": args.max_side,
        "threads": engine.settings.threads, "machine": platform.machine(), "runs": args.runs,
        "computed_ms_median": round(cold_ms, 1), "cached_ms_median": round(hot_ms, 1),
        "speedup": round(cold_ms / hot_ms, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
