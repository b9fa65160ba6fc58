"""Benchmark of the face pass: time with faces (auto) vs without (off) on the same photos, same process.

    ANIMEGAN_WEIGHTS_PATH=../shared/weights python bench/faces.py [--style shinkai] [--repeat 3] [--photos DIR]

Prints one JSON document. Times are medians in seconds; ``ratio`` = auto / off. The crowd photo (~280
faces, ~100 found at 1024 px) must stay within ``--budget`` × the plain time thanks to the face cap and
minimum size (``ANIMEGAN_FACE_MAX``, ``ANIMEGAN_FACE_MIN_SIZE``); the exit code is 1 if it does not.
The default style (Shinkai, a fast background) is the worst case for the ratio; slow styles dilute it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from animegan import Engine, StylizeOptions, decode
from animegan.faces import DETECTOR_WEIGHTS, DETECTOR_WEIGHTS_ONNX, FaceDetector, detect_faces

PHOTOS = ("crowd_small_faces_selfie.jpg", "group_8_kids.jpg", "still_coffee_cup.png")


def median_seconds(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 3)


def seconds(fn, *args):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", default="shinkai")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--budget", type=float, default=2.0, help="max auto/off time ratio allowed on the crowd photo")
    ap.add_argument("--photos", type=Path, default=Path(os.environ.get("ANIMEGAN_TEST_PHOTOS", "../shared/photos")))
    args = ap.parse_args()
    engine = Engine()
    s = engine.settings
    engine.stylizer(args.style)
    detector = engine.face_detector()
    rows = []
    for name in PHOTOS:
        picture = decode(args.photos / name, s.max_pixels)
        off, auto = StylizeOptions(style=args.style, face="off"), StylizeOptions(style=args.style, face="auto")
        engine.stylize(picture, auto)  # warm-up: loads the face model too
        photo = engine.stylize(picture, off).photo
        assert photo is not None
        found = detect_faces(detector, photo, s.face_threshold, 1, 10_000, s.face_detect_side)
        row = {
            "photo": name,
            "processing_size": list(photo.shape[1::-1]),
            "faces_detected": len(found),
            "faces_stylized": len(engine.stylize(picture, auto).faces),
            "detect_s": median_seconds(lambda p=photo: detect_faces(detector, p, s.face_threshold, s.face_min_size,
                                                                     s.face_max, s.face_detect_side), args.repeat),
        }
        # interleave off/auto runs so that load from other processes hits both alike
        t_off, t_auto = [], []
        for _ in range(args.repeat):
            t_off.append(seconds(engine.stylize, picture, off))
            t_auto.append(seconds(engine.stylize, picture, auto))
        row["off_s"], row["auto_s"] = round(statistics.median(t_off), 3), round(statistics.median(t_auto), 3)
        row["ratio"] = round(row["auto_s"] / row["off_s"], 3)
        rows.append(row)
    # the two copies of the detector weights, same photo, interleaved (why the ONNX copy is preferred)
    crowd = decode(args.photos / PHOTOS[0], s.max_pixels)
    crowd_photo = engine.stylize(crowd, StylizeOptions(style=args.style, face="off")).photo
    found = {f: engine.weights.locate(f) for f in (DETECTOR_WEIGHTS_ONNX, DETECTOR_WEIGHTS)}
    nets = {f: FaceDetector.load(x.path, x.entry.sha256, s) for f, x in found.items()}
    det_times: dict[str, list[float]] = {f: [] for f in nets}
    for _ in range(args.repeat):
        for f, d in nets.items():
            det_times[f].append(seconds(d.detect, crowd_photo, s.face_threshold))
    detector_s = {f: round(statistics.median(v), 3) for f, v in det_times.items()}
    doc = {
        "bench": "faces",
        "style": args.style,
        "repeat": args.repeat,
        "settings": {"face_threshold": s.face_threshold, "face_min_size": s.face_min_size, "face_max": s.face_max,
                     "face_detect_side": s.face_detect_side, "max_side": s.max_side, "threads": s.threads},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "load_avg": os.getloadavg()},
        "detector": detector.name,
        "detector_crowd_s": detector_s,
        "results": rows,
        "crowd_budget_ratio": args.budget,
        "crowd_within_budget": rows[0]["ratio"] <= args.budget,
    }
    print(json.dumps(doc, indent=2))
    return 0 if doc["crowd_within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
