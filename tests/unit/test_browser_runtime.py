"""browser_runtime without weights or a browser: headers, caching, the runtime allowlist, grades the page implements."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

import browser_runtime as br
from animegan import grades

JS = Path(br.STATIC_DIR / br.MODULE).read_text()


def test_the_page_implements_every_grade_it_is_offered() -> None:
    implemented = set(re.search(r"const GRADES = \{([^}]*)\}", JS).group(1).replace(" ", "").split(","))  # type: ignore[union-attr]
    assert implemented == set(br.LOCAL_GRADES)
    assert br.LOCAL_GRADES.issubset(grades.GRADES)


def test_every_response_is_cross_origin_isolated() -> None:
    async def hello(request: Request) -> Response:
        return PlainTextResponse("hi", headers={"Cross-Origin-Opener-Policy": "same-origin"})

    client = TestClient(Starlette(routes=[Route("/", hello)], middleware=[Middleware(br.IsolationMiddleware)]))
    for path, status in (("/", 200), ("/missing", 404)):
        r = client.get(path)
        assert r.status_code == status
        assert r.headers["cross-origin-opener-policy"] == "same-origin"
        assert r.headers["cross-origin-embedder-policy"] == "require-corp"
        assert len(r.headers.get_list("cross-origin-opener-policy")) == 1  # not doubled when already set


def test_files_are_served_with_their_sha256_as_etag() -> None:
    served = br.Served(b"model bytes", hashlib.sha256(b"model bytes").hexdigest())

    async def model(request: Request) -> Response:
        return br.cached_response(request, served, "application/octet-stream", {"X-Layout": "NHWC"})

    client = TestClient(Starlette(routes=[Route("/m", model, methods=["GET", "HEAD"])]))
    r = client.get("/m")
    assert r.content == b"model bytes" and r.headers["etag"] == f'"{served.sha256}"' and r.headers["x-layout"] == "NHWC"
    assert r.headers["cache-control"] == "no-cache"
    again = client.get("/m", headers={"If-None-Match": f'"other", "{served.sha256}"'})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/m", headers={"If-None-Match": '"other"'}).status_code == 200
    head = client.head("/m")
    assert head.content == b"" and head.headers["content-length"] == str(len(b"model bytes"))


def test_only_runtime_files_in_the_vendor_folder_are_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ort.min.mjs", "ort-wasm-simd-threaded.jsep.wasm", ".installed", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    monkeypatch.setattr(br, "VENDOR_DIR", tmp_path)
    assert set(br.runtime_files()) == {"ort.min.mjs", "ort-wasm-simd-threaded.jsep.wasm"}
    monkeypatch.setattr(br, "VENDOR_DIR", tmp_path / "absent")
    assert br.runtime_files() == {}


def test_private_switch_is_client_side_visibility_only() -> None:
    js = br.switch_js(3, 2)
    assert js.count("visible: !on") == 3 and js.count("visible: on") == 2 and "fetch" not in js


def test_app_with_private_mode_adds_no_api_and_says_why_it_is_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No weights and no runtime installed: the switch is disabled with the reason; the local events are page-only."""
    import app
    from animegan import Engine, LocalService, Settings

    monkeypatch.setattr(br, "VENDOR_DIR", tmp_path / "no-runtime")
    settings = Settings.from_env({"ANIMEGAN_WEIGHTS_PATH": str(tmp_path / "empty"), "ANIMEGAN_DOWNLOAD_DIR": str(tmp_path / "dl"),
                                  "ANIMEGAN_CACHE_DIR": str(tmp_path / "cache"), "ANIMEGAN_PREVIEW_DIR": str(tmp_path / "prev")})
    engine = Engine(settings)
    local = app.local_runtime(engine)
    assert local is not None
    config = app.build_app(LocalService(engine), local).get_config_file()
    props = {c["props"].get("elem_id"): c["props"] for c in config["components"]}
    assert {"private-switch", "local-still", "local-run-btn", "local-webcam", "webcam-server"} <= set(props)
    assert props["private-switch"]["interactive"] is False and "make browser-runtime" in props["private-switch"]["info"]

    def endpoints(cfg: dict[str, Any]) -> set[str]:
        return {d["api_name"] for d in cfg["dependencies"] if d.get("api_visibility", "public") == "public" and d.get("api_name")}

    assert endpoints(config) == endpoints(app.build_app(LocalService(engine)).get_config_file())
    manifest = local.manifest()
    assert not manifest["runtime"] and all(not s["local"] and s["reason"] for s in manifest["styles"])


# ---- the installed app: manifest, icons, service worker ------------------------------------------------


def installable_client() -> TestClient:
    from browser_runtime.installable import Installable

    app = Installable(lambda: "v-test", lambda: ["local/ort/ort.wasm.min.mjs"])
    return TestClient(Starlette(routes=app.routes()))


def test_the_manifest_makes_the_app_installable() -> None:
    from PIL import Image

    from browser_runtime import installable

    client = installable_client()
    r = client.get("/manifest.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/manifest+json")
    m = r.json()
    assert m["name"] == "AnimeGAN WebUI" and m["display"] == "standalone" and m["start_url"] == m["scope"] == "./"
    assert m["theme_color"] == installable.THEME_COLOR and m["background_color"] == installable.BACKGROUND_COLOR
    kinds = set()
    for icon in m["icons"]:
        got = client.get(f"/{icon['src']}")
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(got.content)) as im:
            assert f"{im.width}x{im.height}" == icon["sizes"], icon
            if icon["purpose"] == "maskable":  # full bleed: no transparent corner a launcher would show
                assert im.convert("RGBA").getpixel((0, 0))[3] == 255
        kinds.add((icon["sizes"], icon["purpose"]))
    assert kinds == {(s, p) for s in ("192x192", "512x512") for p in ("any", "maskable")}


def test_only_the_icons_are_served_from_the_icon_folder() -> None:
    client = installable_client()
    for bad in ("icon-64.png", "..%2F..%2F__init__.py", "%2e%2e", ".gitignore"):
        assert client.get(f"/local/icons/{bad}").status_code == 404, bad


def test_the_worker_names_its_version_and_may_control_the_whole_app() -> None:
    client = installable_client()
    r = client.get("/local/sw.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.headers["service-worker-allowed"] == "../"
    head = r.text.split("\n", 2)
    assert head[0] == 'const VERSION = "v-test";'
    precache = json.loads(head[1].removeprefix("const PRECACHE = ").removesuffix(";"))
    assert precache[:2] == ["./", "manifest.json"] and "local/ort/ort.wasm.min.mjs" in precache
    assert all(f"local/icons/{name}" in precache for name, _, _ in br.ICONS)
    for needed in ("skipWaiting()", "clients.claim()", "caches.delete", "ignoreVary: true"):
        assert needed in r.text, needed
    assert client.get("/local/sw.js", headers={"If-None-Match": r.headers["etag"]}).status_code == 304


def test_the_version_changes_with_any_part() -> None:
    from browser_runtime.installable import digest

    assert digest(["a", b"b"]) == digest([b"a", "b"]) and len(digest(["a"])) == 16
    assert digest(["ab", "c"]) != digest(["a", "bc"])  # parts are length-prefixed


def test_the_committed_icons_are_what_the_tool_draws() -> None:
    import subprocess
    import sys

    tool = Path(br.HERE).parent / "tools" / "make_icons.py"
    r = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_offline_the_page_hides_every_control_that_calls_the_server() -> None:
    app = (Path(br.HERE).parent / "app.py").read_text()
    for name in (*br.OFFLINE_HIDDEN, "run-btn", "all-styles-btn", "batch-run", "video-run"):
        assert f'elem_id="{name}"' in app, f"app.py has no element #{name}"
        assert f"#{name}" in br.PANEL_CSS
