"""Load: many concurrent gradio_client users on loopback, bounded in count and time.

By default the queue admits at least 64 waiting users, so 64 at once are all served; beyond a
(configured) limit users are told the queue is full. Every finished request carries the result of
its own input (checked by content against the engine's stylization of that input); the server's
memory stays under a documented bound; nothing hangs.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import QueueError
from PIL import Image

from animegan import Engine, StylizeOptions, encode
from animegan.quality import psnr
from tests.conftest import ARTIFACTS
from tests.e2e.conftest import Server, start_app, stop_app

pytestmark = pytest.mark.e2e

CLIENTS = 64
STYLES = ("cute", "shinkai", "cartoon")
MAX_SIDE = 256
REQUEST_TIMEOUT = 240.0
"""No request may take longer than this (s), queueing included."""
PEAK_RSS_LIMIT_MB = 3072
"""The server's resident memory (with any children) must stay below this during the load (see README, "Limits and robustness")."""
LOAD_GROWTH_LIMIT_MB = 1024
"""...and the load itself may add at most this much to it (models already loaded by earlier tests excluded)."""
SOURCES = ("city_tokyo_street.jpg", "group_8_kids.jpg", "landscape_fuji_autumn_1365x2048.jpg", "still_coffee_cup.png",
           "profile_kimono_three_women.jpg", "lowlight_night_river_dicm25.jpg")


@dataclass
class Outcome:
    index: int
    kind: str  # "ok", "busy" or "error"
    seconds: float
    message: str = ""
    result: Path | None = None


def make_inputs(photos: Path, folder: Path) -> list[Path]:
    """Distinct small images: crops of different photos at different places and sizes."""
    folder.mkdir()
    paths = []
    for i in range(CLIENTS):
        photo = Image.open(photos / SOURCES[i % len(SOURCES)]).convert("RGB")
        w, h = 120 + 7 * i, 96 + 5 * i
        x = (i * 97) % max(1, photo.width - w)
        y = (i * 61) % max(1, photo.height - h)
        paths.append(folder / f"user{i:02d}.png")
        photo.crop((x, y, x + w, y + h)).save(paths[-1])
    return paths


class RssSampler:
    """Peak resident memory of a process tree, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.proc = psutil.Process(pid)
        self.every = every
        self.peak = self.start = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        total = self.proc.memory_info().rss
        for child in self.proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a child may exit while we look
                total += child.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_users(url: str, inputs: list[Path]) -> list[Outcome]:
    """Every user at once, each with its own client and photo."""
    barrier = threading.Barrier(len(inputs))

    def user(i: int) -> Outcome:
        client = Client(url, verbose=False, httpx_kwargs={"timeout": 120.0})  # 64 clients connect at once
        barrier.wait(timeout=120)  # then every user submits at the same moment
        start = time.monotonic()
        job = client.submit(handle_file(str(inputs[i])), STYLES[i % len(STYLES)], api_name="/stylize", max_side=MAX_SIDE,
                             face="off")
        try:
            _, download, _ = job.result(timeout=REQUEST_TIMEOUT)
        except QueueError as err:
            return Outcome(i, "busy", time.monotonic() - start, str(err))
        except Exception as err:  # any other failure is reported below
            return Outcome(i, "error", time.monotonic() - start, f"{type(err).__name__}: {err}")
        return Outcome(i, "ok", time.monotonic() - start, result=Path(download))

    with ThreadPoolExecutor(len(inputs)) as pool:
        return list(pool.map(user, range(len(inputs))))


def test_64_concurrent_clients_are_all_admitted_and_get_their_own_results(app_server: Server, engine: Engine,
                                                                          photos: Path, tmp_path: Path) -> None:
    inputs = make_inputs(photos, tmp_path / "inputs")
    begin = time.monotonic()
    with RssSampler(app_server.proc.pid) as rss:
        outcomes = run_users(app_server.url, inputs)
    wall = time.monotonic() - begin

    errors = [o for o in outcomes if o.kind == "error"]
    assert not errors, "\n".join(f"user {o.index}: {o.message}" for o in errors)
    busy = [o for o in outcomes if o.kind == "busy"]
    assert not busy, f"{len(busy)} of {CLIENTS} users were turned away; the default queue admits at least 64"
    done = [o for o in outcomes if o.kind == "ok"]
    assert max(o.seconds for o in outcomes) < REQUEST_TIMEOUT
    assert_own_results(done, inputs, engine)

    peak_mb, start_mb = rss.peak / 2**20, rss.start / 2**20
    report = {"clients": CLIENTS, "completed": len(done), "busy": len(busy), "wall_s": round(wall, 1),
              "slowest_s": round(max(o.seconds for o in outcomes), 1),
              "median_done_s": round(float(np.median([o.seconds for o in done])), 1),
              "rss_start_mb": round(start_mb), "rss_peak_mb": round(peak_mb), "rss_limit_mb": PEAK_RSS_LIMIT_MB}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load.json").write_text(json.dumps(report, indent=2))
    assert peak_mb < PEAK_RSS_LIMIT_MB and peak_mb - start_mb < LOAD_GROWTH_LIMIT_MB, report



def test_beyond_a_configured_queue_limit_users_are_told_the_queue_is_full(engine: Engine, photos: Path,
                                                                           tmp_path: Path) -> None:
    server = start_app(tmp_path, env={"ANIMEGAN_QUEUE_SIZE": "2"})
    try:
        inputs = make_inputs(photos, tmp_path / "inputs")[:10]
        outcomes = run_users(server.url, inputs)
        errors = [o for o in outcomes if o.kind == "error"]
        assert not errors, "\n".join(f"user {o.index}: {o.message}" for o in errors)
        busy = [o for o in outcomes if o.kind == "busy"]
        assert busy, "10 users at once against a queue of 2: some are refused"
        for o in busy:
            assert "queue is full" in o.message.lower() and "try again" in o.message.lower(), o.message
        done = [o for o in outcomes if o.kind == "ok"]
        assert len(done) >= 3, "the running job and the 2 waiting ones are served"
        assert_own_results(done, inputs, engine)
        retry = busy[0].index  # the server is fine afterwards: a refused user who tries again is served
        _, download, status = Client(server.url, verbose=False).predict(
            handle_file(str(inputs[retry])), STYLES[retry % len(STYLES)], api_name="/stylize", max_side=MAX_SIDE, face="off")
        assert status.startswith("✓") and Image.open(download).size == Image.open(inputs[retry]).size
    finally:
        stop_app(server)


def assert_own_results(done: list[Outcome], inputs: list[Path], engine: Engine) -> None:
    # Each result must be the stylization of that user's own input, not anybody else's.
    expected = {}
    for o in done:
        data = inputs[o.index].read_bytes()
        png = encode(engine.stylize_file(data, StylizeOptions(style=STYLES[o.index % len(STYLES)], max_side=MAX_SIDE)))
        expected[o.index] = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32) / 255
    mixups = []
    for o in done:
        assert o.result is not None
        got = Image.open(o.result).convert("RGB")
        assert got.size == Image.open(inputs[o.index]).size, f"user {o.index} got an image of another size"
        arr = np.asarray(got, dtype=np.float32) / 255
        own = psnr(arr, expected[o.index])
        others = [psnr(arr, np.asarray(Image.fromarray((e * 255).astype(np.uint8)).resize(got.size), np.float32) / 255)
                  for j, e in expected.items() if j != o.index]
        if own < 35 or (others and max(others) > own - 10):
            mixups.append(f"user {o.index}: {own:.1f} dB vs own expected, best other {max(others, default=0):.1f} dB")
    assert not mixups, "\n".join(mixups)


