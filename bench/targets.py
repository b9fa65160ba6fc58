"""The speed targets in one command: ``python bench/targets.py [--runs 3] [--out FILE]``.

Prints one JSON document (and writes it to ``--out``) with, on this machine and in this run:

* ``cli_512``: marginal seconds per 512×512 photo through ``python -m animegan stylize`` with default options
  (face ``auto``, ``auto`` backend, after ``python -m animegan prepare --style hayao``), over five real photos:
  (wall time for five photos − wall time for the first one) ÷ 4, so process start and model loading cancel
  out; medians over ``--runs`` repetitions. Alternated with it, in this process, the fp32 eager PyTorch
  generator (NCHW, as published) on the same five photos: its median seconds per photo and the ratio.
* ``cli_1024x768``: the same for three 1024×768 photos (a phone photo at the default processing size), with the
  CLI process's peak RSS and the eager baseline at that size.
* ``quality``: PSNR of the ``auto`` backend's generator output against the exact fp32 generator on every photo
  of the test set at the default processing size (worst case first).
* ``tiled``: full resolution (tiles of 512 + margin) against one untiled run, 1024×576.
* ``styles``: every available style at 512² through the CLI (faces off), per photo (the CLI's own per-photo
  seconds after the first photo), with default options against ``--backend onnx`` (onnxruntime fp32).
* ``upscale_x2``: what ×2 upscaling with the default upscaler adds to a 512² result, in this process: the measured
  runtime against onnxruntime fp32, alternated.
* ``webcam``: frames per second of the server webcam (:class:`animegan.LiveSession`) with ``cute`` at 256².

Needs the weights (ANIMEGAN_WEIGHTS_PATH) and the test photos (ANIMEGAN_TEST_PHOTOS or ../shared/photos).
Quote it from a quiet machine: the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from animegan import Engine, LiveSession, get_settings  # noqa: E402
from animegan.backends import cpu  # noqa: E402
from animegan.imageio import decode  # noqa: E402
from animegan.quality import psnr  # noqa: E402
from animegan.resample import fit_within, resize  # noqa: E402
from animegan.styles import STYLES  # noqa: E402

PHOTOS = Path(os.environ.get("ANIMEGAN_TEST_PHOTOS") or REPO.parent / "shared" / "photos")
FIVE = ("city_tokyo_street.jpg", "portrait_obama_official.jpg", "group_8_kids.jpg",
        "landscape_fuji_autumn_1365x2048.jpg", "still_coffee_cup.png")
"""Streets, one large face, eight small faces, a landscape, an object: the face pass runs on two of them."""
THREE = ("city_tokyo_street.jpg", "group_dinner_6_faces.jpg", "landscape_fuji_autumn_1365x2048.jpg")
STYLE = "hayao"
TILED_PHOTO = "city_tokyo_street.jpg"


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def crops(names: tuple[str, ...], width: int, height: int, folder: Path) -> list[Path]:
    """Centre crops of the photos at width:height, resized to width×height, as JPEG (quality 95)."""
    from PIL import Image

    out = []
    for name in names:
        with Image.open(PHOTOS / name) as im:
            rgb = im.convert("RGB")
        w, h = rgb.size
        scale = min(w / width, h / height)
        cw, ch = round(width * scale), round(height * scale)
        box = ((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch)
        path = folder / f"{Path(name).stem}_{width}x{height}.jpg"
        rgb.crop(box).resize((width, height), Image.Resampling.LANCZOS).save(path, quality=95)
        out.append(path)
    return out


PEAK_RSS = ("import atexit, runpy, sys; atexit.register(lambda: print(next(line for line in open('/proc/self/status') "
            "if line.startswith('VmHWM')), file=sys.stderr)); sys.argv[0] = 'animegan'; "
            "runpy.run_module('animegan', run_name='__main__')")
"""``python -m animegan`` that prints its own peak RSS (VmHWM) at exit: the ``ru_maxrss`` of a child counts the
memory of this benchmark process it was forked from (the eager generator: gigabytes)."""


def run_cli(inputs: list[Path], out_dir: Path, style: str = STYLE, *options: str) -> tuple[float, float, list[float]]:
    """One ``python -m animegan stylize`` process (default options, plus ``options``): wall seconds, peak RSS (MB)
    and the per-input seconds it reports."""
    cmd = [sys.executable, "-c", PEAK_RSS, "stylize", *map(str, inputs), "-o", str(out_dir), "--style", style, "--json",
           *options]
    start = time.perf_counter()
    env = {**os.environ, "ANIMEGAN_THREADS": str(get_settings().threads)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the CLI failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    peak_kb = int(next(line for line in done.stderr.splitlines() if line.startswith("VmHWM")).split()[1])
    return wall, peak_kb / 1024, [r["seconds"] for r in json.loads(done.stdout)]


class Eager:
    """The fp32 eager PyTorch generator as published (NCHW), the issue's baseline."""

    def __init__(self, engine: Engine) -> None:
        import torch

        from animegan.archs.animeganv2 import Generator
        from animegan.backends.torch_backend import load_state_dict

        torch.set_num_threads(engine.settings.threads)
        self.torch = torch
        self.model = Generator().eval()
        self.model.load_state_dict(load_state_dict(engine.weights.resolve(STYLES.get(STYLE).weights)))

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """H×W×3 in [0, 1] (sides multiples of 8) → the generator's output in [0, 1]."""
        x = self.torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None] * 2 - 1
        with self.torch.inference_mode():
            y = self.model(x)[0].numpy().transpose(1, 2, 0)
        return np.clip((y + 1) / 2, 0, 1)


def rgb_of(path: Path, side: int | None = None) -> np.ndarray:
    rgb = decode(path, 40_000_000).rgb
    if side is not None:
        rgb = resize(rgb, *fit_within(*rgb.shape[:2], side))
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(rgb[: h - h % 8, : w - w % 8])


def cli_case(inputs: list[Path], eager: Eager, runs: int, tmp: Path) -> dict[str, object]:
    """Marginal CLI seconds per photo, alternated with the eager generator on the same photos."""
    pixels = [rgb_of(p) for p in inputs]
    walls_all, walls_one, rss, reported, base = [], [], [], [], []
    eager(pixels[0])  # warm-up
    for r in range(runs):
        wall, peak, seconds = run_cli(inputs, tmp / f"all{r}")
        walls_all.append(wall)
        rss.append(peak)
        reported.append(statistics.median(seconds[1:]))
        wall, peak, _ = run_cli(inputs[:1], tmp / f"one{r}")
        walls_one.append(wall)
        rss.append(peak)
        start = time.perf_counter()
        for rgb in pixels:
            eager(rgb)
        base.append((time.perf_counter() - start) / len(pixels))
    marginal = (statistics.median(walls_all) - statistics.median(walls_one)) / (len(inputs) - 1)
    b = statistics.median(base)
    h, w = pixels[0].shape[:2]
    return {"photos": [p.name for p in inputs], "size": f"{w}x{h}", "runs": runs,
            "marginal_s_per_photo": round(marginal, 3),
            "reported_s_per_photo": round(statistics.median(reported), 3),
            "wall_s": {"all": [round(x, 2) for x in walls_all], "first_only": [round(x, 2) for x in walls_one]},
            "peak_rss_mb": round(max(rss), 1),
            "eager_fp32_generator_s_per_photo": round(b, 3),
            "speedup_vs_eager": round(b / marginal, 2)}


def quality(engine: Engine, eager: Eager, side: int) -> dict[str, object]:
    """The ``auto`` backend's generator against the exact fp32 generator on every test photo."""
    stylizer = engine.stylizer(STYLE)
    rows = []
    for path in sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".png")):
        rgb = rgb_of(path, side)
        rows.append((round(psnr(eager(rgb), stylizer(rgb)), 2), path.name))
    rows.sort()
    return {"backend": stylizer.backend.name, "side": side, "photos": len(rows), "worst_psnr_db": rows[0][0],
            "per_photo": [{"photo": n, "psnr_db": p} for p, n in rows]}


def tiled(engine: Engine, styles: list[str], tile: int) -> list[dict[str, object]]:
    rgb = rgb_of(PHOTOS / TILED_PHOTO, 2 * tile)
    rows = []
    for style in styles:
        stylizer = engine.stylizer(style)
        score = psnr(stylizer(rgb), stylizer.full_resolution(rgb, tile))
        rows.append({"style": style, "backend": stylizer.backend.name, "size": f"{rgb.shape[1]}x{rgb.shape[0]}",
                     "tile": tile, "psnr_db": round(score, 2)})
    return rows


def cli_styles(engine: Engine, inputs: list[Path], runs: int, tmp: Path) -> list[dict[str, object]]:
    """Every available style through the CLI at 512² with faces off: default options against ``--backend onnx``,
    seconds per photo as the CLI reports them after its first photo (medians over photos and runs)."""
    rows = []
    for status in engine.styles():
        if not status.available:
            continue
        style = status.item.id
        per: dict[str, list[float]] = {"onnx": [], "auto": []}
        for r in range(runs):
            for name, extra in (("onnx", ["--backend", "onnx"]), ("auto", [])):
                _, _, seconds = run_cli(inputs, tmp / f"{style}-{name}{r}", style, "--face", "off", *extra)
                per[name] += seconds[1:]
        b, a = statistics.median(per["onnx"]), statistics.median(per["auto"])
        backend = engine.stylizer(style).backend
        rows.append({"style": style, "backend": backend.name, "precision": getattr(backend, "precision", "fp32"),
                     "onnx_s": round(b, 3), "auto_s": round(a, 3), "speedup": round(b / a, 2)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def upscale_x2(engine: Engine, runs: int) -> dict[str, object]:
    """Seconds the default upscaler adds at ×2 to a 512² result: measured runtime vs onnxruntime fp32, alternated."""
    photo = rgb_of(PHOTOS / TILED_PHOTO)
    side = min(photo.shape[:2])
    rgb = engine.stylizer("hayao")(resize(photo[:side, :side], 512, 512))
    measured, plain = engine.upscalers.get(None), engine.upscalers.get(None, measured=False)
    times: dict[str, list[float]] = {"measured": [], "onnxruntime": []}
    measured(rgb, 2)
    plain(rgb, 2)
    for _ in range(max(runs, 3)):
        for key, up in (("measured", measured), ("onnxruntime", plain)):
            start = time.perf_counter()
            up(rgb, 2)
            times[key].append(time.perf_counter() - start)
    m, o = statistics.median(times["measured"]), statistics.median(times["onnxruntime"])
    return {"input": f"{rgb.shape[1]}x{rgb.shape[0]}", "runtime": measured.runtime(2), "added_s": round(m, 3),
            "onnxruntime_fp32_s": round(o, 3), "speedup": round(o / m, 2)}


def webcam(engine: Engine, seconds: float = 10.0) -> dict[str, object]:
    """The server webcam's frames per second with ``cute`` at 256² on frames of a real photo, panning."""
    photo = (rgb_of(PHOTOS / "portrait_obama_official.jpg", 340) * 255).astype(np.uint8)
    frames = [np.ascontiguousarray(photo[:256, i:i + 256]) for i in range(0, photo.shape[1] - 256, 2)]
    session = LiveSession(engine, style="cute", side=256)
    session.process(frames[0])  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session.process(frames[done % len(frames)])
        done += 1
    elapsed = time.perf_counter() - start
    return {"style": "cute", "size": "256x256", "backend": engine.stylizer("cute").backend.name, "frames": done,
            "fps": round(done / elapsed, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="repetitions of every timed case (medians)")
    p.add_argument("--quality-side", type=int, default=1024, help="processing size of the quality check (CLI default)")
    p.add_argument("--tiled-styles", default="hayao,paprika", help="styles of the tiled-vs-untiled check")
    p.add_argument("--skip", default="", help="comma-separated parts to leave out: cli,quality,tiled,styles,upscale,webcam")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    args = p.parse_args()
    if not PHOTOS.is_dir():
        sys.exit(f"photos not found at {PHOTOS}; set ANIMEGAN_TEST_PHOTOS")
    skip = set(filter(None, args.skip.split(",")))
    settings = get_settings()
    doc: dict[str, object] = {"machine": {"cpu": cpu.cpu_name(), "native_bf16": cpu.native_bf16(), "cpus": os.cpu_count(),
                                          "threads": settings.threads, "load_avg_at_start": load_avg()}}
    prepared = subprocess.run([sys.executable, "-m", "animegan", "prepare", "--style", STYLE, "--json"],
                              capture_output=True, text=True, check=False)
    doc["prepare"] = json.loads(prepared.stdout) if prepared.returncode == 0 else prepared.stderr.strip().splitlines()[-1:]
    engine = Engine(settings)
    eager = Eager(engine)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "cli" not in skip:
            doc["cli_512"] = cli_case(crops(FIVE, 512, 512, tmp), eager, args.runs, tmp)
            print(json.dumps(doc["cli_512"]), file=sys.stderr, flush=True)
            doc["cli_1024x768"] = cli_case(crops(THREE, 1024, 768, tmp), eager, args.runs, tmp)
            print(json.dumps(doc["cli_1024x768"]), file=sys.stderr, flush=True)
        if "styles" not in skip:
            doc["styles"] = cli_styles(engine, crops(FIVE[:4], 512, 512, tmp), max(1, args.runs // 3), tmp)
    if "quality" not in skip:
        doc["quality"] = quality(engine, eager, args.quality_side)
    if "tiled" not in skip:
        doc["tiled"] = tiled(engine, args.tiled_styles.split(","), settings.tile_size)
    if "upscale" not in skip:
        doc["upscale_x2"] = upscale_x2(engine, args.runs)
    if "webcam" not in skip:
        doc["webcam"] = webcam(engine)
    doc["load_avg_at_end"] = load_avg()
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
