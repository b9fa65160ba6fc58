"""Every style and every fast upscaler in both runtimes, in one run: ``python bench/speed.py [--sizes 512]
[--styles all] [--runs 5] [--out FILE] [--markdown]``.

Prints one JSON document. For each available style, in one process per style (so that its peak RSS is its own):
the ``onnx`` backend (onnxruntime fp32, the baseline) and the ``auto`` backend (what this CPU measured fastest and
guarded) stylize the same photo at each size, runs alternated after a warm-up, medians and their ratio; plus the
backend and precision ``auto`` took. For each fast upscaler: ×2 and ×4 of a 512² image, onnxruntime fp32 against
the measured runtime, alternated. ``--markdown`` prints the tables the docs quote instead.

Needs the weights (ANIMEGAN_WEIGHTS_PATH) and the test photos (ANIMEGAN_TEST_PHOTOS or ../shared/photos).
Quote it from a quiet machine: the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from animegan import STYLES, Engine, get_settings  # noqa: E402
from animegan.backends import cpu  # noqa: E402
from animegan.resample import resize  # noqa: E402

PHOTOS = Path(os.environ.get("ANIMEGAN_TEST_PHOTOS") or REPO.parent / "shared" / "photos")
PHOTO = "city_tokyo_street.jpg"


def square_photo(size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(PHOTOS / PHOTO) as im:
        rgb = np.asarray(im.convert("RGB"), np.float32) / 255.0
    h, w = rgb.shape[:2]
    side = min(h, w)
    crop = rgb[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    return resize(crop, size, size)


def alternated(cases: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median seconds of each case, runs alternated after one warm-up each."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():
        fn()
    for _ in range(runs):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def style_rows(style: str, sizes: list[int], runs: int) -> list[dict[str, object]]:
    """Runs in a child process: one style at every size, onnx against auto."""
    engine = Engine()
    start = time.perf_counter()
    auto = engine.stylizer(style)
    load_s = time.perf_counter() - start  # includes the first measurement of the backends on this CPU
    onnx = engine.stylizer(style, "onnx")
    rows = []
    for size in sizes:
        rgb = square_photo(size)
        med = alternated({"onnx": lambda x=rgb: onnx(x), "auto": lambda x=rgb: auto(x)}, runs)
        rows.append({"style": style, "size": size, "backend": auto.backend.name,
                     "precision": getattr(auto.backend, "precision", "fp32"), "onnx_s": round(med["onnx"], 4),
                     "auto_s": round(med["auto"], 4), "speedup": round(med["onnx"] / med["auto"], 2),
                     "auto_load_s": round(load_s, 2)})
    for row in rows:
        row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return rows


def upscaler_rows(engine: Engine, runs: int) -> list[dict[str, object]]:
    rgb = square_photo(512)
    rows = []
    for status in engine.upscalers.statuses():
        if not status.available or status.item.cost != "fast":
            continue
        measured, plain = engine.upscalers.get(status.item.id), engine.upscalers.get(status.item.id, measured=False)
        for factor in (2, 4):
            med = alternated({"onnx": lambda u=plain, f=factor: u(rgb, f), "auto": lambda u=measured, f=factor: u(rgb, f)}, runs)
            rows.append({"upscaler": status.item.id, "factor": factor, "input": "512x512",
                         "runtime": measured.runtime(factor), "onnx_s": round(med["onnx"], 4),
                         "auto_s": round(med["auto"], 4), "speedup": round(med["onnx"] / med["auto"], 2)})
    return rows


def machine() -> dict[str, object]:
    import onnxruntime
    import openvino

    return {"cpu": cpu.cpu_name(), "native_bf16": cpu.native_bf16(), "logical_cpus": os.cpu_count(),
            "threads": get_settings().threads, "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
            "openvino": openvino.__version__.split("-")[0], "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}


def markdown(doc: dict[str, object]) -> str:
    """The tables of a JSON document of this script, as the docs quote them."""
    m = doc["machine"]
    assert isinstance(m, dict)
    lines = [f"Measured on {m['cpu']} ({'native bf16' if m['native_bf16'] else 'no native bf16'}), {m['threads']} threads, "
             f"onnxruntime {m['onnxruntime']}, OpenVINO {m['openvino']}; `python bench/speed.py`, medians of alternated runs.",
             "", "| style | size | `--backend onnx` | `auto` | backend | speed-up |", "|---|---|---|---|---|---|"]
    for r in doc["styles"]:  # type: ignore[attr-defined]
        if "error" in r:
            lines.append(f"| {r['style']} | | | | {r['error']} | |")
            continue
        lines.append(f"| {r['style']} | {r['size']}² | {r['onnx_s']:.3f} s | {r['auto_s']:.3f} s | "
                     f"{r['backend']} ({r['precision']}) | {r['speedup']:.2f}× |")
    lines += ["", "| upscaler | factor (512² in) | onnxruntime fp32 | measured | runtime | speed-up |",
              "|---|---|---|---|---|---|"]
    for r in doc["upscalers"]:  # type: ignore[attr-defined]
        lines.append(f"| {r['upscaler']} | ×{r['factor']} | {r['onnx_s']:.3f} s | {r['auto_s']:.3f} s | {r['runtime']} | "
                     f"{r['speedup']:.2f}× |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--styles", default="all", help="comma-separated style ids (default: every available style)")
    p.add_argument("--sizes", default="512", help="comma-separated square sides (default 512)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per case and backend (medians)")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument("--markdown", action="store_true", help="print the docs' tables instead of the JSON")
    p.add_argument("--from-json", type=Path, help="with --markdown: the tables of an earlier run's JSON")
    p.add_argument("--one", metavar="STYLE", help=argparse.SUPPRESS)
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.one:
        print(json.dumps(style_rows(args.one, sizes, args.runs)))
        return 0
    if args.from_json:
        print(markdown(json.loads(args.from_json.read_text())))
        return 0
    if not PHOTOS.is_dir():
        sys.exit(f"photos not found at {PHOTOS}; set ANIMEGAN_TEST_PHOTOS")
    engine = Engine()
    styles = [s.item.id for s in engine.styles() if s.available] if args.styles == "all" else args.styles.split(",")
    doc: dict[str, object] = {"machine": machine(), "command": " ".join(["python bench/speed.py", *sys.argv[1:]])}
    env = {**os.environ, "ANIMEGAN_THREADS": str(get_settings().threads)}  # every child at the same thread count
    rows: list[dict[str, object]] = []
    for style in styles:
        STYLES.get(style)
        cmd = [sys.executable, __file__, "--one", style, "--sizes", args.sizes, "--runs", str(args.runs)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            rows.append({"style": style, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]})
        else:
            rows += json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    doc["styles"] = rows
    doc["upscalers"] = upscaler_rows(engine, args.runs)
    doc["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(doc, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(markdown(doc) if args.markdown else text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
