"""browser_runtime without weights or a browser: headers, caching, the runtime allowlist, grades the page implements."""

from __future__ import annotations

import hashlib
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
