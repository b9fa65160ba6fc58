"""The app as an installable web app that opens without the server: its manifest, icons and service worker.

- ``/manifest.json``: our web-app manifest (it replaces Gradio's generic one at the URL the page links);
- ``/local/icons/<file>``: the icons (``tools/make_icons.py`` draws them);
- ``/local/sw.js``: the service worker (``static/sw.js``), its scope the app's root, with this version's name and
  the files it stores at once. A new version of the app's files gives a new worker, which replaces the stored copy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .serving import MEDIA_TYPES, STATIC_DIR, Served, cached_response, logged_in, unauthorized

APP_NAME = "AnimeGAN WebUI"
SHORT_NAME = "AnimeGAN"
DESCRIPTION = "Photos to anime. Private mode runs on this device, also without a connection."
THEME_COLOR = "#d92d63"
BACKGROUND_COLOR = "#fff8ef"
ICON_DIR = STATIC_DIR / "icons"
ICONS = (("icon-192.png", 192, "any"), ("icon-512.png", 512, "any"),
         ("maskable-192.png", 192, "maskable"), ("maskable-512.png", 512, "maskable"))
WORKER = "sw.js"


def web_manifest() -> dict[str, Any]:
    """The manifest; its URLs are relative to ``/manifest.json``, i.e. to the app's root."""
    return {
        "id": "./", "name": APP_NAME, "short_name": SHORT_NAME, "description": DESCRIPTION,
        "start_url": "./", "scope": "./", "display": "standalone", "orientation": "any",
        "background_color": BACKGROUND_COLOR, "theme_color": THEME_COLOR, "categories": ["photo", "graphics"],
        "icons": [{"src": f"local/icons/{name}", "sizes": f"{size}x{size}", "type": "image/png", "purpose": purpose}
                  for name, size, purpose in ICONS],
    }


def worker_script(version: str, precache: Iterable[str]) -> bytes:
    """``static/sw.js`` with its version and the files (relative to the app's root) stored when it installs."""
    head = f"const VERSION = {json.dumps(version)};\nconst PRECACHE = {json.dumps(list(precache))};\n"
    return head.encode() + (STATIC_DIR / WORKER).read_bytes()


class Installable:
    """The routes that make the app installable and keep it working offline.

    ``version`` names the app's files as the browser keeps them (a digest that changes with any of them);
    ``precache`` lists the runtime files a worker stores at once, besides the page, its module and the icons.
    """

    def __init__(self, version: Callable[[], str], precache: Callable[[], list[str]]) -> None:
        self.version = version
        self.precache = precache

    def routes(self) -> list[Route]:
        methods = ["GET", "HEAD"]
        return [
            Route("/manifest.json", self._manifest, methods=methods),
            Route(f"/local/{WORKER}", self._worker, methods=methods),
            Route("/local/icons/{name}", self._icon, methods=methods),
        ]

    def files(self) -> list[str]:
        """What a new worker stores before it takes over: the page, the manifest, the icons, the runtime."""
        return ["./", "manifest.json", *(f"local/icons/{name}" for name, _, _ in ICONS), *self.precache()]

    async def _manifest(self, request: Request) -> Response:
        data = json.dumps(web_manifest(), indent=1).encode()
        return cached_response(request, Served.of(data), "application/manifest+json")

    async def _worker(self, request: Request) -> Response:
        if not logged_in(request):
            return unauthorized()
        version = await run_in_threadpool(self.version)
        served = Served.of(await run_in_threadpool(worker_script, version, self.files()))
        # the worker's scope is the app's root, above the folder it is served from
        return cached_response(request, served, MEDIA_TYPES[".js"], {"Service-Worker-Allowed": "../"})

    async def _icon(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in {n for n, _, _ in ICONS}:  # exact names only: no path from the request is used
            return JSONResponse({"error": f"no icon {name!r}"}, status_code=404)
        data = await run_in_threadpool((ICON_DIR / name).read_bytes)
        return cached_response(request, Served.of(data), MEDIA_TYPES[".png"])


def digest(parts: Iterable[str | bytes]) -> str:
    """A short name for a set of files: SHA-256 over their parts, 16 hex digits."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()[:16]
