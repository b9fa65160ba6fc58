"""Benchmark of the Real-ESRGAN upscaling pass: seconds and peak RSS, printed as JSON.

Each upscaler runs in its own child process, so every peak RSS is that model's own. Speed is also
given as a ratio to a baseline run in the same child (stylizing the same 512² photo with the
'hayao' style, ``baseline_hayao_512_s``: 3.4–3.9 s measured on an idle 2-core machine), since the
machine is shared.

    ANIMEGAN_WEIGHTS_PATH=../shared/weights python bench/upscale.py            # everything
    python bench/upscale.py --models animevideov3 --no-4k                       # quicker
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PHOTO_512 = "portrait_astronaut_eileen_collins.png"
PHOTO_4K = "large_snow_station_3840x2160.jpg"
SIZE_BY_COST = {"fast": 512, "medium": 256, "slow": 128}
"""Input side per model cost: the slow RRDB models would take many minutes at 512² on a CPU."""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds of this process: less distorted than wall time when the machine is shared."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def child_model(upscaler_id: str, photos: Path, repeats: int, side: int | None) -> dict[str, object]:
    """Stylize a 512² photo (the baseline), then upscale the result ×2 and ×4; times are medians."""
    from dataclasses import replace

    from animegan import Engine, StylizeOptions, decode
    from animegan.resample import resize
    from animegan.upscale import UPSCALERS, upscale_picture

    engine = Engine()
    spec = UPSCALERS.get(upscaler_id)
    side = side or SIZE_BY_COST[spec.cost]
    pic = decode(photos / PHOTO_512, engine.settings.max_pixels)
    options = StylizeOptions(style="hayao", max_side=None)
    stylized = engine.stylize(pic, options)  # also the warm-up of the baseline
    if side != 512:
        rgb = resize(stylized.rgb, side, side)
        stylized = replace(stylized, rgb=rgb, photo=rgb, size=(side, side))
    upscaler = engine.upscalers.get(upscaler_id)
    for scale in (2, 4):  # warm-up (the folded ×2 network is loaded on first use)
        upscale_picture(upscaler, replace(stylized, rgb=stylized.rgb[:32, :32], size=(32, 32)), scale)
    rows: dict[str, object] = {"upscaler": upscaler_id, "cost": spec.cost, "input": f"{side}x{side}",
                               "rss_before_mb": round(peak_rss_mb())}
    runs: dict[int, list[float]] = {}
    cpu: dict[int, list[float]] = {2: [], 4: []}
    for scale in (2, 4):  # ×2 first: peak RSS only grows, so each value is that scale's own peak
        runs[scale] = []
        for _ in range(repeats):
            t, c = time.perf_counter(), cpu_s()
            out = upscale_picture(upscaler, stylized, scale)
            runs[scale].append(time.perf_counter() - t)
            cpu[scale].append(cpu_s() - c)
        rows[f"x{scale}"] = {"seconds": round(statistics.median(runs[scale]), 3),
                             "cpu_s": round(statistics.median(cpu[scale]), 3),
                             "output": f"{out.output_size[0]}x{out.output_size[1]}", "peak_rss_mb": round(peak_rss_mb()),
                             "runtime": upscaler.runtime(scale), "runs": [round(x, 3) for x in runs[scale]]}
    base, base_cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), cpu_s()
        engine.stylize(pic, options)
        base.append(time.perf_counter() - t)
        base_cpu.append(cpu_s() - c)
    baseline = statistics.median(base)
    rows["baseline_hayao_512_s"] = round(baseline, 3)
    rows["baseline_hayao_512_cpu_s"] = round(statistics.median(base_cpu), 3)
    for scale in (2, 4):
        rows[f"x{scale}"]["ratio_to_baseline"] = round(statistics.median(runs[scale]) / baseline, 3)  # type: ignore[index]
        rows[f"x{scale}"]["cpu_ratio_to_baseline"] = round(  # type: ignore[index]
            statistics.median(cpu[scale]) / statistics.median(base_cpu), 3)
    return rows


def child_4k(photos: Path) -> dict[str, object]:
    """The upscaling step and PNG encoding of a 3840×2160 photo ×2 with the default model."""
    from animegan import Engine, encode
    from animegan.imageio import decode
    from animegan.upscale import upscale_picture

    engine = Engine()
    upscaler = engine.upscalers.get(None)
    pic = decode(photos / PHOTO_4K, engine.settings.max_pixels)
    before = peak_rss_mb()
    ticks: list[float] = []
    t, c = time.perf_counter(), cpu_s()
    out = upscale_picture(upscaler, pic, 2, progress=lambda f, m: ticks.append(f))
    up_s, up_cpu = time.perf_counter() - t, cpu_s() - c
    data = encode(out, "png")
    total = time.perf_counter() - t
    return {"input": "3840x2160", "upscaler": upscaler.spec.id, "runtime": upscaler.runtime(2),
            "output": f"{out.output_size[0]}x{out.output_size[1]}",
            "upscale_s": round(up_s, 1), "upscale_cpu_s": round(up_cpu, 1), "upscale_and_png_s": round(total, 1),
            "png_mb": round(len(data) / 2**20, 1),
            "tiles": len(ticks), "rss_before_mb": round(before), "peak_rss_mb": round(peak_rss_mb()),
            "peak_rss_ok": peak_rss_mb() <= 3 * 1024}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", help="upscaler ids (default: every available one)")
    p.add_argument("--repeats", type=int, default=3, help="runs per measurement for fast models (median); slow ones run once")
    p.add_argument("--side", type=int, help="input side for every model (default: 512 fast, 256 medium, 128 slow)")
    p.add_argument("--no-4k", action="store_true", help="skip the 3840×2160 ×2 run")
    p.add_argument("--photos", type=Path, default=REPO.parent / "shared" / "photos")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        row = child_4k(args.photos) if args.child == "4k" else child_model(args.child, args.photos, args.repeats, args.side)
        print(json.dumps(row))
        return

    from animegan import Engine
    from animegan.upscale import UPSCALERS

    statuses = {s.item.id: s for s in Engine().upscalers.statuses()}
    ids = args.models or [i for i in UPSCALERS.ids() if statuses[i].available]
    results: dict[str, object] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "load_avg_start": [round(x, 1) for x in os.getloadavg()]},
        "models": [], "skipped": {i: statuses[i].reason for i in UPSCALERS.ids() if not statuses[i].available},
    }
    for upscaler_id in ids:
        repeats = args.repeats if UPSCALERS.get(upscaler_id).cost == "fast" else 1
        cmd = [sys.executable, __file__, "--child", upscaler_id, "--repeats", str(repeats), "--photos", str(args.photos)]
        if args.side:
            cmd += ["--side", str(args.side)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results["models"].append(json.loads(out.strip().splitlines()[-1]))  # type: ignore[union-attr]
        print(json.dumps(results["models"][-1]), file=sys.stderr)  # type: ignore[index]
    if not args.no_4k:
        out = subprocess.run([sys.executable, __file__, "--child", "4k", "--photos", str(args.photos)],
                             check=True, capture_output=True, text=True).stdout
        results["4k_x2"] = json.loads(out.strip().splitlines()[-1])
    results["machine"]["load_avg_end"] = [round(x, 1) for x in os.getloadavg()]  # type: ignore[index]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
