"""The Stylize tab's "Try every style" (``/all_styles``) and "Keep my photo's colours" (``keep_colors``) on the real
app: through its API (gradio_client) and in headless Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from animegan.quality import psnr
from tests.conftest import REPO, WEIGHTS_PATH
from tests.e2e.conftest import Server, start_app, stop_app
from tests.e2e.test_browser import Watched

pytestmark = pytest.mark.e2e

ARTIFACTS = REPO / "test-artifacts"
COST_RANK = {"fast": 0, "medium": 1, "slow": 2}


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own: "Try every style" loads every model, and the session's shared server (whose memory the
    load test measures) should hold only what the other tests load. Its resident memory with every style loaded is
    recorded in test-artifacts/every_style_rss.json."""
    server = start_app(tmp_path_factory.mktemp("every-style-app"))
    yield server
    rss = psutil.Process(server.proc.pid)
    mb = (rss.memory_info().rss + sum(c.memory_info().rss for c in rss.children(recursive=True))) / 2**20
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "every_style_rss.json").write_text(json.dumps({"rss_mb_after_every_style": round(mb)}))
    stop_app(server)


@pytest.fixture(scope="module")
def client(app_server: Server) -> Client:
    return Client(app_server.url, verbose=False)


@pytest.fixture(scope="module")
def fastest_first() -> list[dict[str, Any]]:
    """The available styles as ``python -m animegan styles --json`` lists them, sorted by cost (stable: registry
    order within a cost class)."""
    run = subprocess.run([sys.executable, "-m", "animegan", "styles", "--json"], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "ANIMEGAN_WEIGHTS_PATH": WEIGHTS_PATH}, timeout=120, check=True)
    styles = sorted((s for s in json.loads(run.stdout) if s["available"]), key=lambda s: COST_RANK[s["cost"]])
    assert len(styles) >= 2, f"too few styles to try: {run.stdout[:2000]}"
    return styles


def edge_correlation(a: Image.Image, b: Image.Image) -> float:
    """Correlation of the two pictures' gradient magnitudes (same size): near 1 when the outlines coincide, near 0
    for unrelated pictures, whatever the colours."""

    def edges(im: Image.Image) -> np.ndarray:
        y = np.asarray(im.convert("L"), dtype=np.float32)
        return np.hypot(np.diff(y, axis=1)[:-1], np.diff(y, axis=0)[:, :-1]).ravel()

    return float(np.corrcoef(edges(a), edges(b))[0, 1])


def as_float(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255


def wide_photo(photos: Path, folder: Path) -> Path:
    """A small photo that is not square (256×160), so the previews' aspect is checked."""
    path = folder / "beach_wide.png"
    Image.open(photos / "landscape_beach_small_256.jpg").convert("RGB").crop((0, 48, 256, 208)).save(path)
    return path


def test_all_styles_gives_every_style_fastest_first_then_from_the_cache(client: Client, app_server: Server, photos: Path,
                                                                       fastest_first: list[dict[str, Any]],
                                                                       tmp_path: Path, artifacts: Path) -> None:
    photo = wide_photo(photos, tmp_path)
    source = Image.open(photo)
    n = len(fastest_first)
    start = time.monotonic()
    job = client.submit(handle_file(str(photo)), api_name="/all_styles")
    steps: set[str] = set()
    while not job.done():
        steps.update(p.desc for p in job.status().progress_data or [] if p.desc)
        time.sleep(0.05)
    gallery = job.result()
    first = time.monotonic() - start

    assert [item["caption"] for item in gallery] == [s["id"] for s in fastest_first], "one preview per style, fastest first"
    wanted = {f"{i + 1}/{n}: {s['name']}" for i, s in enumerate(fastest_first)}
    assert steps and steps <= wanted, f"progress names the style being rendered: {sorted(steps)}"
    previews = [Image.open(item["image"]) for item in gallery]
    for item, im in zip(gallery, previews, strict=True):
        assert im.size == source.size, f"{item['caption']}: {im.size}, not the photo's {source.size}"
        edges, similarity = edge_correlation(im, source), psnr(as_float(im), as_float(source))
        assert edges > 0.3 and similarity < 30, f"{item['caption']}: not a stylized picture of the photo " \
                                                f"(edge correlation {edges:.2f}, PSNR {similarity:.1f} dB)"
    for i, a in enumerate(previews):
        for j in range(i):
            assert np.abs(as_float(a) - as_float(previews[j])).mean() > 0.01, f"{gallery[i]['caption']} == " \
                                                                            f"{gallery[j]['caption']}"
    sheet = Image.new("RGB", (source.width * 4, source.height * -(-n // 4)), "white")
    for i, im in enumerate(previews):
        sheet.paste(im.convert("RGB"), ((i % 4) * source.width, (i // 4) * source.height))
    sheet.save(artifacts / "all_styles.png")

    # a second run finds every preview in the result cache (files not downloaded: that is the client's time)
    start = time.monotonic()
    again = Client(app_server.url, verbose=False, download_files=False).predict(handle_file(str(photo)),
                                                                                 api_name="/all_styles")
    second = time.monotonic() - start
    assert [item["caption"] for item in again] == [item["caption"] for item in gallery]
    assert second < first / 3, f"the second run took {second:.1f} s, the first {first:.1f} s: not from the cache"


def ycbcr(path: str, size: tuple[int, int]) -> np.ndarray:
    """H×W×3 float Y, Cb, Cr (PIL's conversion) of a picture resized to ``size``."""
    im = Image.open(path).convert("RGB")
    return np.asarray(im.resize(size, Image.Resampling.LANCZOS).convert("YCbCr"), dtype=np.float32)


def test_keep_colors_keeps_the_photos_chroma(client: Client, photos: Path) -> None:
    """Measured as tests/models/test_keep_colors.py does: at the processing size, over the pixels whose colour fits
    in RGB (a pixel at an RGB bound keeps its hue, not its full saturation)."""
    photo, side = photos / "still_coffee_cup.png", 384
    options = {"face": "off", "max_side": side}
    _, plain, _ = client.predict(handle_file(str(photo)), "ink", api_name="/stylize", **options)
    _, kept, status = client.predict(handle_file(str(photo)), "ink", api_name="/stylize", keep_colors=True, **options)
    assert "from cache" not in status, "keep_colors is part of the result's cache key"
    assert Path(kept).read_bytes() != Path(plain).read_bytes()
    w, h = Image.open(kept).size
    assert (w, h) == Image.open(photo).size
    size = (side, round(h * side / w)) if w >= h else (round(w * side / h), side)
    source, k, p = ycbcr(str(photo), size), ycbcr(kept, size), ycbcr(plain, size)
    rgb = np.asarray(Image.open(kept).convert("RGB").resize(size, Image.Resampling.LANCZOS))
    fits = ((rgb > 3) & (rgb < 252)).all(axis=-1)
    chroma_kept = float(np.abs(k[..., 1:] - source[..., 1:]).mean(axis=-1)[fits].mean())
    chroma_plain = float(np.abs(p[..., 1:] - source[..., 1:]).mean(axis=-1)[fits].mean())
    luma = float(np.abs(k[..., 0] - p[..., 0]).mean())
    assert fits.mean() > 0.3, f"only {fits.mean():.0%} of the pixels can hold the photo's colour"
    assert chroma_kept < 2.0, f"the result's chroma is {chroma_kept:.2f} levels from the photo's"
    assert chroma_plain > 2.5 * chroma_kept, f"the plain style changes the chroma by only {chroma_plain:.2f} levels"
    assert luma < 2.0, f"the luminance moved {luma:.2f} levels from the style's"

    gallery, _, _ = client.predict([handle_file(str(photo))], "ink", api_name="/batch", keep_colors=True, **options)
    batch = np.asarray(Image.open(gallery[0]["image"]))
    assert np.array_equal(batch, np.asarray(Image.open(kept))), "/batch passes keep_colors on as /stylize does"


def test_all_styles_needs_a_photo(client: Client) -> None:
    with pytest.raises(AppError, match="Add a photo first"):
        client.predict(None, api_name="/all_styles")


def test_keep_colors_is_the_last_optional_parameter(app_server: Server) -> None:
    """Existing clients keep working: ``keep_colors`` comes last in ``/stylize`` and ``/batch``, default False."""
    with urllib.request.urlopen(app_server.url + "gradio_api/info", timeout=30) as resp:
        info = json.load(resp)
    for name in ("/stylize", "/batch"):
        last = info["named_endpoints"][name]["parameters"][-1]
        assert (last["parameter_name"], last["parameter_has_default"], last["parameter_default"]) == ("keep_colors", True, False)
    photo, *options = info["named_endpoints"]["/all_styles"]["parameters"]
    assert photo["parameter_name"] == "image" and all(p["parameter_has_default"] for p in options), "only the photo is needed"


# ---- in the browser -------------------------------------------------------------------------------------

THUMBNAILS = "#all-styles button.thumbnail-item"


def upload(w: Watched, photo: Path) -> None:
    w.page.set_input_files("#photo input[type=file]", str(photo))
    w.page.wait_for_selector("#photo img", timeout=30_000)


def test_try_every_style_then_pick_one(browser: object, app_server: Server, photos: Path,
                                       fastest_first: list[dict[str, Any]], artifacts: Path) -> None:
    w = Watched(browser, app_server, 1280, 900)
    page = w.page
    upload(w, photos / "landscape_beach_small_256.jpg")
    assert page.is_visible("#keep-colors") and "Keep my photo's colours" in page.inner_text("#keep-colors")
    page.click("#all-styles-btn")
    page.wait_for_selector("#all-styles-stop", timeout=30_000)
    page.wait_for_function(f"document.querySelectorAll('{THUMBNAILS}').length === {len(fastest_first)} "
                           "&& !document.querySelector('#all-styles-stop')", timeout=300_000)
    captions = [c.strip() for c in page.locator(THUMBNAILS).all_inner_texts()]
    assert captions == [s["id"] for s in fastest_first]
    page.wait_for_selector("#all-styles-btn", timeout=30_000)
    page.screenshot(path=str(artifacts / "all_styles.png"), full_page=True)

    chosen = fastest_first[2]
    page.locator(THUMBNAILS).nth(2).click()
    page.wait_for_function(f"document.querySelector('#style-dropdown input').value === {json.dumps(chosen['name'])}",
                           timeout=30_000)
    page.wait_for_function(f"document.querySelector('#status').innerText.includes({json.dumps(chosen['name'])})",
                           timeout=300_000)
    assert page.eval_on_selector_all("#result img", "els => els.length") >= 2
    assert "256×256" in page.inner_text("#status")
    assert f"landscape_beach_small_256_{chosen['id']}" in page.inner_text("#download")
    assert chosen["name"] in page.inner_text("#style-info"), "the style card follows the pick"
    page.screenshot(path=str(artifacts / "picked.png"), full_page=True)
    w.check_clean()
    page.close()


def test_stop_ends_the_previews_and_frees_the_cpu(browser: object, app_server: Server, photos: Path,
                                                  fastest_first: list[dict[str, Any]]) -> None:
    logged_before = app_server.output().count("all_styles stopped")
    w = Watched(browser, app_server, 1280, 900)
    page = w.page
    upload(w, photos / "portrait_old_man_test2.jpg")
    page.click("#all-styles-btn")
    page.wait_for_function(f"document.querySelectorAll('{THUMBNAILS}').length >= 1", timeout=300_000)
    page.click("#all-styles-stop")
    page.wait_for_selector("#all-styles-btn", timeout=10_000)
    deadline = time.monotonic() + 30
    while app_server.output().count("all_styles stopped") == logged_before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert app_server.output().count("all_styles stopped") > logged_before, "the server kept rendering previews"
    done = page.locator(THUMBNAILS).count()
    assert done < len(fastest_first)
    page.wait_for_timeout(1500)
    assert page.locator(THUMBNAILS).count() == done, "previews kept coming after Stop"
    page.click("#run-btn")  # the CPU slot is free again
    page.wait_for_function("document.querySelector('#status').innerText.includes('411×512')", timeout=120_000)
    w.check_clean()
    page.close()
