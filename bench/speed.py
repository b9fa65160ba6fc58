"""Speed and memory benchmark: ``python bench/speed.py [--styles hayao,shinkai] [--runs 5] [--out FILE]``.

Prints one JSON document. For each style and size (256², 512², 1024², and one ~4K photo in
full-resolution mode) it reports the median seconds of a whole stylize call (pad, normalize,
generator, crop), the first run at an image size the session has not seen yet (``new_size_s``: what
a user with a new photo size waits), the process's peak RSS and the backend used. Every case runs in its own process
so that peak RSS belongs to that case alone. For the v2 generator (``hayao``) the same process then
alternates runs of the plain fp32 eager PyTorch baseline (NCHW, no channels_last, the generator as
published) with runs of the chosen backend, and reports both medians and their ratio: the machine
is shared, so only ratios measured side by side mean much.

Needs the weights (ANIMEGAN_WEIGHTS_PATH) and the test photos (ANIMEGAN_TEST_PHOTOS or ../shared/photos).
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
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from animegan import Engine, get_settings  # noqa: E402
from animegan.resample import resize  # noqa: E402

PHOTOS = Path(os.environ.get("ANIMEGAN_TEST_PHOTOS") or REPO.parent / "shared" / "photos")
if not PHOTOS.is_dir():
    sys.exit(f"photos not found at {PHOTOS}; set ANIMEGAN_TEST_PHOTOS")
PHOTO = "city_tokyo_street.jpg"
PHOTO_4K = "large_snow_station_3840x2160.jpg"
SIZES = (256, 512, 1024)
DEFAULT_STYLES = ("hayao", "shinkai", "cute", "cartoon", "paprika", "hayao_v3")
BASELINE_STYLE = "hayao"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def square_photo(size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(PHOTOS / PHOTO) as im:
        rgb = np.asarray(im.convert("RGB"), np.float32) / 255.0
    h, w = rgb.shape[:2]
    side = min(h, w)
    crop = rgb[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    return resize(crop, size, size)


def timed(fn, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def one_case(style: str, size: str, backend: str, runs: int) -> dict[str, object]:
    """Runs in a child process: one style at one size."""
    engine = Engine()
    load_start = time.perf_counter()
    stylizer = engine.stylizer(style, backend)  # type: ignore[arg-type]
    load_s = time.perf_counter() - load_start
    row: dict[str, object] = {"style": style, "size": size, "backend": stylizer.backend.name, "load_s": round(load_s, 2)}
    if size == "4k":
        from PIL import Image

        with Image.open(PHOTOS / PHOTO_4K) as im:
            rgb = np.asarray(im.convert("RGB"), np.float32) / 255.0
        row["pixels"] = f"{rgb.shape[1]}x{rgb.shape[0]}"
        row["mode"] = f"full resolution, tiles of {engine.settings.tile_size}"
        times = timed(lambda: stylizer.full_resolution(rgb, engine.settings.tile_size), runs)
    else:
        rgb = square_photo(int(size))
        row["pixels"] = f"{size}x{size}"
        stylizer(rgb[8:])  # warm-up of the session, at another shape
        # what a user with a new photo size sees: the first run at a shape the session has not seen
        row["new_size_s"] = round(timed(lambda: stylizer(rgb), 1)[0], 3)
        times = timed(lambda: stylizer(rgb), runs)
    row["median_s"] = round(statistics.median(times), 3)
    row["runs_s"] = [round(t, 3) for t in times]
    row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if style == BASELINE_STYLE and size != "4k":
        row.update(baseline(engine, stylizer, rgb, runs))
    return row


def baseline(engine: Engine, stylizer, rgb: np.ndarray, runs: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Alternate the plain fp32 eager PyTorch generator with the chosen backend, in this process."""
    import torch

    from animegan.archs.animeganv2 import Generator
    from animegan.backends.torch_backend import load_state_dict

    model = Generator().eval()
    model.load_state_dict(load_state_dict(engine.weights.resolve(stylizer.spec.weights)))
    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None] * 2 - 1

    def plain() -> None:
        with torch.inference_mode():
            model(x)

    plain()
    base, ours = [], []
    for _ in range(runs):
        base += timed(plain, 1)
        ours += timed(lambda: stylizer(rgb), 1)
    b, o = statistics.median(base), statistics.median(ours)
    return {"baseline": "fp32 eager PyTorch (NCHW)", "baseline_median_s": round(b, 3), "paired_median_s": round(o, 3),
            "speedup_vs_baseline": round(b / o, 2)}


def machine() -> dict[str, object]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime
    import torch

    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "threads": get_settings().threads,
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--styles", default=",".join(DEFAULT_STYLES), help="comma-separated style ids")
    p.add_argument("--sizes", default="256,512,1024,4k", help="comma-separated: square sides and/or 4k")
    p.add_argument("--backend", default="auto", help="backend for every style (default auto)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per case (1024²: at least 3; 4K: 1)")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument("--one", nargs=3, metavar=("STYLE", "SIZE", "RUNS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        style, size, runs = args.one
        print(json.dumps(one_case(style, size, args.backend, int(runs))))
        return 0
    # every child uses the same, fixed thread count
    env = {**os.environ, "ANIMEGAN_THREADS": str(get_settings().threads)}
    rows = []
    for style in args.styles.split(","):
        for size in args.sizes.split(","):
            if size == "4k" and style != BASELINE_STYLE:
                continue
            runs = 1 if size == "4k" else max(3, args.runs if size != "1024" else min(args.runs, 3))
            cmd = [sys.executable, __file__, "--backend", args.backend, "--one", style, size, str(runs)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                rows.append({"style": style, "size": size, "error": done.stderr.strip().splitlines()[-1:]})
            else:
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    doc = {"machine": machine(), "results": rows, "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]}
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
