"""INT8 vs fp32 speed of every style with an INT8 path: ``python bench/int8_speed.py [--runs 3] [--write]``.

Prints one JSON document: for each quantizable weight file, fp32 time ÷ INT8 time on one example photo at
``derived.SPEED_SIDE`` px, the two backends' runs alternated after a warm-up, medians (alternating keeps the
ratio fair on a busy machine; still, measure on a quiet one). ``--write`` records the figures in
``animegan/backends/int8_speed.json``, which is what ``auto`` follows (a build never times itself). Measure again
whenever ``derived.RECIPE`` changes: the unit tests fail until the file matches the recipe.

Needs the weights (ANIMEGAN_WEIGHTS_PATH); builds the INT8 models into the model cache if they are not there.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from animegan import STYLES, Engine, get_settings  # noqa: E402
from animegan.backends import candidates, derived, open_style_backend  # noqa: E402


def measure(runs: int) -> dict[str, float]:
    engine = Engine(get_settings())
    rows: dict[str, float] = {}
    for spec in STYLES:
        status = engine.style_status(spec.id)
        entry = engine.weights.entry(spec.weights)
        if not status.available or "onnx-int8" not in candidates(entry) or entry.file in rows:
            continue
        found = engine.weights.locate(spec.weights)
        path, entry = found.path, found.entry
        fp32, int8 = (open_style_backend(name, path, entry, engine.settings, spec.value_range, spec.input_name,
                                         spec.output_name, build="prepare") for name in ("onnx", "onnx-int8"))
        photo = derived.calibration_images(derived.SPEED_SIDE)[0]
        fixed = [d if isinstance(d, int) else None for d in fp32.session.get_inputs()[0].shape[1:3]]  # type: ignore[attr-defined]
        if all(fixed):
            from animegan.resample import resize

            photo = resize(photo, *fixed)  # type: ignore[arg-type]
        lo, hi = spec.value_range
        x = (photo * (hi - lo) + lo)[None].astype("float32")
        rows[entry.file] = derived.speedup(fp32, int8, x, runs)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=derived.SPEED_RUNS, help="alternated runs of each backend (median)")
    p.add_argument("--write", action="store_true", help=f"record the figures in {derived.INT8_SPEED_FILE.name}")
    args = p.parse_args()
    rows = measure(args.runs)
    load = os.getloadavg()[0]
    measured = (f"{datetime.date.today()}, {platform.machine()} {os.cpu_count()} CPUs ({platform.processor() or 'cpu'}), "
                f"ANIMEGAN_THREADS={get_settings().threads}, load average {load:.1f}; {derived.SPEED_SIDE} px example photo, "
                f"fp32 and INT8 runs alternated, medians of {args.runs}")
    print(json.dumps({"recipe": derived.RECIPE, "measured": measured, "speedup": rows}, indent=2, ensure_ascii=False))
    if args.write:
        policy = json.loads(derived.INT8_SPEED_FILE.read_text())
        policy.update(recipe=derived.RECIPE, measured=measured, speedup=rows)
        derived.INT8_SPEED_FILE.write_text(json.dumps(policy, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
