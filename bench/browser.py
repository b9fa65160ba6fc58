"""Private mode (in-browser) benchmarks in headless Chromium; prints one JSON document.

    ANIMEGAN_WEIGHTS_PATH=/work/shared/weights python bench/browser.py [--styles cute shinkai] [--sizes 192 256 384 512]

Starts the real app in this process (``app.launch`` with private mode, 127.0.0.1 only) and Debian's Chromium with
its fake camera (WebAssembly, threads: the page is cross-origin isolated; ``--disable-gpu``, so no WebGPU).

- live: frames per second of the Webcam tab's in-browser mode (camera → stylize → grade → smooth → canvas) per
  style and size, counted over ``--budget`` seconds after a warm-up, next to the server's live mode for one user
  (:class:`animegan.LiveSession` in this process, the app's backend choice) on camera-like frames of that size;
- still: ``window.animeganLocal.stylize`` on a 512×512 photo per style (median of ``--runs`` after a warm-up), next to
  the engine on the same photo (fp32 ONNX, what the page runs; and ``auto``), with the PSNR between page and engine;
- flicker: a static noisy clip through the page's smoother and the server's stabilizer (``animegan.temporal.flicker``).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import app  # noqa: E402
from animegan import Engine, LiveSession, LocalService, Settings, StylizeOptions, decode, to_pil  # noqa: E402
from animegan.ports import free_port  # noqa: E402
from animegan.quality import psnr  # noqa: E402
from animegan.temporal import flicker  # noqa: E402
from animegan.video import read_frames  # noqa: E402
from bench.video import PHOTOS, camera_frames  # noqa: E402
from tests.browser_page import CHROMIUM, CHROMIUM_ARGS, page_stylize  # noqa: E402
from tests.video_clips import make_clip  # noqa: E402

STILL_PHOTO = "portrait_astronaut_eileen_collins.png"  # 512×512

PAGE_SMOOTH = """async ([frames, style, side]) => {
    const L = window.animeganLocal, outs = [[], []];
    for (const [k, strength] of [[0, 0], [1, 0.5]]) {
      const smoother = new L.Smoother(strength);
      for (const b64 of frames) {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const bitmap = await createImageBitmap(new Blob([bytes], {type: 'image/png'}));
        const c = document.createElement('canvas'); c.width = bitmap.width; c.height = bitmap.height;
        const g = c.getContext('2d'); g.drawImage(bitmap, 0, 0);
        const input = g.getImageData(0, 0, c.width, c.height);
        const styled = await L.stylize(input, style, {maxSide: side});
        const f = (img) => Float32Array.from({length: img.width * img.height * 3},
                                             (_, i) => img.data[(i / 3 | 0) * 4 + i % 3] / 255);
        const out = smoother.apply(f(input), f(styled), input.height, input.width);
        const d = new ImageData(input.width, input.height);
        for (let i = 0; i < out.length / 3; i++) {
          for (let ch = 0; ch < 3; ch++) d.data[i * 4 + ch] = Math.round(out[i * 3 + ch] * 255);
          d.data[i * 4 + 3] = 255;
        }
        g.putImageData(d, 0, 0);
        outs[k].push(c.toDataURL('image/png'));
      }
    }
    return outs;
}"""


def progress(kind: str, row: dict[str, object]) -> dict[str, object]:
    """Each row also goes to stderr as it is measured, so a long run shows (and keeps) partial results."""
    print(json.dumps({kind: row}), file=sys.stderr, flush=True)
    return row


def png_b64(rgb: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def from_url(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def bench_live_page(page: Any, style: str, side: int, budget: float) -> dict[str, object]:
    page.evaluate("""async ([style, side]) => {  // the page may be busy with a frame: no waiting for clicks
        const live = window.animeganLocal.ui.live;
        live.stop();
        live.styleSelect.value = style; live.sideSelect.value = String(side);
        live.reset();
        await live.start();
    }""", [style, side])
    page.wait_for_function("window.animeganLocal.ui.live.stats().processed >= 2", timeout=600_000)  # warm-up
    s0, t0 = page.evaluate("window.animeganLocal.ui.live.stats()"), time.monotonic()
    while True:
        time.sleep(0.5)
        s1, t1 = page.evaluate("window.animeganLocal.ui.live.stats()"), time.monotonic()
        if t1 - t0 >= budget and s1["processed"] - s0["processed"] >= 2:
            break
    frames = s1["processed"] - s0["processed"]
    return {"style": style, "side": side, "frames": frames, "fps": round(frames / (t1 - t0), 2),
            "ms_per_frame": round(1000 * (t1 - t0) / frames, 1), "skipped": s1["skipped"] - s0["skipped"],
            "backend": f"{s1['backend']}, {s1['threads']} threads"}


def bench_live_server(engine: Engine, style: str, side: int, budget: float) -> dict[str, object]:
    frames = camera_frames(side, 40)
    session = LiveSession(engine, style=style, side=side)
    session.process(frames[0])
    times, start = [], time.perf_counter()
    for frame in frames[1:]:
        t0 = time.perf_counter()
        session.process(frame)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget and len(times) >= 3:
            break
    ms = statistics.median(times) * 1000
    return {"fps": round(1000 / ms, 2), "ms_per_frame": round(ms, 1)}


def bench_still(page: Any, engine: Engine, style: str, runs: int) -> dict[str, object]:
    with Image.open(PHOTOS / STILL_PHOTO) as im:
        rgb = np.asarray(im.convert("RGB").resize((512, 512)))
    b64 = png_b64(rgb)
    png = base64.b64decode(b64)
    page_stylize(page, png, style, 512)  # warm-up: model download, session, allocations
    results = [page_stylize(page, png, style, 512) for _ in range(runs)]
    browser_s = statistics.median(seconds for _, seconds in results)
    picture = decode(base64.b64decode(b64), engine.settings.max_pixels)
    row: dict[str, object] = {"style": style, "size": "512x512", "browser_s": round(browser_s, 2)}
    for backend in ("onnx", "auto"):
        options = StylizeOptions(style=style, max_side=512, face="off", backend=backend)  # type: ignore[arg-type]
        engine.stylize(picture, options)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            out = engine.stylize(picture, options)
            times.append(time.perf_counter() - t0)
        row[f"server_{backend}_s"] = round(statistics.median(times), 2)
        row[f"psnr_vs_server_{backend}_db"] = round(psnr(results[-1][0], np.asarray(to_pil(out).convert("RGB")), peak=255.0), 2)
    row["browser_over_server_onnx"] = round(browser_s / float(row["server_onnx_s"]), 2)  # type: ignore[arg-type]
    return row


def bench_flicker(page: Any, engine: Engine, tmp: Path, style: str) -> dict[str, object]:
    clip = make_clip(tmp / "static.mp4", PHOTOS / "portrait_obama_official.jpg", frames=24, size=(320, 240), fps=24,
                     motion="static", noise=6.0, audio=None, crf=10)
    frames = list(read_frames(clip))
    raw, smooth = page.evaluate(PAGE_SMOOTH, [[png_b64(f) for f in frames], style, 320])
    server = {}
    for name, strength in (("raw", 0.0), ("smoothed", 0.5)):
        session = LiveSession(engine, style=style, side=320, smoothing=strength)
        server[name] = flicker(session.process(f) for f in frames)
    page_raw, page_smooth = flicker(from_url(u) for u in raw), flicker(from_url(u) for u in smooth)
    return {"style": style, "clip": "static 320x240, 24 frames, noise sigma 6", "flicker_input": round(flicker(frames), 3),
            "page_raw": round(page_raw, 3), "page_smoothed": round(page_smooth, 3),
            "page_smoothed_over_raw": round(page_smooth / page_raw, 3),
            "server_raw": round(server["raw"], 3), "server_smoothed": round(server["smoothed"], 3),
            "server_smoothed_over_raw": round(server["smoothed"] / server["raw"], 3), "smoothing": 0.5}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--styles", nargs="+", default=None, help="live styles (default: every style offered locally)")
    ap.add_argument("--still-styles", nargs="+", default=None, help="512² still styles (default: every local style)")
    ap.add_argument("--sizes", nargs="+", type=int, default=[192, 256, 384, 512])
    ap.add_argument("--budget", type=float, default=6.0, help="seconds per live style and size (at least 2 frames)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    load_before = [round(x, 2) for x in os.getloadavg()]
    settings = Settings.from_env({**os.environ, "ANIMEGAN_THREADS": str(args.threads)})
    engine = Engine(settings)
    local = app.local_runtime(engine)
    if local is None or not local.feature().available:
        sys.exit(f"private mode is not installed: {local.feature().reason if local else 'no browser_runtime package'}")
    port = free_port()
    web = app.build_app(LocalService(engine), local)
    app.launch(web, host="127.0.0.1", port=port, block=False)
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_context(permissions=["camera"]).new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("window.animeganLocal !== undefined", timeout=120_000)
            page.evaluate("window.animeganLocal.ready")
            offered = page.evaluate("window.animeganLocal.styles().map(s => s.id)")
            page.get_by_role("tab", name="Webcam").click()
            page.wait_for_function("document.querySelector('#local-webcam .al-panel').dataset.mode === 'browser'")
            live = []
            for style in args.styles or offered:
                for side in args.sizes:
                    row = bench_live_page(page, style, side, args.budget)
                    server = bench_live_server(engine, style, side, args.budget)
                    live.append(progress("live", {
                        **row, "server_fps": server["fps"], "server_ms_per_frame": server["ms_per_frame"],
                        "browser_over_server_fps": round(float(row["fps"]) / server["fps"], 2)}))  # type: ignore[arg-type]
            page.evaluate("window.animeganLocal.ui.live.stop()")
            still = [progress("still", bench_still(page, engine, style, args.runs)) for style in args.still_styles or offered]
            flick = progress("flicker", bench_flicker(page, engine, Path(tmp), "cute"))
            browser.close()
    finally:
        web.blocks.close()
    print(json.dumps({
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": args.threads,
                    "load_avg_before": load_before, "load_avg_after": [round(x, 2) for x in os.getloadavg()],
                    "python": platform.python_version(), "browser": "Debian Chromium, headless, --disable-gpu (WASM)"},
        "offered_locally": offered,
        "live": live,
        "still_512": still,
        "flicker": flick,
    }, indent=2))


if __name__ == "__main__":
    main()
