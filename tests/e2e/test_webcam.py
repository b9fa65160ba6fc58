"""Webcam tab in a real browser: Chromium's fake camera streams to the real app, stylized frames come back.

Drives ``app.build_app(service)``'s Webcam tab through its element ids (``webcam-in``, ``webcam-out``,
``webcam-fps``).
"""

from __future__ import annotations

import base64
import importlib
import io
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegan import Engine, LocalService
from animegan.ports import free_port
from tests.conftest import make_settings
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.e2e

LIVE_SIDE = 192



@pytest.fixture(scope="module")
def webcam_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = importlib.import_module("app")
    tmp = tmp_path_factory.mktemp("webcam")
    engine = Engine(make_settings(tmp, ANIMEGAN_LIVE_SIDE=str(LIVE_SIDE)))
    local = app.local_runtime(engine)  # private mode on, as `python app.py` runs: the page is cross-origin isolated
    web = app.build_app(LocalService(engine), local)
    ids = {getattr(block, "elem_id", None) for block in web.blocks.blocks.values()}
    assert {"webcam-in", "webcam-out", "webcam-fps"} <= ids, "app.py lost its Webcam tab"
    port = free_port()
    app.launch(web, host="127.0.0.1", port=port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        web.blocks.close()


def _image_from_src(src: str) -> np.ndarray:
    if src.startswith("data:"):
        data = base64.b64decode(src.split(",", 1)[1])
    else:
        with urllib.request.urlopen(src, timeout=10) as r:
            data = r.read()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_fake_camera_shows_stylized_frames_and_fps(webcam_app: str, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; apt-get install chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(permissions=["camera"]).new_page()
            page.goto(webcam_app)
            page.get_by_role("tab", name="Webcam").click()
            if page.locator("#local-webcam").count():  # the server's path is the fallback: choose it
                page.locator("#local-webcam input[value=server]").check()
            page.locator("#webcam-in").get_by_text("Click to Access Webcam").click()
            page.locator("#webcam-in video").wait_for(state="visible", timeout=15_000)
            page.locator("#webcam-in button[aria-label='capture photo']").click()  # Gradio's "Record": start streaming
            fps_text = page.locator("#webcam-fps")
            deadline = time.monotonic() + 90
            readings: list[float] = []
            while time.monotonic() < deadline and len(readings) < 3:
                m = re.search(r"([\d.]+) FPS .* (\d+) px", fps_text.inner_text())
                if m and page.locator("#webcam-out img").count():
                    readings.append(float(m.group(1)))
                time.sleep(1.0)
            page.screenshot(path=str(tmp_path / "webcam.png"))
            assert len(readings) >= 3, f"no stylized frames within 90 s; readout {fps_text.inner_text()!r}"
            assert max(readings) > 0
            assert f"{LIVE_SIDE} px" in fps_text.inner_text()
            out = _image_from_src(page.locator("#webcam-out img").first.get_attribute("src") or "")
            camera = _image_from_src(page.evaluate("""() => {
                const v = document.querySelector('#webcam-in video');
                const c = document.createElement('canvas');
                c.width = v.videoWidth; c.height = v.videoHeight;
                c.getContext('2d').drawImage(v, 0, 0);
                return c.toDataURL('image/png');
            }"""))
        finally:
            browser.close()
    assert max(out.shape[:2]) == LIVE_SIDE  # reduced resolution
    cam_small = np.asarray(Image.fromarray(camera).resize((out.shape[1], out.shape[0]), Image.Resampling.BOX), np.float32)
    # The fake camera is a flat green field with a moving shape; a stylized frame is far from it.
    assert np.abs(out.astype(np.float32) - cam_small).mean() > 15, "output looks like the raw camera frame"


def test_video_tab_converts_through_the_api(webcam_app: str, tmp_path: Path, photos: Path) -> None:
    from gradio_client import Client, handle_file

    from tests.video_clips import make_clip

    clip = make_clip(tmp_path / "clip.mp4", photos / "city_tokyo_street.jpg", frames=72, audio="aac")  # long enough to watch
    client = Client(webcam_app, verbose=False)
    job = client.submit(handle_file(str(clip)), "cute", 128, False, True, api_name="/video")
    messages = []
    while not job.done():
        status = job.status()
        if status.progress_data:
            messages.append(status.progress_data[0].desc or "")
        time.sleep(0.05)
    video, download, info = job.result()
    video_path = video["video"] if isinstance(video, dict) else video
    assert Path(video_path).is_file() and Path(download).is_file()
    assert "72 frames at 12 fps, audio copied" in info
    assert any("ETA" in m for m in messages), messages
    with pytest.raises(Exception, match="still image"):
        client.predict(handle_file(str(photos / "still_coffee_cup.png")), "cute", 128, False, True, api_name="/video")
