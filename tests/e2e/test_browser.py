"""The real page in headless Chromium (Debian's, via Playwright): upload, pick a style, run, compare."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

class Watched:
    """A page that records console errors, page errors and requests leaving the app's origin."""

    def __init__(self, browser: object, server: Server, width: int, height: int) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
        self.origin = urlparse(server.url).netloc
        self.errors: list[str] = []
        self.external: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", self._request)
        self.page.goto(server.url)
        self.page.wait_for_selector("#run-btn", timeout=60_000)

    def _request(self, request: object) -> None:
        url = urlparse(request.url)  # type: ignore[attr-defined]
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc != self.origin:
            self.external.append(request.url)  # type: ignore[attr-defined]

    def check_clean(self) -> None:
        assert not self.external, f"the page contacted other hosts: {self.external}"
        assert not self.errors, f"console errors: {self.errors}"


def test_upload_pick_style_run_and_compare(browser: object, app_server: Server, photos: Path, artifacts: Path) -> None:
    w = Watched(browser, app_server, 1280, 900)
    page = w.page
    page.set_input_files("#photo input[type=file]", str(photos / "portrait_facecrop_kpop_5.jpg"))
    page.wait_for_selector("#photo img", timeout=30_000)
    cute = page.locator("#style-gallery button.thumbnail-item", has_text="Portrait (Cute)")
    cute.click()
    page.wait_for_function("document.querySelector('#style-dropdown input').value === 'Portrait (Cute)'", timeout=30_000)
    page.wait_for_function("document.querySelector('#style-info').innerText.includes('Portrait model')", timeout=30_000)
    page.click("#run-btn")
    page.wait_for_function("document.querySelectorAll('#result img').length >= 2", timeout=300_000)
    page.wait_for_selector("#download a", timeout=30_000)
    assert "portrait_facecrop_kpop_5_cute" in page.inner_text("#download")
    assert "862×853" in page.inner_text("#status")
    sources = page.eval_on_selector_all("#result img", "els => els.map(e => e.naturalWidth + 'x' + e.naturalHeight)")
    assert sources[:2] == ["862x853", "862x853"], sources
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "desktop.png"), full_page=True)
    w.check_clean()
    page.close()


def test_phone_width_layout(browser: object, app_server: Server, artifacts: Path) -> None:
    w = Watched(browser, app_server, 390, 844)
    page = w.page
    page.wait_for_timeout(800)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px on a phone"
    photo, result = page.locator("#photo").bounding_box(), page.locator("#result").bounding_box()
    assert photo and result and result["y"] > photo["y"], "columns stack on a phone"
    page.screenshot(path=str(artifacts / "phone.png"), full_page=True)
    w.check_clean()
    page.close()


def test_batch_tab_shows_results_and_status(browser: object, app_server: Server, photos: Path, artifacts: Path,
                                            tmp_path: Path) -> None:
    w = Watched(browser, app_server, 1280, 900)
    page = w.page
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing useful")
    page.get_by_role("tab", name="Batch").click()
    page.set_input_files("#batch-files input[type=file]", [str(photos / "landscape_beach_small_256.jpg"), str(bad)])
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Animefy all").click()
    page.wait_for_selector("#batch-zip a", timeout=300_000)
    table = page.inner_text("#batch-status")
    assert "broken.png" in table and "failed" in table and "done" in table
    page.screenshot(path=str(artifacts / "batch.png"), full_page=True)
    w.check_clean()
    page.close()
