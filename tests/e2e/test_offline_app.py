"""The installed app in headless Chromium, with the server really gone (its process stopped, not a network flag).

One browser profile and one origin (a loopback port the app is restarted on), in order:
- the page is installable (Chromium's own checks: manifest, icons, a service worker in control);
- a style kept for offline use works with the server stopped: a reload opens the app from this device, private
  mode stylizes a photo exactly as it did online (through the API and the page's own controls) and runs the live
  camera; a style not kept, and everything that needs the server, says so; a full disk is reported by ``keep``;
- a new version of the app on the server replaces the stored files (one shell cache, the new styles list offline);
- a kept model whose bytes no longer match its SHA-256 is refused and removed, and kept again once online.
"""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from animegan.ports import free_port
from animegan.quality import psnr
from tests.browser_page import CHROMIUM, CHROMIUM_ARGS, page_stylize
from tests.conftest import REPO, SHIPPED_PATH
from tests.e2e.conftest import Server, start_app, stop_app
from tests.e2e.test_private_mode import MIN_PSNR, photo_png, server_stylize

pytestmark = pytest.mark.e2e

KEPT = "cute"
"""The style kept for offline use: a shipped ONNX file, the fastest style."""
NOT_KEPT = "shinkai"
CHANGED_STYLE = "hosoda"
"""Converted from its upstream original: the second version of the app is started without the converted weights."""


@dataclass
class Installed:
    """The browser profile and the app's origin, kept across this module's tests (which run in order)."""

    context: Any
    page: Any
    port: int
    tmp: Path
    server: Server | None = None
    online_result: np.ndarray | None = None

    def start(self, **env: str) -> Server:
        assert self.server is None
        run = self.tmp / f"run{len(list(self.tmp.glob('run*')))}"
        run.mkdir()
        self.server = start_app(run, port=self.port, env=env or None)
        return self.server

    def stop(self) -> None:
        assert self.server is not None
        stop_app(self.server)
        log = self.server.output()
        assert f'File "{REPO / "animegan"}' not in log and "unexpected error" not in log, log[-4000:]
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def open(self) -> None:
        """(Re)load the app and wait for the page's module."""
        self.page.goto(self.url, wait_until="load", timeout=120_000)
        self.page.wait_for_function("window.animeganLocal !== undefined", timeout=60_000)
        self.page.evaluate("window.animeganLocal.ready")

    def caches(self) -> list[str]:
        return sorted(self.page.evaluate("caches.keys()"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.fail(f"Debian chromium is missing at {CHROMIUM}: run `make system` (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("offline")
    with sync_api.sync_playwright() as p:
        # A profile on disk: Chromium installs no app from an incognito one (every other test's context).
        context = p.chromium.launch_persistent_context(str(tmp / "profile"), executable_path=str(CHROMIUM),
                                                       args=CHROMIUM_ARGS, permissions=["camera"])
        errors: list[str] = []
        page = context.pages[0] if context.pages else context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        state = Installed(context, page, free_port(), tmp)
        state.start()
        yield state
        if state.server is not None:
            state.stop()
        context.close()
    assert not errors, errors


def sw_version(url: str) -> str:
    with urllib.request.urlopen(url + "local/sw.js", timeout=30) as r:
        first = r.read().split(b"\n", 1)[0].decode()
    return json.loads(first.removeprefix("const VERSION = ").removesuffix(";"))


def test_the_app_is_installable(installed: Installed) -> None:
    installed.open()
    page = installed.page
    first = page.evaluate("window.animeganLocal.installed")
    assert first is not None and first["failed"] == [] and first["version"] == sw_version(installed.url)
    assert page.evaluate("navigator.serviceWorker.controller.scriptURL") == installed.url + "local/sw.js"
    assert page.evaluate("navigator.serviceWorker.controller.state") == "activated"
    cdp = installed.context.new_cdp_session(page)
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    app_manifest = cdp.send("Page.getAppManifest")
    assert app_manifest["url"] == installed.url + "manifest.json" and app_manifest["errors"] == []
    manifest = json.loads(app_manifest["data"])
    assert manifest["name"] == "AnimeGAN WebUI" and manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        with urllib.request.urlopen(installed.url + icon["src"], timeout=30) as r, Image.open(io.BytesIO(r.read())) as im:
            assert f"{im.width}x{im.height}" == icon["sizes"]
    assert {i["purpose"] for i in manifest["icons"]} == {"any", "maskable"}
    assert installed.caches() == ["animegan-models", f"animegan-shell-{first['version']}"]


def test_a_full_disk_is_reported_not_silent(installed: Installed) -> None:
    page = installed.page
    cdp = installed.context.new_cdp_session(page)
    origin = installed.url.rstrip("/")
    for step in ("the runtime", "the model"):  # the first style kept stores the runtime (14 MB), then its model
        if step == "the model":
            page.evaluate("window.animeganLocal.offlineReady()")
        usage = page.evaluate("navigator.storage.estimate().then(e => e.usage)")
        cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": usage + 200_000})
        try:
            error = page.evaluate(f"window.animeganLocal.keep('{NOT_KEPT}').then(() => null, (e) => e.message)")
        finally:
            cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin})
        assert error and "not enough storage on this device" in error and "this site uses" in error and \
            "remove a kept style or free space" in error, f"{step}: {error}"
        assert page.evaluate("window.animeganLocal.kept()") == [], step
    assert "Shinkai (" in error, error


def test_a_kept_style_works_with_the_server_gone(installed: Installed, photos: Path, tmp_path: Path) -> None:
    page = installed.page
    assert installed.server is not None
    kept = page.evaluate(f"window.animeganLocal.keep('{KEPT}')")
    served = urllib.request.urlopen(installed.url + f"local/models/{KEPT}.onnx", timeout=60)
    assert kept["sha256"] == served.headers["X-Content-SHA256"] and kept["bytes"] == len(served.read())
    listed = page.evaluate("window.animeganLocal.kept()")
    assert [k["id"] for k in listed] == [KEPT] and listed[0]["sha256"] == kept["sha256"]
    png, _ = photo_png(photos, 0)
    online, _ = page_stylize(page, png, KEPT)
    assert psnr(online / 255.0, server_stylize(installed.server, png, KEPT, tmp_path) / 255.0) >= MIN_PSNR
    installed.online_result = online

    installed.stop()
    installed.open()
    assert page.evaluate("window.animeganLocal.offline()") is True
    assert page.evaluate("crossOriginIsolated"), "the stored page lost its isolation headers (no threads)"
    assert page.evaluate("window.animeganLocal.styles().map(s => s.id)") == [KEPT]
    banner = page.inner_text(".al-offline-banner")
    assert "server is not reachable" in banner and "need the server" in banner and "Cute" in banner, banner
    offline, _ = page_stylize(page, png, KEPT)
    assert np.abs(offline.astype(int) - online).max() <= 1, "offline the page's result differs from its online one"
    refused = page.evaluate(f"window.animeganLocal.stylize(new ImageData(8, 8), '{NOT_KEPT}').then(() => '', e => e.message)")
    assert "not kept on this device" in refused and "server is not reachable" in refused, refused

    # the page's own controls: private mode is on by itself, the style list is the kept one
    page.wait_for_selector("#local-run-btn", state="visible", timeout=30_000)
    assert not page.is_visible("#style-gallery") and not page.is_visible("#run-btn")
    assert page.eval_on_selector_all(".al-offline-style option", "os => os.map(o => o.value)") == [KEPT]
    photo = photos / "portrait_facecrop_kpop_5.jpg"
    page.set_input_files("#local-still input[type=file]", str(photo))
    # dispatched on the button itself: a status overlay left by Gradio's last server event may cover it
    page.locator("#local-run-btn").dispatch_event("click")
    page.wait_for_function("document.querySelector('#status').innerText.includes('on this device')", timeout=120_000)
    assert "862×853" in page.inner_text("#status")
    assert "Connection lost" not in page.inner_text("body")

    # the live camera, in this browser
    page.get_by_role("tab", name="Webcam").dispatch_event("click")
    page.wait_for_function("document.querySelector('#local-webcam .al-panel').dataset.mode === 'browser'", timeout=30_000)
    assert "server is not reachable" in page.inner_text("#local-webcam .al-why")
    page.select_option("#local-webcam .al-side", "256")
    page.locator("#local-webcam .al-start").dispatch_event("click")
    page.wait_for_function("window.animeganLocal.ui.live.stats().processed >= 3", timeout=120_000)
    page.evaluate("window.animeganLocal.ui.live.stop()")
    assert "Connection lost" not in page.inner_text("body")


def test_a_new_version_replaces_the_stored_app(installed: Installed) -> None:
    page = installed.page
    old = installed.caches()
    server = installed.start(ANIMEGAN_WEIGHTS_PATH=SHIPPED_PATH)  # the converted weights are gone
    version = sw_version(server.url)
    assert f"animegan-shell-{version}" not in old
    with urllib.request.urlopen(server.url + "local/styles.json", timeout=60) as r:
        new_styles = json.load(r)
    assert not next(s for s in new_styles["styles"] if s["id"] == CHANGED_STYLE)["local"]
    installed.open()
    assert page.evaluate("window.animeganLocal.offline()") is False
    stored = page.evaluate("""async (version) => {  // the new worker takes over and the page stores its files anew
        for (let i = 0; i < 1200; i++) {
            const shell = await caches.open(`animegan-shell-${version}`);
            const names = (await caches.keys()).filter((k) => k.startsWith('animegan-shell-'));
            if (names.length === 1 && names[0].endsWith(version) && await shell.match('local/ort/ort-wasm-simd-threaded.wasm'))
                return names;
            await new Promise((r) => setTimeout(r, 100));
        }
        return await caches.keys();
    }""", version)
    assert stored == [f"animegan-shell-{version}"], stored
    assert installed.caches() == sorted(["animegan-models", f"animegan-shell-{version}"])
    installed.stop()
    installed.open()
    offline_styles = page.evaluate(
        "fetch('local/styles.json').then(async r => [r.headers.get('X-AnimeGAN-Offline'), await r.json()])")
    assert offline_styles == ["1", new_styles]
    assert page.evaluate("window.animeganLocal.styles().map(s => s.id)") == [KEPT]


def test_a_damaged_kept_model_is_never_used(installed: Installed, photos: Path) -> None:
    page = installed.page
    assert page.evaluate("window.animeganLocal.offline()") is True
    page.evaluate("""async (id) => {  // one byte of the kept model flipped; its headers (and SHA-256) kept
        const cache = await caches.open('animegan-models');
        const request = (await cache.keys()).find((k) => k.url.endsWith(`/models/${id}.onnx`));
        const copy = await cache.match(request);
        const bytes = new Uint8Array(await copy.arrayBuffer());
        bytes[bytes.length >> 1] ^= 0xff;
        await cache.put(request, new Response(bytes, { headers: copy.headers }));
    }""", KEPT)
    installed.open()  # a new page: no session built from the good bytes
    error = page.evaluate(f"window.animeganLocal.stylize(new ImageData(8, 8), '{KEPT}').then(() => '', e => e.message)")
    assert "damaged" in error and "not used" in error and "removed" in error, error
    assert page.evaluate("window.animeganLocal.kept()") == []

    installed.start()
    installed.open()
    png, _ = photo_png(photos, 0)
    again = page.evaluate(f"window.animeganLocal.keep('{KEPT}')")
    assert [k["sha256"] for k in page.evaluate("window.animeganLocal.kept()")] == [again["sha256"]]
    result, _ = page_stylize(page, png, KEPT)
    assert installed.online_result is not None and np.abs(result.astype(int) - installed.online_result).max() <= 1
