"""Video and live benchmarks; prints one JSON document.

    ANIMEGAN_WEIGHTS_PATH=/work/shared/weights python bench/video.py [--styles cute shinkai] [--sizes 256 384]

- live: end-to-end frames per second of :class:`animegan.LiveSession` (resize in, stylize, grade,
  stabilize, uint8 out) per style on square camera-like frames, median over frames, with the
  model-only median at the same size as the in-process baseline (``overhead`` = end-to-end / model).
- flicker: mean absolute frame-to-frame difference (0..255) of the output file of a static-camera
  clip (real photo + sensor noise), without and with temporal smoothing.
- video: processing frames per second of ``convert_video`` on a panning clip vs the model alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from animegan import STYLES, Engine, LiveSession, Settings, VideoOptions, convert_video  # noqa: E402
from animegan.temporal import flicker  # noqa: E402
from animegan.video import read_frames  # noqa: E402
from tests.video_clips import make_clip  # noqa: E402

PHOTOS = Path(os.environ.get("ANIMEGAN_TEST_PHOTOS") or REPO.parent.parent / "shared" / "photos")
if not PHOTOS.is_dir():
    PHOTOS = Path("/work/shared/photos")


def camera_frames(side: int, count: int) -> list[np.ndarray]:
    """Square frames panning slowly over a real portrait, like a hand-held camera."""
    img = Image.open(PHOTOS / "portrait_obama_official.jpg").convert("RGB")
    img = img.resize((round(side * 1.3 * img.width / img.height), round(side * 1.3)))
    arr = np.asarray(img)
    y0 = (arr.shape[0] - side) // 2
    return [np.ascontiguousarray(arr[y0:y0 + side, 2 * i:2 * i + side]) for i in range(count)]


def bench_live(engine: Engine, style: str, side: int, budget_s: float, max_frames: int) -> dict[str, object]:
    frames = camera_frames(side, max_frames + 1)
    session = LiveSession(engine, style=style, side=side)
    stylizer = engine.stylizer(style)
    session.process(frames[0])  # warm-up (first call allocates)
    e2e, model = [], []
    start = time.perf_counter()
    for frame in frames[1:]:
        t0 = time.perf_counter()
        session.process(frame)
        t1 = time.perf_counter()
        stylizer(frame.astype(np.float32) / 255.0)
        t2 = time.perf_counter()
        e2e.append(t1 - t0)
        model.append(t2 - t1)
        if time.perf_counter() - start > budget_s and len(e2e) >= 3:
            break
    e2e_ms, model_ms = statistics.median(e2e) * 1000, statistics.median(model) * 1000
    return {"style": style, "size": f"{side}x{side}", "frames": len(e2e), "fps": round(1000 / e2e_ms, 2),
            "ms_median": round(e2e_ms, 1), "model_ms_median": round(model_ms, 1), "overhead": round(e2e_ms / model_ms, 3)}


def bench_flicker(engine: Engine, tmp: Path, styles: list[str]) -> list[dict[str, object]]:
    clip = make_clip(tmp / "static.mp4", PHOTOS / "portrait_obama_official.jpg", frames=36, size=(320, 240),
                     fps=24, motion="static", noise=6.0, audio=None, crf=10)
    f_in = flicker(read_frames(clip))
    rows = []
    for style in styles:
        raw = convert_video(engine, clip, tmp / f"{style}_raw.mp4", VideoOptions(style, max_side=320, smoothing=0))
        smooth = convert_video(engine, clip, tmp / f"{style}_smooth.mp4", VideoOptions(style, max_side=320))
        f_raw, f_smooth = flicker(read_frames(raw.path)), flicker(read_frames(smooth.path))
        rows.append({"style": style, "clip": "static 320x240, 36 frames, noise sigma 6", "flicker_input": round(f_in, 3),
                     "flicker_raw": round(f_raw, 3), "flicker_smoothed": round(f_smooth, 3),
                     "smoothed_over_raw": round(f_smooth / f_raw, 3), "smoothing": VideoOptions.smoothing})
    return rows


def bench_video(engine: Engine, tmp: Path, style: str) -> dict[str, object]:
    clip = make_clip(tmp / "pan.mp4", PHOTOS / "city_tokyo_street.jpg", frames=48, size=(320, 240), fps=24, audio="aac")
    result = convert_video(engine, clip, tmp / "pan_out.mp4", VideoOptions(style, max_side=320))
    stylizer = engine.stylizer(style)
    frames = [f.astype(np.float32) / 255 for f in read_frames(clip)][:12]
    times = []
    for f in frames:
        t0 = time.perf_counter()
        stylizer(f)
        times.append(time.perf_counter() - t0)
    model_fps = 1 / statistics.median(times)
    fps = result.frames / result.seconds
    return {"style": style, "clip": "pan 320x240, 48 frames, 24 fps, AAC audio", "frames": result.frames,
            "audio": result.audio, "processing_fps": round(fps, 2), "model_only_fps": round(model_fps, 2),
            "ratio_to_model": round(fps / model_fps, 3)}


def bench_memory(engine: Engine, tmp: Path) -> dict[str, object]:
    """Peak resident memory while converting a short and a 4× longer clip: bounded means about equal."""
    import threading

    import psutil

    proc = psutil.Process()

    def peak_during(clip: Path, out: Path) -> float:
        base, peak, stop = proc.memory_info().rss, [0], threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], proc.memory_info().rss)
                time.sleep(0.02)

        t = threading.Thread(target=sample)
        t.start()
        convert_video(engine, clip, out, VideoOptions("cute", max_side=128))
        stop.set()
        t.join()
        return (peak[0] - base) / 2**20

    photo = PHOTOS / "city_tokyo_street.jpg"
    short = make_clip(tmp / "m_short.mp4", photo, frames=48, size=(320, 240), fps=24, audio="aac")
    long = make_clip(tmp / "m_long.mp4", photo, frames=192, size=(320, 240), fps=24, audio="aac")
    peak_during(short, tmp / "m_warm.mp4")  # warm-up: model and codec allocations
    a, b = peak_during(short, tmp / "m_a.mp4"), peak_during(long, tmp / "m_b.mp4")
    return {"clip": "pan 320x240 at max_side 128", "peak_rss_growth_mb_48_frames": round(a, 1),
            "peak_rss_growth_mb_192_frames": round(b, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--styles", nargs="+", default=None, help="styles for the live FPS table (default: every available style)")
    ap.add_argument("--sizes", nargs="+", type=int, default=[256, 384])
    ap.add_argument("--budget", type=float, default=3.0, help="seconds per style and size (at least 3 frames)")
    ap.add_argument("--max-frames", type=int, default=15)
    ap.add_argument("--flicker-styles", nargs="+", default=["cute", "shinkai"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    settings = Settings.from_env({**os.environ, "ANIMEGAN_THREADS": str(args.threads)})
    engine = Engine(settings)
    styles = args.styles or [s.id for s in STYLES if engine.style_status(s.id).available]
    live = [bench_live(engine, style, side, args.budget, args.max_frames) for style in styles for side in args.sizes]
    with tempfile.TemporaryDirectory() as tmp:
        flick = bench_flicker(engine, Path(tmp), args.flicker_styles)
        video = bench_video(engine, Path(tmp), "cute")
        memory = bench_memory(engine, Path(tmp))
    best = max((r for r in live if r["size"] == "256x256"), key=lambda r: r["fps"], default=None)
    print(json.dumps({
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": args.threads,
                    "load_avg": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version()},
        "live": live,
        "live_best_256": best,
        "live_target_12fps_at_256_met": bool(best and best["fps"] >= 12),
        "flicker": flick,
        "video": video,
        "memory": memory,
    }, indent=2))


if __name__ == "__main__":
    main()
