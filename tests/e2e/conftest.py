"""One real app server for all e2e tests: ``python app.py`` in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from animegan.ports import free_port
from tests.browser_page import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import ARTIFACTS, REPO, WEIGHTS_PATH

PREVIEW_CACHE = ARTIFACTS / "preview-cache"
"""Style thumbnails are content-addressed (photo, weights, style, size), so runs may share them."""


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_app(tmp: Path, *args: str, wait_for: str = "/", timeout: float = 240.0, env: dict[str, str] | None = None,
              port: int | None = None) -> Server:
    """Start ``app.py`` with the shared weights and private caches; wait until ``wait_for`` answers.

    ``env`` overrides variables of the server's environment (e.g. another weights folder or limits); ``port``
    a given one (a restarted app on the same origin), else a free one.
    """
    port = port or free_port()
    env = {**os.environ, "ANIMEGAN_WEIGHTS_PATH": WEIGHTS_PATH, "ANIMEGAN_CACHE_DIR": str(tmp / "cache"),
           "ANIMEGAN_PREVIEW_DIR": str(PREVIEW_CACHE), "ANIMEGAN_DOWNLOAD_DIR": str(tmp / "dl"), "ANIMEGAN_THREADS": "2",
           "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(tmp / "gradio"), "PYTHONUNBUFFERED": "1", **(env or {})}
    env.pop("GRADIO_SERVER_NAME", None)
    log = tmp / f"app-{port}.log"
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--host", "127.0.0.1", "--port", str(port), *args],
                            cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)
    server = Server(f"http://127.0.0.1:{port}/", proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app.py exited with {proc.returncode}:\n{server.output()[-4000:]}")
        try:
            with urllib.request.urlopen(server.url + wait_for.lstrip("/"), timeout=5):
                return server
        except OSError:
            time.sleep(0.5)
    stop_app(server)
    pytest.fail(f"app.py did not answer within {timeout:.0f} s:\n{server.output()[-4000:]}")


def stop_app(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_app(tmp_path_factory.mktemp("app"))
    yield server
    stop_app(server)
    log = server.output()
    # Gradio logs its own input validation; a traceback through our code would be a bug.
    ours = (f'File "{REPO / "app.py"}', f'File "{REPO / "animegan"}')
    assert not any(o in log for o in ours) and "unexpected error" not in log, f"the app logged an error:\n{log[-4000:]}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through Playwright (never Playwright's own browser download)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.fail(f"Debian chromium is missing at {CHROMIUM}: run `make system` (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
