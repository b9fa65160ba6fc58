"""Rewrite the generated tables of README.md and docs/*.md from their sources: ``python tools/doc_tables.py [--check]``.

A generated table sits between the lines ``<!-- table: NAME -->`` and ``<!-- /table -->`` (NAME: a key of :data:`TABLES`).
Measured tables come from the benchmark JSON in ``docs/measured/`` (``bench/speed.py --out``,
``bench/targets.py --out``) and carry the machine and the command that measured them; catalogue tables come from
the style registry and ``weights/manifest.json``. ``--check`` writes nothing and exits 1 when a table differs from
what its source gives now, naming the file and the table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MEASURED = Path("docs") / "measured"
MANIFEST = Path("weights") / "manifest.json"
MARKER = re.compile(r"^<!-- table: (?P<name>[a-z0-9-]+) -->\n(?P<body>.*?)^<!-- /table -->$", re.S | re.M)
OPENING = re.compile(r"^<!-- table: (.*) -->$", re.M)
"""Markers stand on lines of their own (a marker quoted inside a sentence is text)."""
OUTPUT_OPTIONS = {"--out": 1, "--markdown": 0}
"""Options of a recorded command that only choose where its output goes (left out of the command quoted)."""

Json = dict[str, Any]


@dataclass(frozen=True)
class Context:
    """Where the documents are (``root``) and the document a table is written into (``doc``, for relative links)."""

    root: Path
    doc: Path

    def link(self, relative: Path) -> str:
        """``relative`` (to the repository root) as a link from this document."""
        return Path(os.path.relpath(self.root / relative, (self.root / self.doc).parent)).as_posix()

    def measured(self, name: str) -> Json:
        return _json(self.root / MEASURED / name)

    def manifest(self) -> list[Json]:
        models = _json(self.root / MANIFEST)["models"]
        assert isinstance(models, list)
        return models


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def importable(root: Path) -> None:
    """Make the engine at ``root`` importable (the registries are read from it, as the CLI prints them)."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


# ---- captions -------------------------------------------------------------------------------------------------------


def quoted_command(doc: Json, default: str) -> str:
    """The recorded command without its output options (``--out FILE``, ``--markdown``), or ``default``."""
    words = shlex.split(str(doc.get("command") or default))
    kept: list[str] = []
    skip = 0
    for word in words:
        if skip:
            skip -= 1
        elif word in OUTPUT_OPTIONS:
            skip = OUTPUT_OPTIONS[word]
        else:
            kept.append(word)
    return " ".join(kept)


def machine(doc: Json) -> str:
    """The machine a JSON document was measured on, as one phrase."""
    m = doc["machine"]
    cpus = m.get("logical_cpus") or m.get("cpus")
    text = (f"{m['cpu']} ({'native bf16' if m['native_bf16'] else 'no native bf16'}), {cpus} logical CPUs, "
            f"`ANIMEGAN_THREADS={m['threads']}`")
    if "onnxruntime" in m:
        text += f", onnxruntime {m['onnxruntime']}, OpenVINO {m['openvino']}"
    start, end = m.get("load_avg_at_start"), doc.get("load_avg_at_end")
    if start and end:
        text += f", load average {start[0]} at the start and {end[0]} at the end"
    return text


def caption(ctx: Context, name: str, doc: Json, command: str) -> str:
    return (f"*Measured on {machine(doc)}, with `{command}` "
            f"([{name}]({ctx.link(MEASURED / name)})).*")


def table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    head = list(header)
    return [f"| {' | '.join(head)} |", f"|{'---|' * len(head)}", *(f"| {' | '.join(str(c) for c in r)} |" for r in rows)]


def seconds(value: float) -> str:
    return f"{value:.3f} s"


def span(values: list[float], digits: int, unit: str) -> str:
    """``0.42–0.45 s``: the range of ``values`` (one value when they round alike)."""
    low, high = (f"{v:.{digits}f}" for v in (min(values), max(values)))
    return f"{low}{unit}" if low == high else f"{low}–{high}{unit}"


# ---- bench/speed.py ------------------------------------------------------------------------------------------------


def speed_styles(ctx: Context, name: str) -> list[str]:
    doc = ctx.measured(name)
    rows = [(f"`{r['style']}`", f"{r['size']}²", seconds(r["onnx_s"]), seconds(r["auto_s"]),
             f"{r['backend']} ({r['precision']})", f"{r['speedup']:.2f}×") for r in doc["styles"]]
    return [caption(ctx, name, doc, quoted_command(doc, "python bench/speed.py")), "",
            *table(["style", "size", "`--backend onnx`", "`auto`", "`auto` ran on", "speed-up"], rows)]


def speed_upscalers(ctx: Context, name: str) -> list[str]:
    doc = ctx.measured(name)
    rows = [(f"`{r['upscaler']}`", f"×{r['factor']}", seconds(r["onnx_s"]), seconds(r["auto_s"]), r["runtime"],
             f"{r['speedup']:.2f}×") for r in doc["upscalers"]]
    return [caption(ctx, name, doc, quoted_command(doc, "python bench/speed.py")), "",
            *table(["upscaler", "factor (512² in)", "onnxruntime fp32", "measured choice", "ran on", "speed-up"], rows)]


def speed_summary(ctx: Context) -> list[str]:
    """bench/speed.py's styles grouped by model family (from the registry), and the default upscaler at ×2."""
    importable(ctx.root)
    from animegan import DEFAULT_UPSCALER, STYLES

    doc = ctx.measured("speed.json")
    groups: dict[str, list[Json]] = {}
    for r in doc["styles"]:
        groups.setdefault(STYLES.get(r["style"]).family, []).append(r)
    rows: list[tuple[object, ...]] = []
    for family, members in groups.items():
        ids = ", ".join(f"`{r['style']}`" for r in members)
        rows.append((f"{family}: {ids}", span([r["onnx_s"] for r in members], 3, " s"),
                     span([r["auto_s"] for r in members], 3, " s"), span([r["speedup"] for r in members], 1, "×")))
    for r in doc["upscalers"]:
        if r["upscaler"] == DEFAULT_UPSCALER and r["factor"] == 2:
            rows.append((f"×2 upscaling (`{r['upscaler']}`)", seconds(r["onnx_s"]), seconds(r["auto_s"]),
                         f"{r['speedup']:.1f}×"))
    return [caption(ctx, "speed.json", doc, quoted_command(doc, "python bench/speed.py")), "",
            *table(["512² photo", "`--backend onnx`", "`auto`", "speed-up"], rows)]


# ---- bench/targets.py ----------------------------------------------------------------------------------------------


def targets_command(doc: Json) -> str:
    runs = doc.get("cli_512", {}).get("runs")
    return quoted_command(doc, "python bench/targets.py" + (f" --runs {runs}" if runs else ""))


def dims(size: str) -> str:
    return size.replace("x", "×")


def targets(ctx: Context) -> list[str]:
    doc = ctx.measured("targets.json")
    rows: list[tuple[object, ...]] = []
    for key in ("cli_512", "cli_1024x768"):
        c = doc.get(key)
        if c:
            rows.append((f"`hayao` at {dims(c['size'])}, per photo through the CLI (face mode `auto`)",
                         f"**{seconds(c['marginal_s_per_photo'])}**, peak RSS {c['peak_rss_mb']:.0f} MB",
                         f"eager fp32 PyTorch generator {seconds(c['eager_fp32_generator_s_per_photo'])} "
                         f"({c['speedup_vs_eager']:.2f}× slower)"))
    q = doc.get("quality")
    if q:
        rows.append((f"`hayao` `auto` against the exact fp32 generator, {q['photos']} photos at {q['side']} px",
                     f"worst PSNR {q['worst_psnr_db']} dB", ""))
    for t in doc.get("tiled", []):
        rows.append((f"`{t['style']}` tiled ({t['tile']} px tiles) against untiled, {dims(t['size'])}",
                     f"PSNR {t['psnr_db']} dB", ""))
    u = doc.get("upscale_x2")
    if u:
        rows.append((f"×2 upscaling of a {dims(u['input'])} result", f"adds **{seconds(u['added_s'])}**, {u['runtime']}",
                     f"onnxruntime fp32 {seconds(u['onnxruntime_fp32_s'])} ({u['speedup']:.2f}× slower)"))
    w = doc.get("webcam")
    if w:
        rows.append((f"server webcam, `{w['style']}` at {dims(w['size'])}", f"**{w['fps']} FPS**, {w['backend']}", ""))
    return [caption(ctx, "targets.json", doc, targets_command(doc)), "", *table(["what", "measured", "baseline, same run"], rows)]


def targets_styles(ctx: Context) -> list[str]:
    doc = ctx.measured("targets.json")
    rows = [(f"`{r['style']}`", seconds(r["onnx_s"]), seconds(r["auto_s"]), f"{r['backend']} ({r['precision']})",
             f"{r['speedup']:.2f}×") for r in doc["styles"]]
    return [caption(ctx, "targets.json", doc, targets_command(doc)), "",
            *table(["style", "`--backend onnx`", "default (`auto`)", "`auto` ran on", "speed-up"], rows)]


TRIAL = re.compile(r"(?P<backend>[a-z0-9-]+) \((?P<precision>[a-z0-9]+)\) (?P<seconds>[0-9.]+) s"
                   r"(?:, (?P<psnr>[0-9.]+) dB)?(?P<failed> fails the guard)?")
FAILED = re.compile(r"(?P<backend>[a-z0-9-]+) failed \((?P<error>.*)\)")


def prepare_trials(ctx: Context) -> list[str]:
    """The candidates ``prepare`` measured in bench/targets.py's run (from its notes, fastest first)."""
    doc = ctx.measured("targets.json")
    rows = []
    for p in doc["prepare"]:
        chosen = False
        for part in p["note"].split("; "):
            m, failed = TRIAL.fullmatch(part), FAILED.fullmatch(part)
            if failed is not None:
                rows.append((f"`{p['name']}`", failed["backend"], "could not run", failed["error"], ""))
                continue
            if m is None:
                raise ValueError(f"targets.json: cannot read the prepare note {part!r}")
            first_pass = not chosen and m["backend"] == p["backend"] and not m["failed"]
            chosen = chosen or first_pass
            quality = "reference" if m["backend"] == "onnx" else f"{m['psnr']} dB" + (", fails the guard" if m["failed"] else "")
            rows.append((f"`{p['name']}`", f"{m['backend']} ({m['precision']})", f"{m['seconds']} s", quality,
                         "**yes**" if first_pass else ""))
    return [caption(ctx, "targets.json", doc, targets_command(doc)), "",
            *table(["model", "candidate", "seconds on the probe photos", "PSNR against onnx fp32", "chosen"], rows)]


# ---- the registry and the manifest ---------------------------------------------------------------------------------


def licence_of(ctx: Context) -> dict[str, str]:
    return {m["file"]: m["license"] for m in ctx.manifest()}


def styles(ctx: Context) -> list[str]:
    """Every style of the registry with its weight file's licence, as ``python -m animegan styles --json`` gives them."""
    importable(ctx.root)
    from animegan import STYLES

    licences = licence_of(ctx)
    rows = [(f"`{s.id}`", s.label, s.family, licences.get(s.weights, "(not in the manifest)")) for s in STYLES]
    return table(["id", "name", "family", "licence of the weights"], rows)


def licences(ctx: Context) -> list[str]:
    """The manifest's weight files grouped by the licence their source states."""
    groups: dict[str, list[str]] = {}
    for m in ctx.manifest():
        groups.setdefault(m["license"], []).append(f"`{m['file']}`")
    return table(["licence, as the manifest records it", "weight files"], [(k, ", ".join(v)) for k, v in groups.items()])


def source_text(source: Json) -> str:
    urls = [f["url"] for f in source["files"].values()]
    where = re.match(r"https://(?:raw\.githubusercontent\.com|github\.com)/([^/]+/[^/]+)/", urls[0])
    release = re.search(r"/releases/download/([^/]+)/", urls[0])
    text = f"{source['origin']}: {where[1] if where else urls[0]}" + (f" {release[1]}" if release else "")
    if source.get("install_as"):
        text += f" (its own name `{source['install_as']}`)"
    return text + (f", converted by `{source['convert']}`" if source.get("convert") else "")


def weights(ctx: Context) -> list[str]:
    rows = [(f"`{m['id']}`", f"`{m['file']}`", m["kind"], m["license"], "; ".join(source_text(s) for s in m["sources"]))
            for m in ctx.manifest()]
    return table(["id", "file", "kind", "licence", "sources, in the order tried"], rows)


TABLES: dict[str, Callable[[Context], list[str]]] = {
    "speed": lambda ctx: speed_styles(ctx, "speed.json"),
    "speed-upscalers": lambda ctx: speed_upscalers(ctx, "speed.json"),
    "speed-fp32": lambda ctx: speed_styles(ctx, "speed-fp32.json"),
    "speed-fp32-upscalers": lambda ctx: speed_upscalers(ctx, "speed-fp32.json"),
    "speed-summary": speed_summary,
    "targets": targets,
    "targets-styles": targets_styles,
    "prepare": prepare_trials,
    "styles": styles,
    "licences": licences,
    "weights": weights,
}


# ---- documents -----------------------------------------------------------------------------------------------------


def documents(root: Path) -> list[Path]:
    """The documents that may hold generated tables, relative to ``root``."""
    return [p.relative_to(root) for p in [root / "README.md", root / "CONTRIBUTING.md", *sorted((root / "docs").glob("*.md"))]
            if p.is_file()]


def rendered(root: Path, doc: Path, text: str) -> str:
    """``text`` (the document ``doc``) with every generated table rewritten. Raises ValueError for an unknown table
    name or a marker without its end."""
    found = MARKER.findall(text)
    names = OPENING.findall(text)
    if len(found) != len(names):
        raise ValueError(f"{doc}: a `<!-- table: NAME -->` marker has no `<!-- /table -->`")
    ctx = Context(root, doc)

    def replace(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in TABLES:
            raise ValueError(f"{doc}: unknown table {name!r}; known: {', '.join(TABLES)}")
        body = "\n".join(TABLES[name](ctx))
        return f"<!-- table: {name} -->\n\n{body}\n\n<!-- /table -->"

    return MARKER.sub(replace, text)


def stale(root: Path = ROOT) -> list[str]:
    """Every generated table that differs from its source, as ``FILE: table NAME``; empty when all are current."""
    out = []
    for doc in documents(root):
        text = (root / doc).read_text()
        new = rendered(root, doc, text)
        if new != text:
            pairs = zip(MARKER.findall(text), MARKER.findall(new), strict=True)
            out += [f"{doc}: table {old[0]}" for old, now in pairs if old != now]
    return out


def write(root: Path = ROOT) -> list[Path]:
    """Rewrite the generated tables in place; returns the documents that changed."""
    changed = []
    for doc in documents(root):
        text = (root / doc).read_text()
        new = rendered(root, doc, text)
        if new != text:
            (root / doc).write_text(new)
            changed.append(doc)
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table is stale")
    args = p.parse_args(argv)
    try:
        if args.check:
            found = stale()
            for line in found:
                print(f"stale: {line} (run python tools/doc_tables.py)", file=sys.stderr)
            return 1 if found else 0
        for doc in write():
            print(f"rewrote {doc}")
    except (ValueError, KeyError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
