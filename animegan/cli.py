"""Command-line interface: ``python -m animegan {styles,upscalers,weights,stylize,video,export}``.

Exit codes: 0 success; 1 some inputs failed; 2 bad usage or unknown style; 3 the style's weights
are missing or corrupt; 4 no input files found.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .backends import BACKEND_NAMES
from .errors import AnimeGANError, InvalidOptionError, UnknownStyleError, WeightsError
from .export import DEFAULT_TFLITE_SIZE
from .export import FORMATS as EXPORT_FORMATS
from .files import FileResult, is_complete, load_models, save_output, stylize_file_to
from .naming import safe_stem, unique_name
from .pipeline import FACE_MODES, UPSCALES, Engine, StylizeOptions
from .settings import get_settings
from .styles import STYLES
from .upscale import DEFAULT_UPSCALER, UPSCALERS
from .weights import WeightStore

log = logging.getLogger("animegan")

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_WEIGHTS, EXIT_NO_INPUT = 0, 1, 2, 3, 4
ALL_STYLES = "all"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".tga", ".ico", ".mpo"}


def build_parser() -> argparse.ArgumentParser:
    settings = get_settings()
    p = argparse.ArgumentParser(prog="python -m animegan", description="Turn photos into anime-style pictures on the CPU.")
    p.add_argument("--version", action="version", version=f"animegan {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens (to stderr)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("styles", help="list the styles and whether their weights are available")
    s.add_argument("--json", action="store_true", help="print a JSON list of {id, name, available, description, ...}")

    u = sub.add_parser("upscalers", help="list the upscaler models and whether their weights are available")
    u.add_argument("--json", action="store_true", help="print a JSON list of {id, name, available, cost, ...}")

    w = sub.add_parser("weights", help="show every weight file's status, list or install them from their public sources")
    w.add_argument("--json", action="store_true", help="print machine-readable JSON")
    w.add_argument("--download", metavar="ID", nargs="+",
                   help="install these manifest ids, a kind (anime, face, upscale) or `all` from their public sources "
                        "(verified; needs internet)")
    w.add_argument("--sources", action="store_true", help="list every upstream download (url, sha256, conversion)")

    st = sub.add_parser("stylize", help="stylize image files, folders or globs")
    st.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (their images) or glob patterns")
    st.add_argument("-o", "--output", required=True, type=Path, metavar="OUT",
                    help="output file (one input) or directory (several inputs; created if needed)")
    st.add_argument("-s", "--style", required=True, metavar="ID",
                    help=f"style id: {', '.join(STYLES.ids())}, or {ALL_STYLES} (every available style, fastest first, "
                         "into the directory OUT)")
    own_sides = ", ".join(f"{s.id} {s.default_side}" for s in STYLES if s.default_side) or "none"
    size = st.add_mutually_exclusive_group()
    size.add_argument("--max-side", type=int, metavar="N",
                      help="process at most N px on the longer side, result resized back (default: the style's own "
                           f"size where it has one ({own_sides}), else {settings.max_side})")
    size.add_argument("--full-res", action="store_true", help="process at full resolution, in tiles (slower)")
    st.add_argument("--face", choices=FACE_MODES, default="auto",
                    help="face-aware stylization: auto = when faces are found (default auto)")
    st.add_argument("--face-strength", type=float, default=StylizeOptions.face_strength, metavar="F",
                    help="how much the face pass replaces the plain result inside faces (0-1, default 1)")
    st.add_argument("--upscale", type=int, choices=UPSCALES, default=1, help="upscale the result 2×/3×/4× (default 1)")
    st.add_argument("--upscaler", choices=UPSCALERS.ids(), metavar="ID",
                    help=f"upscaler model for --upscale: {', '.join(UPSCALERS.ids())} (default {DEFAULT_UPSCALER})")
    st.add_argument("--match-brightness", action="store_true", help="match the output's brightness to the photo")
    st.add_argument("--strength", type=float, default=1.0, metavar="F", help="blend with the photo: 0 = photo, 1 = full style")
    st.add_argument("--keep-colors", action="store_true",
                    help="keep the photo's colours: the style's light and lines, the photo's hue and saturation")
    st.add_argument("--format", choices=("png", "jpg", "webp"), help="output format for directory outputs (default png)")
    st.add_argument("--json", action="store_true", help="print one JSON document with a result object per input")
    add_ray_option(st, "run on a Ray cluster: 'auto', 'local' (a throw-away local cluster) or HOST:PORT; "
                       "a rerun skips the inputs whose output is already complete")
    st.add_argument("--overwrite", action="store_true", help="with --ray: redo inputs whose output exists")
    add_video_parser(sub, settings.video_max_side)
    st.add_argument("--backend", choices=BACKEND_NAMES, default="auto",
                    help="inference backend (default auto: the fastest that passes the quality guard)")

    ex = sub.add_parser("export", help="write a style as a standalone model (ONNX, ncnn, TFLite, OpenVINO IR) "
                                       "with a JSON contract beside it (docs/mobile.md)")
    ex.add_argument("-s", "--style", required=True, metavar="ID", help=f"style id: {', '.join(STYLES.ids())}")
    ex.add_argument("--format", choices=EXPORT_FORMATS, default="onnx",
                    help="onnx (default): the generator as the engine runs it (NHWC, the style's value range, no "
                         "grade); ncnn, openvino: a folder with ID.param + ID.bin or ID.xml + ID.bin, NCHW RGB in "
                         "[0, 1], any size the style allows; tflite: a .tflite file, NHWC RGB in [0, 1], fixed "
                         "--size; the mobile formats include the style's colour grade")
    ex.add_argument("--size", type=int, metavar="N",
                    help=f"tflite: the fixed N×N input (default {DEFAULT_TFLITE_SIZE}, or a fixed-size style's own)")
    ex.add_argument("--int8", action="store_true", help="onnx: static INT8 quantization (checked against fp32)")
    ex.add_argument("--tool-python", type=Path, metavar="PYTHON",
                    help="tflite: the interpreter of the TensorFlow tool environment (default .venv-mobile/bin/python "
                         "of the checkout, made by `make mobile-tools`)")
    ex.add_argument("-o", "--output", required=True, type=Path, metavar="PATH",
                    help="the .onnx or .tflite file to write, or the folder of an ncnn or openvino export")

    pr = sub.add_parser("prepare", help="build the fast models (ONNX export, checked INT8) once, before the first request")
    pr.add_argument("-s", "--style", nargs="+", metavar="ID",
                    help="these styles only (default: every available style and the fast upscalers)")
    pr.add_argument("--json", action="store_true", help="print a JSON list of {name, backend, note, failed}")

    b = sub.add_parser("backends", help="the measured backend of every model on this CPU (measures what is not yet)")
    b.add_argument("--json", action="store_true",
                   help="print a JSON list of {model, backend, precision, seconds, passed, psnr_min, chosen}")
    return p


def add_video_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], default_side: int) -> None:
    v = sub.add_parser("video", help="stylize a video file (keeps fps, frame count, size and audio)")
    v.add_argument("input", type=Path, metavar="IN", help="video file (MP4, MOV, MKV, WebM, ...)")
    v.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="output video: .mp4 .m4v .mov .mkv or .webm")
    v.add_argument("-s", "--style", required=True, metavar="ID", help=f"style id: {', '.join(STYLES.ids())}")
    v.add_argument("--max-side", type=int, default=default_side, metavar="N",
                   help=f"process frames at most N px on the longer side, resized back (default {default_side})")
    v.add_argument("--side-by-side", action="store_true", help="output the original and the stylized frames side by side")
    v.add_argument("--no-smooth", action="store_true", help="turn off temporal stabilisation (more flicker)")
    v.add_argument("--json", action="store_true", help="print the result as JSON")
    add_ray_option(v, "stylize the video's segments on a Ray cluster: 'auto', 'local' or HOST:PORT")


def add_ray_option(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--ray", metavar="ADDRESS", help=text + " (needs requirements-ray.txt)")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except AnimeGANError as err:  # a malformed ANIMEGAN_* variable
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "styles":
            return cmd_styles(args)
        if args.command == "upscalers":
            return cmd_upscalers(args)
        if args.command == "weights":
            return cmd_weights(args)
        if args.command == "video":
            return cmd_video(args)
        if args.command == "export":
            return cmd_export(args)
        if args.command == "prepare":
            return cmd_prepare(args)
        if args.command == "backends":
            return cmd_backends(args)
        return cmd_stylize(args)
    except UnknownStyleError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except WeightsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_WEIGHTS
    except AnimeGANError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


def show_catalogue(rows: Sequence[Any], as_json: bool, record: Callable[[Any], dict[str, object]],
                   line: Callable[[Any], str]) -> int:
    """Print styles or upscalers: a JSON list of records, or one line each with why an entry is unavailable."""
    if as_json:
        print(json.dumps([{**record(r), "available": r.available, "license": r.license,
                           "weights": r.item.weights, "reason": r.reason or None} for r in rows], indent=2))
        return EXIT_OK
    for r in rows:
        text = line(r)
        print(f"{'ok ' if r.available else '-- '} {text}")
        if not r.available:
            print(f"{'':4}unavailable: {r.reason}")
    return EXIT_OK


def cmd_styles(args: argparse.Namespace) -> int:
    return show_catalogue(
        Engine().styles(), args.json,
        lambda r: {"id": r.item.id, "name": r.item.label, "description": r.item.description, "family": r.item.family,
                   "cost": r.item.cost},
        lambda r: f"{r.item.id:<11} {r.item.label:<20} {r.item.description}",
    )


def cmd_upscalers(args: argparse.Namespace) -> int:
    return show_catalogue(
        Engine().upscalers.statuses(), args.json,
        lambda r: {"id": r.item.id, "name": r.item.label, "description": r.item.description, "cost": r.item.cost,
                   "scale": r.item.scale, "default": r.item.id == DEFAULT_UPSCALER},
        lambda r: f"{r.item.id:<16} {r.item.cost:<7} {r.item.description}",
    )


def cmd_weights(args: argparse.Namespace) -> int:
    store = Engine().weights
    if args.sources:
        from .install import sources_table

        sources = sources_table(store)
        if args.json:
            print(json.dumps(sources, indent=2))
        for r in [] if args.json else sources:
            print(f"{r['id']:<28} {r['origin']:<12} {r['url']}" + (f"  ({r['convert']})" if r["convert"] else ""))
        return EXIT_OK
    if args.download:
        return install_weights(store, args.download, args.json)
    rows = store.status_all()
    if args.json:
        print(json.dumps([{"id": s.item.id, "file": s.item.file, "kind": s.item.kind, "state": s.state,
                           "path": str(s.path) if s.path else None, "message": s.reason or f"ok: {s.path}",
                           "license": s.license} for s in rows], indent=2))
    else:
        for s in rows:
            print(f"{s.state:<8} {s.item.kind:<8} {s.item.id:<28} {s.reason or s.path}")
    return EXIT_OK


def install_weights(store: WeightStore, ids: list[str], as_json: bool) -> int:
    """``weights --download``: one line (or JSON row) per entry; exit 3 if any could not be installed."""
    from .install import Installer

    results = []
    for result in Installer(store, progress=not as_json and sys.stderr.isatty()).install_all(ids):
        results.append(result)
        if not as_json and result.outcome != "present":
            print(f"{result.outcome:<9} {result.entry.id:<28} {result.path or result.message}"
                  + (f" ({result.message})" if result.path else ""), flush=True)
    if as_json:
        print(json.dumps([{"id": r.entry.id, "file": r.entry.file, "outcome": r.outcome,
                           "path": str(r.path) if r.path else None, "message": r.message} for r in results], indent=2))
    failed = [r for r in results if r.outcome == "failed"]
    if not as_json:
        present = sum(r.outcome == "present" for r in results)
        print(f"{len(results) - len(failed)} of {len(results)} weight files installed ({present} were already here)"
              + (f"; {len(failed)} failed" if failed else ""), file=sys.stderr if failed else sys.stdout)
    return EXIT_WEIGHTS if failed else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_style

    done = export_style(Engine(), args.style, args.format, args.output, size=args.size, int8=args.int8,
                        tool_python=args.tool_python)
    inp, size = done.record["input"], done.record["size"]["text"]
    checked = done.record.get("verified", {}).get("psnr_db")
    print(f"{args.style} → {', '.join(str(f) for f in done.files)} + {done.contract.name} ({done.format}, input "
          f"{inp['name']!r} {inp['layout']} {inp['range']}, {size}"
          + (f"; its runtime matches onnxruntime at {min(checked.values()):.1f} dB" if checked else "") + ")")
    return EXIT_OK


def cmd_prepare(args: argparse.Namespace) -> int:
    from .prepare import prepare

    rows = []
    for row in prepare(Engine(), args.style):
        rows.append(row)
        if not args.json:
            print(f"{row.name:<13} {row.note}", flush=True)
    if args.json:
        print(json.dumps([{"name": r.name, "backend": r.backend, "note": r.note, "failed": r.failed} for r in rows], indent=2))
    return EXIT_WEIGHTS if any(r.failed for r in rows) else EXIT_OK


def cmd_backends(args: argparse.Namespace) -> int:
    from .backends import cpu
    from .prepare import measured_choices

    rows = []
    for model, choice in measured_choices(Engine()):
        chosen = (choice.chosen, choice.precision(choice.chosen))
        for t in choice.trials:
            rows.append({"model": model, "backend": t.backend, "precision": t.precision, "seconds": t.seconds,
                         "passed": t.passed, "psnr_min": t.facts.get("psnr_min"), "chosen": (t.backend, t.precision) == chosen,
                         **({"error": t.facts["error"]} if "error" in t.facts else {})})
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(f"CPU: {cpu.cpu_name()} ({'native bf16' if cpu.native_bf16() else 'no native bf16'}); "
          "seconds: the probe photos, summed")
    print(f"{'model':<22} {'backend':<14} {'precision':<9} {'seconds':>8} {'PSNR':>7}  chosen")
    for r in rows:
        secs = f"{r['seconds']:.3f}" if r["seconds"] is not None else "failed"
        quality = "ref" if r["backend"] == "onnx" else (f"{r['psnr_min']:.1f}" if r["psnr_min"] is not None else "")
        mark = "*" if r["chosen"] else ("guard" if r["seconds"] is not None and not r["passed"] else "")
        print(f"{r['model']:<22} {r['backend']:<14} {r['precision']:<9} {secs:>8} {quality:>7}  {mark}")
    return EXIT_OK


def expand_inputs(patterns: Sequence[str]) -> list[Path]:
    """Files named, images inside folders named (sorted), and glob matches; duplicates removed."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.exists():
            matches = [path]
        else:
            matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True) if Path(m).is_file())
        for m in matches:
            found.setdefault(m, None)
    return list(found)


def plan_outputs(inputs: list[Path], output: Path, style: str, fmt: str | None) -> list[Path]:
    """Where each input's result goes: OUT itself for a single input file, else OUT/<stem>_<style>.<ext>."""
    if len(inputs) == 1 and not output.is_dir() and output.suffix:
        return [output]
    ext = "." + (fmt or "png")
    taken: set[str] = set()
    return [output / unique_name(f"{safe_stem(p.name)}_{style}", ext, taken) for p in inputs]


def processing_side(style: str, max_side: int | None) -> int:
    """``--max-side`` when given, else the style's own processing size, else the process default (ANIMEGAN_MAX_SIDE)."""
    return max_side if max_side is not None else STYLES.get(style).default_side or get_settings().max_side


def stylize_options(args: argparse.Namespace) -> StylizeOptions:
    """The checked StylizeOptions of a ``stylize`` command line."""
    return StylizeOptions(
        style=args.style, max_side=None if args.full_res else processing_side(args.style, args.max_side),
        face=args.face, upscale=args.upscale,
        upscaler=args.upscaler, match_brightness=args.match_brightness, strength=args.strength,
        face_strength=args.face_strength, backend=args.backend, keep_colors=args.keep_colors,
    )


def finish_report(results: Sequence[FileResult], as_json: bool, single: bool, out: TextIO | None = None) -> int:
    """Print the report to ``out`` (stdout): a JSON list, or a line for one file; a failure count to stderr.
    Returns the exit code."""
    if as_json:
        print(json.dumps([r.to_json() for r in results], indent=2), file=out or sys.stdout)
    elif single and results and results[0].ok:
        r = results[0]
        print(f"{r.input} → {r.output} ({r.width}×{r.height}, {r.seconds} s)", file=out or sys.stdout)
    failed = sum(not r.ok for r in results)
    if failed and not as_json:
        print(f"{failed} of {len(results)} inputs failed", file=sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK


def report_error(result: FileResult, as_json: bool) -> None:
    if not result.ok and not as_json:
        print(f"error: {result.input}: {result.error}", file=sys.stderr)


def cmd_stylize(args: argparse.Namespace) -> int:
    if args.style == ALL_STYLES:
        return stylize_every_style(args)
    options = stylize_options(args)
    inputs = expand_inputs(args.inputs)
    if not inputs:
        print(f"error: no input files match {' '.join(args.inputs)}", file=sys.stderr)
        return EXIT_NO_INPUT
    outputs = plan_outputs(inputs, args.output, options.style, args.format)
    outputs[0].parent.mkdir(parents=True, exist_ok=True)
    if args.ray:
        return stylize_with_ray(args, inputs, outputs, options)
    engine = Engine()
    load_models(engine, options)
    results = stylize_files(engine, list(zip(inputs, outputs, strict=True)), options, args.json)
    return finish_report(results, args.json, len(inputs) == 1)


def stylize_files(engine: Engine, work: list[tuple[Path, Path]], options: StylizeOptions, as_json: bool,
                  each: bool = False) -> list[FileResult]:
    """Stylize each ``(input, output)`` in this process, with a progress bar for several; ``each`` prints a line per
    finished file."""
    from tqdm import tqdm

    results = []
    bar = tqdm(work, unit="img", disable=len(work) < 2 or as_json or None, file=sys.stderr)
    for src, dst in bar:
        bar.set_postfix_str(src.name[:30])
        data, result = stylize_file_to(engine, src, str(src), dst, options)
        if data is not None:
            result = save_output(dst, data, result)
        report_error(result, as_json)
        if each and result.ok and not as_json:
            bar.write(f"{result.input} → {result.output} ({result.width}×{result.height}, {result.seconds} s)")
        results.append(result)
    return results


def stylize_every_style(args: argparse.Namespace) -> int:
    """``--style all``: every input in every available style, the fastest first, into the directory ``-o``."""
    if args.ray:
        raise InvalidOptionError("--style all runs in this process: leave out --ray")
    if args.output.suffix and not args.output.is_dir():
        raise InvalidOptionError(f"--style all writes one file per style: -o must be a directory, not {args.output}")
    inputs = expand_inputs(args.inputs)
    if not inputs:
        print(f"error: no input files match {' '.join(args.inputs)}", file=sys.stderr)
        return EXIT_NO_INPUT
    engine = Engine()
    styles = engine.styles_fastest_first()
    if not styles:
        raise WeightsError("no style is available here; python -m animegan weights --download anime installs them")
    args.output.mkdir(parents=True, exist_ok=True)
    results = []
    for spec in styles:
        args.style = spec.id
        options = stylize_options(args)
        load_models(engine, options)
        outputs = plan_outputs(inputs, args.output, spec.id, args.format or "png")
        results += stylize_files(engine, list(zip(inputs, outputs, strict=True)), options, args.json, each=True)
    return finish_report(results, args.json, single=False)


def stylize_with_ray(args: argparse.Namespace, inputs: list[Path], outputs: list[Path], options: StylizeOptions) -> int:
    """``stylize --ray``: the inputs whose output is complete are skipped (and counted) unless ``--overwrite``."""
    from tqdm import tqdm

    from .cluster.batch import stylize_on_cluster

    results: dict[int, FileResult] = {}
    work = []
    for i, (src, dst) in enumerate(zip(inputs, outputs, strict=True)):
        if not args.overwrite and is_complete(dst):
            results[i] = FileResult(str(src), options.style, str(dst), seconds=0.0, skipped=True)
        else:
            work.append((i, src, dst))
    report_to = keep_stdout_for_report()
    stream = stylize_on_cluster(args.ray, work, options, get_settings())
    if results:
        print(f"skipping {len(results)} of {len(inputs)} inputs: their output is already complete "
              "(--overwrite redoes them)", file=sys.stderr)
    with tqdm(total=len(inputs), initial=len(results), unit="img", file=sys.stderr, disable=args.json or None) as bar:
        for index, result in stream:
            report_error(result, args.json)
            results[index] = result
            bar.update(1)
    return finish_report([results[i] for i in sorted(results)], args.json, single=len(inputs) == 1, out=report_to)


def keep_stdout_for_report() -> TextIO:
    """Ray prints cluster events (a lost node, a retried task) to ``sys.stdout``: send those to stderr, and
    return the real stdout, so that ``--json`` output stays one clean document."""
    out = sys.stdout
    sys.stdout = sys.stderr
    return out


def cmd_video(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .video import VideoOptions, convert_video

    options = VideoOptions(style=args.style, max_side=args.max_side, side_by_side=args.side_by_side,
                           smoothing=0.0 if args.no_smooth else VideoOptions.smoothing)
    bar = tqdm(total=1000, unit="‰", file=sys.stderr, disable=args.json or None, bar_format="{l_bar}{bar}| {postfix}")

    def progress(fraction: float, message: str) -> None:
        bar.n = round(fraction * 1000)
        bar.set_postfix_str(message, refresh=True)

    out = sys.stdout
    try:
        if args.ray:
            from .cluster.video import convert_on_actors

            out = keep_stdout_for_report()
            result = convert_on_actors(get_settings(), args.ray, args.input, args.output, options, progress)
        else:
            result = convert_video(Engine(), args.input, args.output, options, progress)
    finally:
        bar.close()
    row = {"input": str(args.input), "output": str(result.path), "style": options.style, "width": result.width,
           "height": result.height, "fps": float(result.fps), "frames": result.frames, "audio": result.audio,
           "scene_cuts": result.scene_cuts, "seconds": round(result.seconds, 3)}
    if args.json:
        print(json.dumps(row, indent=2), file=out)
    else:
        print(f"{args.input} → {result.path} ({result.width}×{result.height}, {result.frames} frames at "
              f"{float(result.fps):.3g} fps, audio {result.audio}, {result.seconds:.1f} s)", file=out)
    return EXIT_OK
