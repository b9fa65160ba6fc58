"""The image, built with podman and run hardened: size, start, a real /stylize, nothing written, a fast clean stop.

Measurements go to test-artifacts/docker/measurements.json (the README's Docker figures come from there).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegan import STYLES, Engine, StylizeOptions
from animegan.quality import psnr
from tests.conftest import make_settings
from tests.docker.conftest import LOGS, Built, Container, podman

pytestmark = pytest.mark.timeout(3600)

MEASURED: dict[str, object] = {}
PHOTO = "city_tokyo_street.jpg"
LONG_JOB_PHOTO = "large_snow_station_3840x2160.jpg"


def record(**facts: object) -> None:
    MEASURED.update(facts)
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / "measurements.json").write_text(json.dumps(MEASURED, indent=2))


def in_image(image: str, code: str) -> str:
    done = podman("run", "--rm", "--read-only", "--user", "12345:0", "--network", "none", image, "python", "-c", code)
    return done.stdout.strip()


def test_the_image_is_small_and_carries_no_gpu_libraries_and_no_torch(built_image: Built) -> None:
    record(build_seconds=round(built_image.seconds, 1), image_bytes=built_image.size_bytes,
           image_gb=round(built_image.size_bytes / 1e9, 2))
    assert built_image.size_bytes <= 1.4e9, f"image is {built_image.size_bytes / 1e9:.2f} GB"  # 13 styles: 1.38 GB
    packages = json.loads(in_image(built_image.image, "import json, importlib.metadata as m; "
                                   "print(json.dumps(sorted(d.metadata['Name'].lower() for d in m.distributions())))"))
    assert not [p for p in packages if p.startswith(("nvidia", "triton"))], "GPU libraries in the image"
    assert "opencv-python-headless" in packages and "opencv-python" not in packages
    assert not {"pytest", "playwright", "ruff", "psutil"} & set(packages), "test tools in the image"
    assert not {"torch", "torchvision", "basicsr-fixed", "realesrgan", "facexlib", "onnx"} & set(packages), packages
    assert {"onnxruntime", "openvino"} <= set(packages)


def test_the_build_log_is_one_line_per_model(built_image: Built) -> None:
    """The build stage's log (this build's, or the one kept in the image when the stage came from the cache)."""
    log = built_image.log if "weights verified" in built_image.log else in_image(built_image.image, (
        "import pathlib; print(pathlib.Path('/app/models/prepare.log').read_text())"))
    lines = [line for line in log.splitlines() if line.startswith(("INFO ", "WARNING ", "ERROR "))]
    assert any(f"weights verified; {len(STYLES)} style previews ready" in line for line in lines), log[-3000:]
    assert len(lines) < 40, "\n".join(lines)
    assert not [line for line in lines if line.startswith("ERROR")], "\n".join(lines)
    # the one upscaler whose weights nobody bundled: reported and left out, never a failed build
    assert any(line.startswith("WARNING realesrgan_x2plus") and "left out" in line for line in lines), "\n".join(lines)


def test_hardened_run_serves_a_real_stylize(hardened: Container, photos: Path, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    idle = hardened.rss_mb()
    health = podman("healthcheck", "run", hardened.name, check=False)
    assert health.returncode == 0, f"healthcheck failed: {health.stdout}{health.stderr}"
    client = Client(hardened.url, verbose=False)
    peak = [idle]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], hardened.rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    try:
        (_, _), png, status = client.predict(handle_file(str(photos / PHOTO)), "shinkai", face="off", upscale=1,
                                             max_side=512, full_res=False, backend="onnx", api_name="/stylize")
        first = time.monotonic() - start
        *_, again = client.predict(handle_file(str(photos / PHOTO)), "shinkai", face="off", upscale=1, max_side=512,
                                   full_res=False, backend="onnx", api_name="/stylize")
        assert "from cache" in again, f"the result cache on the /cache volume (UID 12345, group 0) did not answer: {again}"
        client.predict(handle_file(str(photos / PHOTO)), "hayao", face="auto", upscale=1, max_side=1024, full_res=False,
                       backend="auto", api_name="/stylize")
    finally:
        done.set()
        sampler.join()
    record(ready_seconds=round(hardened.ready_s, 1), rss_idle_mb=round(idle), rss_peak_request_mb=round(peak[0]),
           shinkai_512_request_seconds=round(first, 2))
    got = np.asarray(Image.open(png).convert("RGB"), np.float32) / 255
    with Image.open(photos / PHOTO) as im:
        assert Image.open(png).size == im.size, "the result keeps the photo's size"
    # the same request on this machine's engine (same pinned onnxruntime, same shipped model): the same picture
    engine = Engine(make_settings(tmp_path))
    want = np.asarray(Image.open(_local_png(engine, photos / PHOTO, tmp_path)).convert("RGB"), np.float32) / 255
    assert psnr(got, want) > 40, f"the container's shinkai differs from the local engine's: {psnr(got, want):.1f} dB"
    assert "✓" in status


def _local_png(engine: Engine, path: Path, tmp: Path) -> Path:
    from animegan import encode

    picture = engine.stylize_file(path.read_bytes(), StylizeOptions(style="shinkai", face="off", max_side=512, backend="onnx"))
    out = tmp / "local.png"
    out.write_bytes(encode(picture))
    return out


def test_every_model_is_prebuilt_and_measured_on_this_cpu_at_first_use(hardened: Container) -> None:
    """Every derived model was built into the image (its cache is read-only); the backends are measured on the
    container's CPU at first use, into /tmp, and the choice is what that measurement says."""
    code = ("import json, time; from animegan import Engine; e = Engine(); t = time.monotonic(); "
            "chosen = {s: e.stylizer(s).backend.name for s in ('hayao', 'shinkai', 'hayao_v3', 'cute', 'paprika')}; "
            "print(json.dumps({'chosen': chosen, 'seconds': time.monotonic() - t}))")
    done = json.loads(podman("exec", hardened.name, "python", "-c", code, timeout=300).stdout.strip().splitlines()[-1])
    table = json.loads(podman("exec", hardened.name, "python", "-m", "animegan", "backends", "--json", timeout=600).stdout)
    record(first_use_measurement_5_styles_s=round(done["seconds"], 1))
    for style, backend in done["chosen"].items():
        rows = [r for r in table if r["model"] == style]
        (chosen,) = [r for r in rows if r["chosen"]]
        assert chosen["backend"] == backend and chosen["passed"], (style, rows)
        assert chosen["seconds"] == min(r["seconds"] for r in rows if r["passed"] and r["seconds"] is not None)
    listing = podman("exec", hardened.name, "ls", "/tmp/animegan/measured").stdout.split()
    assert len(listing) == 1 and listing[0].startswith("backends-"), listing


def test_faces_upscaling_and_private_mode_are_all_there(hardened: Container, photos: Path) -> None:
    from gradio_client import Client, handle_file

    client = Client(hardened.url, verbose=False)
    src = photos / "portrait_obama_official.jpg"
    (_, _), png, status = client.predict(handle_file(str(src)), "hayao", face="auto", upscale=2, max_side=256,
                                         api_name="/stylize")
    with Image.open(src) as im:
        assert Image.open(png).size == (2 * im.size[0], 2 * im.size[1]), status
    for upscaler in ("general_x4v3", "x4plus_anime_6b"):
        (_, _), png, _ = client.predict(handle_file(str(photos / "landscape_beach_small_256.jpg")), "cute", face="off",
                                        upscale=3, max_side=256, upscaler=upscaler, api_name="/stylize")
        with Image.open(photos / "landscape_beach_small_256.jpg") as im:
            assert Image.open(png).size == (3 * im.size[0], 3 * im.size[1]), upscaler
    with urllib.request.urlopen(hardened.url + "local/styles.json", timeout=10) as r:
        local = json.loads(r.read())
    assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert local["runtime"] is True and any(s["local"] for s in local["styles"]), local


PODMAN_OWN = {"/etc", "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run",
              "/run/.containerenv"}
"""What podman itself changes in a container (an /etc/passwd line for --user 12345, the network files)."""


def test_nothing_is_written_outside_tmp(hardened: Container) -> None:
    changed = [line for line in podman("diff", hardened.name).stdout.splitlines() if line.strip()]
    outside = [line for line in changed if not line.split()[-1].startswith("/tmp") and line.split()[-1] not in PODMAN_OWN]
    assert not outside, f"written outside /tmp: {outside}"
    logs = hardened.logs()
    for bad in ("Traceback", "Read-only file system", "not writable", "Permission denied"):
        assert bad not in logs, f"{bad!r} in the container's log:\n{logs[-4000:]}"


def test_stop_during_a_running_request_is_fast_and_clean(hardened: Container, photos: Path) -> None:
    """``docker stop`` while a long full-resolution request runs: SIGTERM cancels it and the app exits 0 in < 2 s."""
    from gradio_client import Client, handle_file

    client = Client(hardened.url, verbose=False)
    job = client.submit(handle_file(str(photos / LONG_JOB_PHOTO)), "cute", face="off", upscale=1, max_side=1024,
                        full_res=True, backend="auto", api_name="/stylize")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        progress = job.status().progress_data
        if progress and any("tile" in (p.desc or "").lower() for p in progress):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the request never reached its tiles: {job.status()}")
    start = time.monotonic()
    podman("stop", "-t", "10", hardened.name)
    stop_s = time.monotonic() - start
    state = json.loads(podman("inspect", hardened.name).stdout)[0]["State"]
    logs = hardened.logs()
    record(stop_seconds_during_request=round(stop_s, 2), exit_code=state["ExitCode"])
    assert state["ExitCode"] == 0, f"exit code {state['ExitCode']}:\n{logs[-3000:]}"
    assert stop_s < 2.0, f"podman stop took {stop_s:.1f} s:\n{logs[-3000:]}"
    assert "stopping (1 request running)" in logs, logs[-3000:]
    assert "Traceback" not in logs, logs[-3000:]
