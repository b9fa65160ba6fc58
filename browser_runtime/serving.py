"""How the browser runtime's files are served: exact bytes with their SHA-256 as ETag, behind the app's login."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
MEDIA_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json",
               ".png": "image/png"}


@dataclass(frozen=True)
class Served:
    """Bytes to serve and their SHA-256 (the ETag)."""

    data: bytes
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> Served:
        return cls(data, hashlib.sha256(data).hexdigest())


def cached_response(request: Request, served: Served, media_type: str, headers: dict[str, str] | None = None) -> Response:
    """``served`` with its SHA-256 as a strong ETag; ``304`` when the browser already has these bytes.
    ``no-cache``: the browser keeps the file and revalidates it on each use (one small request)."""
    etag = f'"{served.sha256}"'
    base = {"ETag": etag, "Cache-Control": "no-cache", **(headers or {})}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=base)
    body = b"" if request.method == "HEAD" else served.data
    response = Response(body, media_type=media_type, headers=base)
    if request.method == "HEAD":
        response.headers["content-length"] = str(len(served.data))
    return response


def logged_in(request: Request) -> bool:
    """The app's login applies here too (``--auth``): Gradio 6.31's own check, on its FastAPI app."""
    app = request.app
    if getattr(app, "auth", None) is None and getattr(app, "auth_dependency", None) is None:
        return True
    if app.auth_dependency is not None:
        return app.auth_dependency(request) is not None
    cookie = getattr(app, "cookie_id", "")
    token = request.cookies.get(f"access-token-{cookie}") or request.cookies.get(f"access-token-unsecure-{cookie}")
    return app.tokens.get(token) is not None


def unauthorized() -> Response:
    return JSONResponse({"error": "Not authenticated"}, status_code=401)
