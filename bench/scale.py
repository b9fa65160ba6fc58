"""Scaling out on Ray: files per second on 1 vs 2 nodes against a plain local run, and 64 app users.

    python bench/scale.py [--files 48] [--style cute] [--max-side 256] [--users 64] [--repeat 2]

Prints one JSON document. Everything runs on this machine: the cluster is real (one `ray start` per
node, 1 CPU each, 127.0.0.1 only, token authentication), but on 2 cores its nodes share the cores, so
"2 nodes" cannot be 2× "1 node" here; the point is the overhead per file against a plain local run of
the same command in the same run (each timing is the whole command: start-up, model load, all files).
Runs alternate (local, 1 node, 2 nodes, ...) and the median of ``--repeat`` is reported.
The 64-user part starts ``app.py`` (plain, then ``--ray`` on the 2-node cluster) and times 64 concurrent
gradio_client requests on distinct photos.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from PIL import Image  # noqa: E402

from animegan.cluster.nodes import LocalNodes  # noqa: E402
from animegan.ports import free_port  # noqa: E402

PHOTOS = Path(os.environ.get("ANIMEGAN_TEST_PHOTOS") or ROOT.parent / "shared" / "photos")


def make_photos(folder: Path, count: int, side: int) -> list[Path]:
    """Distinct crops of the test photos, at most ``side`` px."""
    folder.mkdir(parents=True)
    sources = sorted(p for p in PHOTOS.iterdir() if p.suffix in (".jpg", ".png") and "3840" not in p.name)
    out = []
    for i in range(count):
        im = Image.open(sources[i % len(sources)]).convert("RGB")
        w, h = im.size
        s = 0.6 + 0.3 * ((i * 7) % 10) / 10
        x, y = (i * 97) % max(1, w - int(w * s)), (i * 61) % max(1, h - int(h * s))
        crop = im.crop((x, y, x + int(w * s), y + int(h * s)))
        crop.thumbnail((side, side))
        out.append(folder / f"p{i:03d}.jpg")
        crop.save(out[-1], quality=92)
    return out


def timed_cli(env: dict[str, str], inputs: Path, out: Path, style: str, max_side: int, ray: str | None) -> float:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "animegan", "stylize", str(inputs), "-o", str(out), "--style", style,
           "--max-side", str(max_side), "--face", "off", "--json", *(["--ray", ray] if ray else [])]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return seconds


def users_wall(env: dict[str, str], photos: list[Path], style: str, max_side: int, app_args: list[str]) -> float:
    """Start app.py, send one request per photo at once, return the wall time until the last answer."""
    from gradio_client import Client, handle_file

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        app_env = {**env, "ANIMEGAN_CACHE_DIR": str(Path(tmp) / "cache"), "GRADIO_ANALYTICS_ENABLED": "False"}
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port), *app_args],
                                cwd=ROOT, env=app_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 600
            while True:
                try:
                    urllib.request.urlopen(url, timeout=5).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"app.py {' '.join(app_args)} did not start") from None
                    time.sleep(0.5)
            clients = [Client(url, verbose=False, httpx_kwargs={"timeout": 300.0}) for _ in photos]
            start = time.perf_counter()
            with ThreadPoolExecutor(len(photos)) as pool:
                list(pool.map(lambda i: clients[i].predict(handle_file(str(photos[i])), style, api_name="/stylize",
                                                           max_side=max_side, face="off"), range(len(photos))))
            return time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=48)
    p.add_argument("--side", type=int, default=320, help="longest side of the generated photos")
    p.add_argument("--style", default="cute")
    p.add_argument("--max-side", type=int, default=256)
    p.add_argument("--users", type=int, default=64)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        photos = make_photos(tmp / "in", args.files, args.side)
        base_env = {**os.environ, "ANIMEGAN_THREADS": os.environ.get("ANIMEGAN_THREADS", "2")}
        times: dict[str, list[float]] = {"local": [], "1 node": [], "2 nodes": []}
        with LocalNodes(env={k: v for k, v in base_env.items() if k.startswith("ANIMEGAN_")}) as cluster:
            env = {**base_env, **cluster.node_env()}
            for _ in range(args.repeat):
                times["local"].append(timed_cli(env, tmp / "in", tmp / "out", args.style, args.max_side, None))
                if len(cluster.alive()) > 1:
                    cluster.stop_node(cluster.alive()[-1])
                times["1 node"].append(timed_cli(env, tmp / "in", tmp / "out", args.style, args.max_side, cluster.address))
                cluster.add_worker()
                times["2 nodes"].append(timed_cli(env, tmp / "in", tmp / "out", args.style, args.max_side, cluster.address))
            users = photos[: args.users] if len(photos) >= args.users else make_photos(tmp / "users", args.users, 176)
            plain = users_wall(env, users, args.style, args.max_side, [])
            on_ray = users_wall(env, users, args.style, args.max_side, ["--ray", cluster.address, "--replicas", "2"])
    med = {k: statistics.median(v) for k, v in times.items()}
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_before": load_before,
                    "load_after": os.getloadavg()},
        "batch": {"files": args.files, "style": args.style, "max_side": args.max_side, "side": args.side,
                  "seconds": {k: [round(x, 1) for x in v] for k, v in times.items()},
                  "files_per_s": {k: round(args.files / v, 2) for k, v in med.items()},
                  "overhead_per_file_s": {k: round((v - med["local"]) / args.files, 3) for k, v in med.items() if k != "local"},
                  "two_vs_one_node": round(med["1 node"] / med["2 nodes"], 2)},
        "users": {"count": len(users),
                  "wall_s": {"plain app": round(plain, 1), "app --ray (2 nodes, 2 replicas)": round(on_ray, 1)}},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
