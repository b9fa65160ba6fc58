"""Hostile inputs, faults and cancellation through the real app (gradio_client) and the CLI.

Every bad input gets a specific human message (never a traceback) and the server serves the next
request normally; faults (missing / corrupt weights, no weights, unwritable cache, limits) leave
the app up and say why.
"""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from animegan import Engine, StylizeOptions
from tests.conftest import ARTIFACTS, REPO, WEIGHTS_PATH
from tests.e2e.conftest import Server, start_app, stop_app
from tests.hostile import CORPUS, expected_size

pytestmark = pytest.mark.e2e

BAD = {name: expect for name, (_, expect) in CORPUS.items() if expect != "ok"}
GOOD = {name for name, (_, expect) in CORPUS.items() if expect == "ok"}


@pytest.fixture(scope="module")
def client(app_server: Server) -> Client:
    return Client(app_server.url, verbose=False)


def write_corpus(folder: Path, names: set[str] | list[str] | None = None) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in sorted(names or CORPUS):
        paths[name] = folder / name
        paths[name].write_bytes(CORPUS[name][0])
    return paths


def stylize(client: Client, path: Path | str, style: str = "cute", **options: Any) -> tuple[Any, str, str]:
    return client.predict(handle_file(str(path)), style, api_name="/stylize", **{"max_side": 256, **options})


def assert_serves_next(client: Client, photos: Path) -> None:
    _, download, status = stylize(client, photos / "landscape_beach_small_256.jpg", max_side=320)
    assert Image.open(download).size == (256, 256) and status.startswith("✓")


def assert_human(message: str) -> None:
    assert "Traceback" not in message and 'File "' not in message and len(message) < 400, message


# ---- hostile inputs -----------------------------------------------------------------------------------


def test_hostile_corpus_through_stylize_api(client: Client, photos: Path, tmp_path: Path) -> None:
    """Each corpus file: a result of the right size, or an AppError with its specific message."""
    failures = []
    for name, path in write_corpus(tmp_path / "corpus").items():
        data, expect = CORPUS[name]
        try:
            _, download, status = stylize(client, path)
        except AppError as err:
            message = str(err)
            assert_human(message)
            if expect == "ok" or not re.search(expect, message):
                failures.append(f"{name}: expected {expect!r}, got error {message!r}")
            continue
        if expect != "ok":
            failures.append(f"{name}: expected an error matching {expect!r}, got a result ({status})")
        elif (size := Image.open(download).size) != expected_size(name, data):
            failures.append(f"{name}: result is {size}, expected {expected_size(name, data)}")
    assert not failures, "\n".join(failures)
    assert_serves_next(client, photos)


def test_hostile_files_in_batch(client: Client, photos: Path, tmp_path: Path) -> None:
    """Bad files fail one by one with their reason; the good ones in the same batch complete."""
    chosen = ["zero_bytes.jpg", "bomb.png", "page.html.png", "photo.heic", "cmyk.jpg", "exif_orientation_6.jpg", "la.png"]
    paths = write_corpus(tmp_path / "batch", chosen)
    files = [*paths.values(), photos / "landscape_beach_small_256.jpg"]
    gallery, zip_path, table = client.predict([handle_file(str(f)) for f in files], "cute", max_side=256, api_name="/batch")
    rows = {r[0]: r for r in table["data"]}
    assert set(rows) == {*chosen, "landscape_beach_small_256.jpg"}
    for name in chosen:
        _, status, message = rows[name]
        if CORPUS[name][1] == "ok":
            assert status.endswith("done"), rows[name]
        else:
            assert status.endswith("failed") and re.search(CORPUS[name][1], message), rows[name]
            assert_human(message)
    assert rows["landscape_beach_small_256.jpg"][1].endswith("done")
    assert len(gallery) == 4 and zip_path


def test_cli_hostile_corpus(tmp_path: Path) -> None:
    """One CLI run over the corpus: exit 1, one ``error: <file>: <reason>`` line per bad file, no traceback."""
    paths = write_corpus(tmp_path / "corpus")
    env = {"ANIMEGAN_WEIGHTS_PATH": WEIGHTS_PATH, "ANIMEGAN_DOWNLOAD_DIR": str(tmp_path / "dl"), "ANIMEGAN_THREADS": "2",
           "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "animegan", "stylize", *map(str, paths.values()), "-o", str(tmp_path / "out"),
                          "-s", "cute", "--max-side", "256"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout
    for name, expect in BAD.items():
        line = next((ln for ln in run.stderr.splitlines() if ln.startswith(f"error: {paths[name]}: ")), None)
        assert line and re.search(expect, line), f"{name}: {line!r}"
    assert f"{len(BAD)} of {len(CORPUS)} inputs failed" in run.stderr
    outputs = {p.name for p in (tmp_path / "out").iterdir()}
    assert len(outputs) == len(GOOD), sorted(outputs)


# ---- cancellation -------------------------------------------------------------------------------------

LONG_JOB = """
import sys, time
from gradio_client import Client, handle_file
job = Client(sys.argv[1], verbose=False).submit(handle_file(sys.argv[2]), "shinkai", api_name="/stylize", full_res=True)
while not (job.status().progress_data or job.done()):
    time.sleep(0.2)
print("running", flush=True)
time.sleep(600)
"""


def test_cancelled_or_disconnected_job_does_not_block_the_queue(app_server: Server, client: Client, photos: Path) -> None:
    """A long full-resolution job whose client cancels, or whose client process dies, stops at its next tile:
    the next user's request runs at once instead of waiting for work nobody will receive."""
    big = photos / "large_snow_station_3840x2160.jpg"  # shinkai at full resolution: ~60 tiles, a minute or more here
    logged_before = app_server.output().count("request was cancelled")

    job = Client(app_server.url, verbose=False).submit(handle_file(str(big)), "shinkai", api_name="/stylize", full_res=True)
    deadline = time.monotonic() + 60
    while not job.status().progress_data and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.status().progress_data, "the long job did not start"
    job.cancel()
    start = time.monotonic()
    assert_serves_next(client, photos)
    assert time.monotonic() - start < 30

    # A client that vanishes (browser tab closed): kill the process holding the connection.
    proc = subprocess.Popen([sys.executable, "-c", LONG_JOB, app_server.url, str(big)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    start = time.monotonic()
    assert_serves_next(client, photos)
    assert time.monotonic() - start < 45, "the disconnected client's job kept the queue busy"
    deadline = time.monotonic() + 30
    while app_server.output().count("request was cancelled") < logged_before + 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert app_server.output().count("request was cancelled") >= logged_before + 2, "the abandoned work was not stopped"


# ---- faults: missing / corrupt weights, unwritable cache, limits ---------------------------------------

MISSING, CORRUPT = "whitebox_cartoonization.onnx", "animeganv1_paprika.onnx"
MAX_PIXELS = 2_000_000


def weights_subset(folder: Path) -> Path:
    """The shared anime weights minus one file, with one byte of another flipped."""
    anime = folder / "anime"
    anime.mkdir(parents=True)
    for src in (Path(p) / "anime" for p in WEIGHTS_PATH.split(":")):
        for f in src.glob("*.onnx") if src.is_dir() else ():
            if f.name == MISSING or (anime / f.name).exists():
                continue
            if f.name == CORRUPT:
                data = bytearray(f.read_bytes())
                data[len(data) // 2] ^= 0x01
                (anime / f.name).write_bytes(bytes(data))
            else:
                (anime / f.name).symlink_to(f)
    return folder


@pytest.fixture(scope="module")
def fault_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """Two servers started in parallel: ``faulty`` (a weight missing, one corrupt, the cache path a file,
    1 MB uploads, a 2 MP budget) and ``bare`` (no weights at all)."""
    tmp = tmp_path_factory.mktemp("faults")
    (tmp / "not-a-dir").write_text("a file where the cache folder should be")
    faulty_env = {"ANIMEGAN_WEIGHTS_PATH": str(weights_subset(tmp / "weights")), "ANIMEGAN_MAX_UPLOAD_MB": "1",
                  "ANIMEGAN_MAX_PIXELS": str(MAX_PIXELS), "ANIMEGAN_CACHE_DIR": str(tmp / "not-a-dir" / "cache")}
    bare_env = {"ANIMEGAN_WEIGHTS_PATH": str(tmp / "empty"), "ANIMEGAN_PREVIEW_DIR": str(tmp / "previews")}
    for name in ("faulty", "bare"):
        (tmp / name).mkdir()
    with ThreadPoolExecutor(2) as pool:
        futures = {"faulty": pool.submit(start_app, tmp / "faulty", env=faulty_env),
                   "bare": pool.submit(start_app, tmp / "bare", env=bare_env)}
        servers = {name: f.result() for name, f in futures.items()}
    yield servers
    for server in servers.values():
        stop_app(server)
    for name, server in servers.items():
        assert "unexpected error" not in server.output(), f"{name} server logged an error:\n{server.output()[-3000:]}"


def page_config(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(server.url + "config", timeout=30) as resp:
        return json.loads(resp.read())


def component(config: dict[str, Any], elem_id: str) -> dict[str, Any]:
    for c in config["components"]:
        if c.get("props", {}).get("elem_id") == elem_id:
            return c["props"]
    raise AssertionError(f"no component #{elem_id} on the page")


def test_missing_and_corrupt_weights_disable_that_style_with_the_reason(fault_servers: dict[str, Server],
                                                                        photos: Path) -> None:
    server = fault_servers["faulty"]
    config = page_config(server)
    off = component(config, "styles-off")["value"]
    assert "Cartoon (White-box)" in off and f"{MISSING}&#x27; not found" in off and "ANIMEGAN_WEIGHTS_PATH" in off
    assert "Paprika" in off and "does not match the manifest" in off and "replace it with a good copy" in off
    choices = [c[1] for c in component(config, "style-dropdown")["choices"]]
    assert "cartoon" not in choices and "paprika" not in choices and {"cute", "shinkai", "hayao_v3"} <= set(choices)
    assert component(config, "run-btn")["interactive"] is not False
    faulty = Client(server.url, verbose=False)
    with pytest.raises(AppError, match="not in the list of choices"):
        stylize(faulty, photos / "landscape_beach_small_256.jpg", "paprika")
    assert_serves_next(faulty, photos)


def test_no_weights_page_explains_how_to_install(fault_servers: dict[str, Server]) -> None:
    config = page_config(fault_servers["bare"])
    help_text = component(config, "install-help")["value"]
    assert "Missing weight files" in help_text and "`animeganv3_shinkai37.onnx`" in help_text
    assert "`animeganv2_hayao_bryandlee_generator.pt`" in help_text, "every missing file is named"
    assert "python -m animegan weights --download all" in help_text and "ANIMEGAN_WEIGHTS_PATH" in help_text
    assert component(config, "run-btn")["interactive"] is False
    assert component(config, "video-style").get("value") is None and component(config, "webcam-style").get("value") is None
    with urllib.request.urlopen(fault_servers["bare"].url, timeout=30) as resp:
        assert resp.status == 200
    assert "not in the list of choices" not in fault_servers["bare"].output(), "a dropdown names a style that is not there"


def test_unwritable_cache_still_processes(fault_servers: dict[str, Server], photos: Path) -> None:
    server = fault_servers["faulty"]
    faulty = Client(server.url, verbose=False)
    photo = photos / "portrait_facecrop_kpop_5.jpg"
    for _ in range(2):
        _, download, status = stylize(faulty, photo, "shinkai")
        assert Image.open(download).size == Image.open(photo).size
        assert "from cache" not in status, "nothing can be cached"
    assert "result cache disabled" in server.output()


def test_upload_over_the_size_limit_is_refused(fault_servers: dict[str, Server], photos: Path, tmp_path: Path) -> None:
    server = fault_servers["faulty"]
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (900, 900, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > 2 << 20
    faulty = Client(server.url, verbose=False)
    with pytest.raises(ValueError, match=r"exceeds the maximum file size of 1048576 bytes"):
        stylize(faulty, big)
    # A client that skips that check: the server itself refuses the upload, with a clear message.
    boundary = "robustness-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode() + big.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(server.url + "gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=60)
    assert info.value.code == 413
    assert "exceeded maximum allowed size of 1048576 bytes" in info.value.read().decode()
    assert_serves_next(faulty, photos)


def test_pixel_budget_and_bounded_full_resolution(fault_servers: dict[str, Server], photos: Path, tmp_path: Path) -> None:
    """Over the pixel budget: refused with the numbers. Just under it at full resolution: done in tiles,
    with the server's memory growing by a bounded amount (sampled with psutil)."""
    server = fault_servers["faulty"]
    faulty = Client(server.url, verbose=False)
    fuji = photos / "landscape_fuji_autumn_1365x2048.jpg"  # 2.8 MP
    with pytest.raises(AppError, match=r"1365×2048 = 2.8 megapixels; the limit is 2.0 megapixels"):
        stylize(faulty, fuji)
    under = tmp_path / "fuji_1365x1400.jpg"
    Image.open(fuji).crop((0, 300, 1365, 1700)).save(under, quality=80)

    proc = psutil.Process(server.proc.pid)
    before = proc.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, download, _ = stylize(faulty, under, "cute", full_res=True)
    finally:
        done.set()
        sampler.join()
    assert Image.open(download).size == (1365, 1400)
    growth_mb = (peak[0] - before) / 2**20
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "full_res_rss.json").write_text(json.dumps({"image": "1365x1400", "style": "cute", "full_res": True,
                                                            "rss_before_mb": round(before / 2**20),
                                                            "rss_growth_mb": round(growth_mb)}))
    assert growth_mb < 1024, f"full resolution grew the server by {growth_mb:.0f} MB"


def test_full_resolution_feeds_the_model_bounded_tiles(engine: Engine, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Full resolution never hands the model more than one padded tile, whatever the image size."""
    stylizer = engine.stylizer("cute")
    seen: list[tuple[int, ...]] = []
    real_run = stylizer.backend.run

    def run(x: np.ndarray) -> np.ndarray:
        seen.append(x.shape)
        return real_run(x)

    monkeypatch.setattr(stylizer.backend, "run", run)
    buf = io.BytesIO()
    Image.open(photos / "large_snow_station_3840x2160.jpg").crop((0, 0, 1100, 800)).save(buf, "PNG")
    out = engine.stylize_file(buf.getvalue(), StylizeOptions(style="cute", max_side=None))
    assert out.output_size == (1100, 800)
    bound = engine.settings.tile_size + 2 * stylizer.spec.tile_margin + 16  # a tile, its context, size-rule padding
    assert len(seen) > 4 and max(max(s[1], s[2]) for s in seen) <= bound, seen
