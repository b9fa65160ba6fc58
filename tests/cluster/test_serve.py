"""``app.py --ray`` on a real two-node cluster: 64 concurrent users, none refused, each gets its own result,
a replica killed midway is replaced; then the same through two front-ends behind nginx with session affinity."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from animegan import Engine, StylizeOptions
from animegan.ports import free_port
from animegan.quality import psnr
from tests.cluster.conftest import Cluster, derived_photos
from tests.conftest import REPO
from tests.e2e.conftest import Server, start_app, stop_app

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]

USERS = 64
STYLES = ("cute", "shinkai")
MAX_SIDE = 256
REQUEST_TIMEOUT = 300.0
HTTP_TIMEOUT = 120.0
"""Per HTTP call (an upload of 64 at once on a busy machine takes more than gradio_client's default)."""
REPLICA = "ray::ServeReplica:animegan:engine"


@dataclass
class Outcome:
    index: int
    ok: bool
    seconds: float
    message: str = ""
    result: Path | None = None
    max_rank: int = -1
    saw_eta: bool = False


@pytest.fixture(scope="module")
def user_photos(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return derived_photos(photos, tmp_path_factory.mktemp("users") / "in", USERS, side=176)


@pytest.fixture(scope="module")
def frontends(ray_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Two app processes on the same cluster: the first deploys the engine (2 replicas), the second attaches to it."""
    ray_cluster.ensure_two_nodes()
    servers: list[Server] = []
    try:
        for name in ("front-a", "front-b"):
            tmp = tmp_path_factory.mktemp(name)
            servers.append(start_app(tmp, "--ray", ray_cluster.address, "--replicas", "2", env=ray_cluster.driver_env(tmp),
                                     timeout=420.0))
        yield servers
    finally:
        for server in servers:
            stop_app(server)
        # The deployment outlives its front-ends and holds both CPUs: free them for the next tests.
        subprocess.run([sys.executable, "-m", "animegan.cluster.serve", "shutdown", ray_cluster.address], cwd=REPO,
                       env=ray_cluster.driver_env(REPO / "test-artifacts"), timeout=300, check=False)
    for server in servers:
        log = server.output()
        assert 'File "' + str(REPO / "animegan") not in log and "unexpected error in " not in log, log[-4000:]


def replicas(cluster: Cluster) -> list[psutil.Process]:
    found = []
    for node in cluster.alive():
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(node.proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if child.name().startswith(REPLICA):
                        found.append(child)
    return found


def run_users(url: str, inputs: list[Path], style_of: Callable[[int], str],
              headers: Callable[[int], dict[str, str]] | None = None,
              while_running: Callable[[list[int]], None] | None = None) -> list[Outcome]:
    """Every user at once: its own client, its own photo; records the queue positions and estimates it was shown."""
    finished: list[int] = []
    with ThreadPoolExecutor(8) as pool:  # connecting (config, API info) is not part of the load
        clients = list(pool.map(lambda i: Client(url, verbose=False, headers=headers(i) if headers else None,
                                                 httpx_kwargs={"timeout": HTTP_TIMEOUT}), range(len(inputs))))

    def user(i: int) -> Outcome:
        client = clients[i]
        start = time.monotonic()
        job = client.submit(handle_file(str(inputs[i])), style_of(i), api_name="/stylize", max_side=MAX_SIDE, face="off")
        outcome = Outcome(i, False, 0.0)
        while not job.done() and time.monotonic() - start < REQUEST_TIMEOUT:
            status = job.status()
            if status.rank is not None:
                outcome.max_rank = max(outcome.max_rank, status.rank)
            outcome.saw_eta |= status.eta is not None
            time.sleep(0.1)
        try:
            _, download, _ = job.result(timeout=max(1.0, REQUEST_TIMEOUT - (time.monotonic() - start)))
            outcome.ok, outcome.result = True, Path(download)
        except Exception as err:  # reported by the test
            outcome.message = f"{type(err).__name__}: {err}"
        outcome.seconds = time.monotonic() - start
        finished.append(i)
        return outcome

    watcher = None
    if while_running is not None:
        watcher = threading.Thread(target=while_running, args=(finished,), daemon=True)
        watcher.start()
    with ThreadPoolExecutor(len(inputs)) as pool:
        outcomes = list(pool.map(user, range(len(inputs))))
    if watcher is not None:
        watcher.join(timeout=5)
    return outcomes


def assert_own_results(outcomes: list[Outcome], inputs: list[Path], style_of: Callable[[int], str], engine: Engine) -> None:
    failed = [o for o in outcomes if not o.ok]
    assert not failed, "\n".join(f"user {o.index}: {o.message}" for o in failed[:10])
    expected = {}
    for o in outcomes:
        png = engine.render(inputs[o.index].read_bytes(), StylizeOptions(style=style_of(o.index), max_side=MAX_SIDE))
        expected[o.index] = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float32) / 255
    mixups = []
    for o in outcomes:
        assert o.result is not None
        got = np.asarray(Image.open(o.result).convert("RGB"), np.float32) / 255
        own = psnr(got, expected[o.index])
        others = [psnr(got, e) for j, e in expected.items() if j != o.index and e.shape == got.shape]
        if own < 35 or (others and max(others) > own - 10):
            mixups.append(f"user {o.index}: {own:.1f} dB against its own result, best other {max(others, default=0):.1f}")
    assert not mixups, "\n".join(mixups)


def test_64_users_none_refused_each_gets_their_own_result(frontends: list[Server], ray_cluster: Cluster,
                                                          user_photos: list[Path], engine: Engine) -> None:
    def style_of(i: int) -> str:
        return STYLES[i % 2]

    killed: list[int] = []

    def kill_a_replica(finished: list[int]) -> None:
        deadline = time.monotonic() + REQUEST_TIMEOUT
        while len(finished) < 8 and time.monotonic() < deadline:  # a few users served: the replicas are at work
            time.sleep(0.05)
        running = replicas(ray_cluster)
        if running:
            killed.append(running[0].pid)
            running[0].kill()

    begin = time.monotonic()
    outcomes = run_users(frontends[0].url, user_photos, style_of, while_running=kill_a_replica)
    wall = time.monotonic() - begin
    assert_own_results(outcomes, user_photos, style_of, engine)
    assert killed, "a replica was killed midway"
    assert max(o.max_rank for o in outcomes) >= 16, "waiting users were shown their place in the queue"
    assert any(o.saw_eta for o in outcomes), "waiting users were shown an estimated wait"
    # If the replica held a request when it died, the app sent it again (logged); either way every user was served.
    retried = "a replica died while running render" in frontends[0].output()
    deadline = time.monotonic() + 120
    while len(replicas(ray_cluster)) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(replicas(ray_cluster)) == 2, "Serve replaced the dead replica"
    print(f"\n{USERS} users on 2 replicas: wall {wall:.1f} s, slowest {max(o.seconds for o in outcomes):.1f} s, "
          f"longest queue position {max(o.max_rank for o in outcomes)}, killed replica's request retried: {retried}")


def write_nginx_conf(runtime: Path, listen: int, backends: list[Server]) -> Path:
    servers = " ".join(f"server {re.sub(r'^http://|/$', '', b.url)};" for b in backends)
    text = (REPO / "deploy" / "nginx.conf").read_text()
    text = text.replace("@LISTEN@", f"127.0.0.1:{listen}").replace("@BACKENDS@", servers).replace("@RUNTIME@", str(runtime))
    conf = runtime / "nginx.conf"
    conf.write_text(text)
    return conf


@pytest.fixture()
def nginx(frontends: list[Server], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary):
        pytest.fail("nginx is not installed: `make system` installs Debian's package")
    runtime = tmp_path / "nginx"
    runtime.mkdir()
    port = free_port()
    conf = write_nginx_conf(runtime, port, frontends)
    proc = subprocess.Popen([binary, "-p", str(runtime), "-e", str(runtime / "error.log"), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"nginx did not start:\n{(runtime / 'error.log').read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
    try:
        yield url, runtime / "access.log"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_two_frontends_behind_nginx_with_session_affinity(nginx: tuple[str, Path], frontends: list[Server],
                                                          user_photos: list[Path], engine: Engine) -> None:
    url, access_log = nginx
    with urllib.request.urlopen(url, timeout=30) as resp:  # a new visitor gets its affinity cookie
        cookie = resp.headers.get("Set-Cookie", "")
        first = resp.headers.get("X-AnimeGAN-Frontend")
    key = re.match(r"animegan_frontend=([0-9a-f]+);", cookie)
    assert key, cookie
    for _ in range(3):  # ...and with it always reaches the same front-end
        req = urllib.request.Request(url, headers={"Cookie": f"animegan_frontend={key.group(1)}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.headers.get("X-AnimeGAN-Frontend") == first

    def style_of(i: int) -> str:
        return STYLES[(i + 1) % 2]  # the other style than in the test above: nothing comes from a cache

    def headers(i: int) -> dict[str, str]:
        return {"Cookie": f"animegan_frontend=user{i:02d}"}  # what a browser sends once nginx gave it its cookie

    outcomes = run_users(url, user_photos, style_of, headers)
    assert_own_results(outcomes, user_photos, style_of, engine)
    upstreams: dict[str, set[str]] = defaultdict(set)
    for line in access_log.read_text().splitlines():
        found = re.search(r"upstream=(\S+) key=(user\d\d)", line)
        if found:
            upstreams[found.group(2)].add(found.group(1))
    assert len(upstreams) == USERS
    assert all(len(u) == 1 for u in upstreams.values()), "every request of one user went to one front-end"
    assert len({next(iter(u)) for u in upstreams.values()}) == 2, "both front-ends served users"
