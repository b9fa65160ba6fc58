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


def stage(name: str | None) -> list[tuple[str, str]]:
    """The instructions of one build stage (``None``: the last one, which is the image)."""
    stages: list[list[tuple[str, str]]] = []
    for row in instructions():
        if row[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(row)
    if name is None:
        return stages[-1]
    return next(s for s in stages if s[0][1].endswith(f" AS {name}"))


def env_of(rows: list[tuple[str, str]]) -> dict[str, str]:
    return dict(kv.split("=", 1) for word, args in rows if word == "ENV" for kv in shlex.split(args))


def test_base_user_port_healthcheck_and_command() -> None:
    rows = instructions()
    assert rows[0] == ("FROM", "python:3.11-slim AS runtime")
    last = stage(None)
    assert last[0] == ("FROM", "runtime"), "the image is the runtime stage plus the app, without the build stage's torch"
    users = [args for word, args in last if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the app must run as a non-root user"
    assert users[-1].endswith(":0"), "group 0, as OpenShift runs any UID"
    assert ("EXPOSE", "7860") in last
    health = [args for word, args in last if word == "HEALTHCHECK"]
    assert health and "7860" in health[0]
    assert ("CMD", '["python", "app.py"]') in last
    env = env_of(last)
    assert env["GRADIO_SERVER_NAME"] == "0.0.0.0" and env["GRADIO_SERVER_PORT"] == "7860"


def test_everything_the_app_writes_goes_to_tmp() -> None:
    """``docker run --read-only --tmpfs /tmp``: caches and temporary files under /tmp; the models are prebuilt."""
    env = env_of(stage(None))
    for key in ("ANIMEGAN_CACHE_DIR", "ANIMEGAN_DOWNLOAD_DIR", "ANIMEGAN_MEASURE_DIR", "GRADIO_TEMP_DIR", "HOME"):
        assert env[key].startswith("/tmp"), f"{key}={env[key]}"
    assert env["ANIMEGAN_MODEL_CACHE_DIR"] == "/app/models" and env["ANIMEGAN_PREVIEW_DIR"] == "/app/previews"
    copies = [args for word, args in stage(None) if word == "COPY" and args.startswith("--from=build")]
    assert {shlex.split(c)[1] for c in copies} == {"/app/weights/", "/app/models/", "/app/previews/",
                                                   "/app/browser_runtime/vendor/"}


def test_every_copy_source_exists_and_is_not_dockerignored() -> None:
    copies = [args for word, args in instructions() if word == "COPY" and not args.startswith("--from=")]
    assert copies
    for args in copies:
        *sources, _dest = [a for a in shlex.split(args) if not a.startswith("--")]
        for src in sources:
            assert (REPO / src).exists(), f"COPY {src}: not in the build context"
            assert not ignored(src.rstrip("/")), f"COPY {src}: excluded by .dockerignore"
    assert not ignored("weights/manifest.json") and not ignored("weights/anime/x.onnx")
    assert ignored("weights/anime/original/x.tflite") and ignored("tests/conftest.py")


def test_install_steps_match_the_makefile_and_leave_the_tools_out() -> None:
    makefile = (REPO / "Makefile").read_text()
    script = (REPO / "docker" / "install-torch.sh").read_text()
    run = " ".join(args for word, args in instructions() if word == "RUN")
    assert "pip install -q -r requirements.txt" in run and "-r requirements.txt" in makefile
    for step in ("-r requirements-torch.txt", "--no-deps --no-build-isolation -r requirements-nodeps.txt"):
        assert step in makefile and step in script, f"Makefile and docker/install-torch.sh must both run `pip install {step}`"
    assert "requirements-dev.txt" not in run and "requirements-dev.txt" in makefile
    runtime = (REPO / "requirements.txt").read_text() + (REPO / "requirements-torch.txt").read_text()
    for tool in ("pytest", "playwright", "ruff", "psutil"):
        assert tool in (REPO / "requirements-dev.txt").read_text() and f"\n{tool}" not in runtime
    assert "opencv-python-headless==" in runtime and "opencv-python==" not in runtime
    assert "torch" not in (REPO / "requirements.txt").read_text(), "the image's runtime has no torch"
    runtime_stage = " ".join(args for word, args in stage("runtime") if word in ("RUN", "COPY"))
    assert "install-torch.sh" not in runtime_stage and "requirements-torch.txt" not in runtime_stage
    assert "docker/prepare.py" in run
    rows = instructions()
    assert ("WORKDIR", "/app") in rows and env_of(stage("build"))["PYTHONPATH"] == "/app", \
        "docker/prepare.py imports animegan from /app (the tests run it the same way)"


def test_the_build_installs_missing_weights_from_their_sources_before_preparing() -> None:
    build = stage("build")
    runs = [args for word, args in build if word == "RUN"]
    (prepare,) = [r for r in runs if "docker/prepare.py" in r]
    assert "docker/prepare.py --download" in prepare, "the weights are installed before the models are built from them"
    assert 'ANIMEGAN_WEIGHTS_MIRROR="$ANIMEGAN_WEIGHTS_MIRROR"' in prepare
    assert ("ARG", "ANIMEGAN_WEIGHTS_MIRROR=") in build
    assert env_of(build)["ANIMEGAN_DOWNLOAD_DIR"] == "/app/weights", "installed into what the image copies"
    assert "../shared" not in DOCKERFILE.read_text(), "a user has no ../shared"


def run_prepare(weights: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANIMEGAN_WEIGHTS_PATH": weights, "ANIMEGAN_DOWNLOAD_DIR": str(tmp_path / "dl"),
           "ANIMEGAN_PREVIEW_DIR": str(PREVIEW_CACHE), "ANIMEGAN_MODEL_CACHE_DIR": str(PREVIEW_CACHE.parent / "model-cache"),
           "ANIMEGAN_THREADS": "2", "PYTHONPATH": str(REPO), "ANIMEGAN_MEASURE_DIR": str(tmp_path / "measured")}
    return subprocess.run([sys.executable, "docker/prepare.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_build_step_fails_clearly_without_weights(tmp_path: Path) -> None:
    done = run_prepare(str(tmp_path / "empty"), tmp_path)
    assert done.returncode == 1
    assert "animeganv3_shinkai37.onnx' not found" in done.stderr
    assert "put the files into weights/ of the build context" in done.stderr


@pytest.mark.e2e
def test_build_step_passes_with_the_shipped_weights(tmp_path: Path) -> None:
    for old in (PREVIEW_CACHE.parent / "model-cache").glob("backends-*.json"):  # this test's cache, kept between runs
        old.unlink()
    done = run_prepare(WEIGHTS_PATH, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"weights verified; {len(STYLES)} style previews ready" in done.stderr
    lines = done.stderr.splitlines()
    assert any(re.fullmatch(r"INFO hayao +models built; the backend is measured on first use", line) for line in lines)
    cache = PREVIEW_CACHE.parent / "model-cache"
    assert list(cache.glob("*-onnx-int8-r*.onnx")), "the image carries the checked INT8 models, for the measurement"
    for upscaler in ("animevideov3", "x4plus_anime_6b"):  # the slow ones too: the image cannot build them later
        assert any(re.fullmatch(rf"INFO {upscaler} +upscaler: \d ONNX model\(s\) built", line) for line in lines), upscaler
    assert not list(cache.glob("backends-*.json")), "the build machine's CPU is not the user's: nothing is measured"
    assert len(lines) < 30, "one line per model: " + "\n".join(lines)


def test_the_compose_example_runs_the_hardened_set_up() -> None:
    """compose.yaml runs what ``make docker-test`` checks: read-only, any UID in group 0, no capabilities, a /tmp
    tmpfs, the result cache on a volume at /cache (writable by group 0 in the image)."""
    import yaml

    service = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["animegan"]
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert service["security_opt"] == ["no-new-privileges:true"] and service["user"].endswith(":0")
    assert {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 1 << 30}} in service["volumes"]
    assert "animegan-cache:/cache" in service["volumes"]
    assert service["environment"]["ANIMEGAN_CACHE_DIR"].startswith("/cache/")
    assert "install -d -m 0775 -o root -g 0 /cache" in " ".join(a for w, a in stage(None) if w == "RUN")
    assert all(p.startswith("127.0.0.1:") for p in service["ports"]), "publish on loopback unless --auth is set"
