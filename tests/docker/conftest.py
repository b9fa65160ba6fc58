"""The Docker image built and run for real with podman (``make docker-test``, which ``make test`` runs; docs/docker.md).

Skipped unless ANIMEGAN_DOCKER_TEST=1 (``make docker-test`` sets it after installing podman and making the
base image), so that a plain ``pytest`` does not build an image.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from animegan.ports import free_port
from tests.conftest import ARTIFACTS, REPO, SHARED
from tests.weights_mirror import WeightsMirror, index_upstream_bytes

IMAGE = "localhost/animegan-webui:test"
LOGS = ARTIFACTS / "docker"
CACHE_VOLUME = "animegan-test-cache"
MIRROR_PORT = 38765
HARDENED = ("--read-only", "--tmpfs", "/tmp:rw,mode=1777,size=1g", "--user", "12345:0", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "-v", f"{CACHE_VOLUME}:/cache", "-e", "ANIMEGAN_CACHE_DIR=/cache/results")
"""How the README says to run it at its strictest: any UID in group 0, no capabilities, nothing writable but /tmp
and the result-cache volume."""
CONTEXT_SKIP = (".git", ".venv", ".ci", "tests", "bench", "tools", "docs", "test-artifacts", ".pytest_cache", ".ruff_cache",
                "__pycache__")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("ANIMEGAN_DOCKER_TEST") == "1":
        return
    skip = pytest.mark.skip(reason="builds the image with podman: run `make docker-test`")
    for item in items:
        if "tests/docker/" in item.nodeid:
            item.add_marker(skip)


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``podman ARGS`` with the project's settings (CONTAINERS_CONF / CONTAINERS_STORAGE_CONF from the Makefile)."""
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return done


def build_context(dst: Path) -> Path:
    """The repository's files as a fresh clone has them, plus the weight files we have in weights/ as a user puts
    them there (their upstream originals left out, as .dockerignore does), in a temporary folder. What is not there
    (an optional upscaler nobody bundled) the build must report and leave out."""
    shutil.copytree(REPO, dst, ignore=shutil.ignore_patterns(*CONTEXT_SKIP))
    assert [p.name for p in (dst / "weights").iterdir()] == ["manifest.json"]
    for kind in ("anime", "face", "upscale"):
        shutil.copytree(SHARED / "weights" / kind, dst / "weights" / kind, ignore=shutil.ignore_patterns("original", "*.md"))
    return dst


@dataclass(frozen=True)
class Built:
    image: str
    seconds: float
    size_bytes: int
    log: str


@pytest.fixture(scope="session")
def built_image(tmp_path_factory: pytest.TempPathFactory) -> Built:
    LOGS.mkdir(parents=True, exist_ok=True)
    context = build_context(tmp_path_factory.mktemp("docker") / "context")
    start = time.monotonic()
    # The build downloads the weights as on a user's machine, from the loopback mirror of their public hosts
    # (the build shares the host's network). A fixed port: the mirror's URL is a build argument, part of the layer cache key.
    with WeightsMirror(index_upstream_bytes(SHARED / "weights"), port=MIRROR_PORT) as mirror:
        done = podman("build", "--format", "docker", "--isolation", "chroot", "--network", "host",
                      "--build-arg", f"ANIMEGAN_WEIGHTS_MIRROR={mirror.url}", "-t", IMAGE, str(context),
                      timeout=3600, check=False)
    seconds = time.monotonic() - start
    log = done.stdout + done.stderr
    (LOGS / "build.log").write_text(log)
    assert done.returncode == 0, f"podman build failed (log in {LOGS / 'build.log'}):\n{log[-5000:]}"
    size = int(json.loads(podman("image", "inspect", IMAGE).stdout)[0]["Size"])
    shutil.rmtree(context, ignore_errors=True)
    return Built(IMAGE, seconds, size, log)


@dataclass
class Container:
    name: str
    url: str
    started: float
    ready_s: float

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def pid(self) -> int:
        return int(podman("inspect", "--format", "{{.State.Pid}}", self.name).stdout.strip())

    def rss_mb(self) -> float:
        """Resident memory of the app (the container's PID 1), from the host's /proc."""
        status = Path(f"/proc/{self.pid()}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        return kib / 1024


def wait_http(url: str, timeout: float) -> float:
    """Seconds until ``url`` answers 200 (fails after ``timeout``)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s")


def run_container(image: str, name: str, *flags: str) -> Container:
    port = free_port()
    podman("rm", "-f", name, check=False)
    start = time.monotonic()
    podman("run", "-d", "--name", name, *flags, "-e", "ANIMEGAN_THREADS=2", "-p", f"127.0.0.1:{port}:7860", image)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url, timeout=180)
    except AssertionError:
        logs = podman("logs", name, check=False)
        podman("rm", "-f", name, check=False)
        raise AssertionError(f"the container did not serve {url}:\n{(logs.stdout + logs.stderr)[-4000:]}") from None
    return Container(name, url, start, time.monotonic() - start)


@pytest.fixture(scope="session")
def hardened(built_image: Built) -> Iterator[Container]:
    """The image run the strict way, on a free loopback port; removed afterwards (its log kept in test-artifacts)."""
    podman("rm", "-f", "animegan-test-hardened", check=False)
    podman("volume", "rm", "-f", CACHE_VOLUME, check=False)
    container = run_container(built_image.image, "animegan-test-hardened", *HARDENED)
    yield container
    (LOGS / "hardened.log").write_text(container.logs())
    podman("rm", "-f", "-t", "2", container.name, check=False)
    podman("volume", "rm", "-f", CACHE_VOLUME, check=False)
