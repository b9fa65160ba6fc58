"""The Dockerfile, checked statically (no Docker engine here), and its build step run for real."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from animegan import STYLES
from tests.conftest import REPO, WEIGHTS_PATH
from tests.e2e.conftest import PREVIEW_CACHE

DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


def ignored(path: str) -> bool:
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    result = False
    for p in patterns:
        negate = p.startswith("!")
        p = p.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p + "/*") or path.startswith(p + "/"):
            result = not negate
    return result


def test_base_user_port_healthcheck_and_command() -> None:
    rows = instructions()
    assert rows[0] == ("FROM", "python:3.11-slim")
    users = [args for word, args in rows if word == "USER"]
    assert users and users[-1] not in ("root", "0"), "the app must run as a non-root user"
    assert ("EXPOSE", "7860") in rows
    health = [args for word, args in rows if word == "HEALTHCHECK"]
    assert health and "7860" in health[0]
    assert ("CMD", '["python", "app.py"]') in rows
    env = " ".join(args for word, args in rows if word == "ENV")
    assert "GRADIO_SERVER_NAME=0.0.0.0" in env and "GRADIO_SERVER_PORT=7860" in env


def test_every_copy_source_exists_and_is_not_dockerignored() -> None:
    copies = [args for word, args in instructions() if word == "COPY"]
    assert copies
    for args in copies:
        *sources, _dest = [a for a in shlex.split(args) if not a.startswith("--")]
        for src in sources:
            assert (REPO / src).exists(), f"COPY {src}: not in the build context"
            assert not ignored(src.rstrip("/")), f"COPY {src}: excluded by .dockerignore"
    assert not ignored("weights/manifest.json") and not ignored("weights/anime/x.onnx")


def test_install_steps_match_the_makefile() -> None:
    makefile = (REPO / "Makefile").read_text()
    run = " ".join(args for word, args in instructions() if word == "RUN")
    for step in ("-r requirements.txt", "--no-deps --no-build-isolation -r requirements-nodeps.txt"):
        assert step in makefile and step in run, f"Makefile and Dockerfile must both run `pip install {step}`"
    assert "docker/prepare.py" in run
    rows = instructions()
    assert ("WORKDIR", "/app") in rows and "PYTHONPATH=/app" in " ".join(a for w, a in rows if w == "ENV"), \
        "docker/prepare.py imports animegan from /app (the tests run it the same way)"


def run_prepare(weights: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANIMEGAN_WEIGHTS_PATH": weights, "ANIMEGAN_DOWNLOAD_DIR": str(tmp_path / "dl"),
           "ANIMEGAN_PREVIEW_DIR": str(PREVIEW_CACHE), "ANIMEGAN_MODEL_CACHE_DIR": str(PREVIEW_CACHE.parent / "model-cache"),
           "ANIMEGAN_THREADS": "2", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "docker/prepare.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_build_step_fails_clearly_without_weights(tmp_path: Path) -> None:
    done = run_prepare(str(tmp_path / "empty"), tmp_path)
    assert done.returncode == 1
    assert "animeganv3_shinkai37.onnx' not found" in done.stderr and "copy the weight files into weights/" in done.stderr


@pytest.mark.e2e
def test_build_step_passes_with_the_shipped_weights(tmp_path: Path) -> None:
    done = run_prepare(WEIGHTS_PATH, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"weights verified; {len(STYLES)} style previews ready" in done.stderr
    assert "'hayao': INT8: PSNR ≥" in done.stderr, "the image must carry the checked INT8 model of the default style"
    assert "'paprika': fp32 only" in done.stderr
    assert "'animevideov3': upscaler: onnxruntime ×2 (folded), onnxruntime ×4" in done.stderr
