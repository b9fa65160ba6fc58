"""Private mode: the style models run in the visitor's browser (onnxruntime-web); photos and frames stay there.

An optional part of the app: ``app.py`` imports it only when it is installed, and the app works without it.
:class:`LocalRuntime` adds to the app, on its own origin (nothing from a CDN):

- ``/local/animegan-local.js``: the page's module (``window.animeganLocal``, see ``static/``);
- ``/local/styles.json``: which styles run in the browser, with the facts the page needs, and why not;
- ``/local/ort/<file>``: onnxruntime-web's runtime, the files in ``vendor/`` (``make browser-runtime`` copies
  them there from the npm package pinned in ``package-lock.json``);
- ``/local/models/<style>.onnx``: the style's verified ONNX file, byte for byte (:meth:`animegan.Engine.onnx_model`);
- the installed app (:mod:`.installable`): ``/manifest.json``, ``/local/icons/``, ``/local/sw.js``, the service
  worker that keeps the page, the runtime and the styles the visitor keeps, so that private mode works offline;

every file with an ``ETag`` (its SHA-256) so the browser keeps it and revalidates it cheaply, and makes every page
cross-origin isolated (COOP/COEP), which WebAssembly threads need.
"""

from __future__ import annotations

import hashlib
import html
import importlib.metadata
import json
import logging
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from animegan import FAST_STYLE, LIVE_SIDES, STYLES, AnimeGANError, Availability, Engine, OnnxModel, StyleSpec

from .installable import ICON_DIR, ICONS, WORKER, Installable, digest
from .serving import HERE, MEDIA_TYPES, STATIC_DIR, Served, cached_response, logged_in, unauthorized

log = logging.getLogger("animegan.local")

VENDOR_DIR = HERE / "vendor"
"""onnxruntime-web's files the page loads; filled by ``make browser-runtime``."""
RUNTIME_ENTRIES = ("ort.min.mjs", "ort.wasm.min.mjs")
"""WebGPU + WebAssembly build (28 MB of WebAssembly), loaded where the browser has a WebGPU adapter; the
WebAssembly-only build (14 MB) everywhere else."""
OFFLINE_RUNTIME = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
"""The WebAssembly build's files, which the page stores with the first style kept for offline use (offline it falls
back to this build where it would use the WebGPU one, stored only once the page has loaded it)."""
PREFIX = "/local"
MODULE = "animegan-local.js"
LOCAL_GRADES = frozenset({"neon"})
"""Colour grades the page implements (``static/animegan-local.js`` mirrors :mod:`animegan.grades`)."""
LOCAL_MAX_SIDE = 1024
"""Largest processing size (longer side) offered in the browser: a 1024² v2 frame needs ~2 GB in the engine."""
LIVE_TARGET_FPS = 15
"""The live mode's adaptive size: the largest that holds this frame rate on the visitor's device."""
SERVER_ONLY = "Face redrawing and upscaling run on the server only; on this device a photo gets the style alone."
ISOLATION_HEADERS = [(b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-embedder-policy", b"require-corp")]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# ---- the page's panels (app.py places them; static/animegan-local.js fills them) -----------------------

MOUNT_JS = "(window.animeganLocalMounts ||= []).push(element); window.animeganLocal?.mountAll();"
"""``js_on_load`` of a panel: the module mounts it when loaded (whichever comes first)."""
STILL_RUN_JS = "(style, side) => window.animeganLocal.ui.stylizeStill(style, side)"
"""Private-mode run: (style id, processing size) → [comparison pair, PNG file, status], all made in the page."""


def switch_js(hidden_when_on: int, shown_when_on: int) -> str:
    """The private switch's client-side handler: visibility updates for the outputs, in that order."""
    hide = ["{__type__: 'update', visible: !on}"] * hidden_when_on
    show = ["{__type__: 'update', visible: on}"] * shown_when_on
    return f"(on) => [{', '.join(hide + show)}]"


def still_panel() -> str:
    """The Stylize tab's private-mode photo input: the photo is read in the page, never uploaded."""
    return (
        '<div class="al-panel" data-al="still"><p class="al-note">🔒 <b>Private mode</b>: your photo is read and '
        "stylized by this browser; nothing is uploaded.</p>"
        '<label class="al-drop"><input type="file" accept="image/*" class="al-file" aria-label="Photo (stays on this device)">'
        '<span class="al-drop-text">Drop a photo here or click to choose one</span><img class="al-preview" alt=""></label>'
        '<label class="al-offline-pick">Style (kept on this device) <select class="al-offline-style"></select></label>'
        f'<p class="al-styles" aria-live="polite"></p><p class="al-small">{html.escape(SERVER_ONLY)}</p>'
        f"{keep_panel()}</div>"
    )


def keep_panel() -> str:
    """Styles kept for offline use: each local style with its size and a Keep / Remove button (the page fills it)."""
    return (
        '<details class="al-keep"><summary>📥 <b>Offline use</b>: <span class="al-keep-summary">no style kept on '
        "this device</span></summary>"
        '<p class="al-keep-note al-small"></p><ul class="al-keep-list"></ul>'
        '<p class="al-keep-status" role="status" aria-live="polite"></p></details>'
    )


def webcam_panel() -> str:
    """The Webcam tab's mode switch and in-browser live preview (the server's path stays as the fallback)."""
    return (
        '<div class="al-panel" data-al="webcam">'
        '<div class="al-modes" role="radiogroup" aria-label="Where the live preview is made">'
        '<label><input type="radio" name="al-mode" value="browser"> In my browser (frames never leave this device)</label>'
        '<label><input type="radio" name="al-mode" value="server"> On the server</label></div>'
        '<p class="al-why al-small"></p>'
        '<div class="al-live"><div class="al-row">'
        '<label>Style <select class="al-style"></select></label>'
        '<label>Size <select class="al-side"></select></label>'
        '<button type="button" class="al-start">▶ Start camera</button></div>'
        '<div class="al-row"><video class="al-video" playsinline muted></video>'
        '<canvas class="al-out" aria-label="Anime (live, made in this browser)"></canvas></div>'
        '<p class="al-fps" aria-live="polite">Start the camera to see the live preview, made in this browser.</p></div></div>'
    )


PANEL_CSS = """
.al-panel { display: flex; flex-direction: column; gap: 8px; }
.al-panel p { margin: 0; }
.al-note { background: #fff1f5; border: 1px solid #fecdd9; border-radius: 14px; padding: 8px 12px; }
.al-small { color: #6b5459; font-size: .88rem; }
.al-drop { display: flex; flex-direction: column; align-items: center; justify-content: center; gap: 8px; min-height: 220px;
           border: 2px dashed #fda4bc; border-radius: 14px; background: #fffdf9; cursor: pointer; padding: 10px; }
.al-drop input { position: absolute; width: 1px; height: 1px; opacity: 0; }
.al-preview { max-width: 100%; max-height: 300px; border-radius: 10px; display: none; }
.al-row { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; }
.al-row video, .al-row canvas { width: min(100%, 480px); border-radius: 12px; background: #fbf4ee; }
.al-video { transform: scaleX(-1); }
.al-out { transform: scaleX(-1); }
.al-modes { display: flex; flex-wrap: wrap; gap: 14px; }
.al-start { border-radius: 999px; padding: 6px 16px; background: #d92d63; color: #fff; border: 0; font-weight: 700; }
.al-live select { border: 1px solid #fecdd9; border-radius: 8px; padding: 3px 6px; background: #fff; }
.al-styles .al-on { color: #7f1b3e; font-weight: 700; }
.al-keep { border: 1px solid #fecdd9; border-radius: 14px; padding: 6px 12px; background: #fffdf9; }
.al-keep summary { cursor: pointer; }
.al-keep-list { list-style: none; margin: 6px 0; padding: 0; display: grid; gap: 4px; }
.al-keep-list li { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
.al-keep-list .al-size { color: #6b5459; font-size: .85rem; }
.al-keep-list button { border-radius: 999px; padding: 2px 12px; border: 1px solid #fda4bc; background: #fff1f5; color: #7f1b3e; }
.al-keep-list .al-kept { color: #1f7a4d; font-weight: 700; }
.al-keep-status:empty { display: none; }
.al-keep-status.al-error { color: #b81f50; font-weight: 700; }
.al-offline-banner { position: sticky; top: 0; z-index: 1000; background: #4a081f; color: #fff8ef; padding: 10px 16px;
                     border-radius: 0 0 14px 14px; font-size: .95rem; }
body.al-offline #run-btn, body.al-offline #all-styles-btn, body.al-offline #batch-run, body.al-offline #video-run {
  opacity: .45; pointer-events: none; }
.al-offline-pick { display: none; }
body.al-offline .al-offline-pick { display: flex; gap: 8px; align-items: center; font-weight: 700; }
.al-offline-pick select { border: 1px solid #fecdd9; border-radius: 8px; padding: 3px 6px; background: #fff; }
"""
OFFLINE_HIDDEN = ("style-gallery", "style-dropdown", "style-info", "styles-off", "install-help", "server-options",
                  "full-res", "advanced", "every-style")
"""The app's controls that talk to the server (a failed call would put the page into Gradio's reconnecting state):
hidden offline, where the private panel's own style list and the size slider are all a photo needs."""
PANEL_CSS += "".join(f"body.al-offline #{name} {{ display: none !important; }}\n" for name in OFFLINE_HIDDEN)


# ---- serving ----------------------------------------------------------------------------------------


class IsolationMiddleware:
    """Adds COOP ``same-origin`` and COEP ``require-corp`` to every HTTP response: the page becomes
    cross-origin isolated (``crossOriginIsolated``), so onnxruntime-web may use threads (SharedArrayBuffer).
    Everything the app serves is same-origin, so nothing else on the page needs a CORP header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_isolated(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in ISOLATION_HEADERS if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, send_isolated)


def runtime_files() -> dict[str, Path]:
    """The runtime files present in :data:`VENDOR_DIR`, by name (the only names ``/local/ort/`` serves)."""
    if not VENDOR_DIR.is_dir():
        return {}
    return {p.name: p for p in VENDOR_DIR.iterdir() if p.is_file() and p.suffix in MEDIA_TYPES}


class LocalRuntime:
    """Serves the browser runtime for one engine. Thread-safe; reads nothing until asked."""

    mount_js = MOUNT_JS
    still_run_js = STILL_RUN_JS
    css = PANEL_CSS

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._runtime_cache: dict[tuple[str, int, int], Served] = {}
        self._model_bytes: dict[str, int] = {}
        self.installable = Installable(self.version, self.offline_files)

    @staticmethod
    def still_panel() -> str:
        return still_panel()

    @staticmethod
    def webcam_panel() -> str:
        return webcam_panel()

    @staticmethod
    def switch_js(hidden_when_on: int, shown_when_on: int) -> str:
        return switch_js(hidden_when_on, shown_when_on)

    # ---- what runs where ----------------------------------------------------------------------

    def feature(self) -> Availability[str]:
        """Whether the runtime files are installed here (else private mode is off, saying how to install it)."""
        present = runtime_files()
        missing = [name for name in RUNTIME_ENTRIES if name not in present]
        if missing:
            return Availability("private mode", "unavailable", f"the browser runtime is not installed ({VENDOR_DIR} has "
                                f"no {', '.join(missing)}); run `make browser-runtime`")
        return Availability("private mode")

    def style_state(self, style_id: str) -> Availability[StyleSpec]:
        """Whether a style can run in the browser, and why not."""
        spec = STYLES.get(style_id)
        if spec.grade is not None and spec.grade not in LOCAL_GRADES:
            return Availability(spec, "unavailable", f"its colour grade {spec.grade!r} runs on the server only")
        return self.engine.onnx_model_status(style_id)

    def manifest(self) -> dict[str, Any]:
        """What the page needs: every style with whether it runs locally (and why not), its size rule,
        value range and grade; the size limits; the live mode's sizes and target."""
        settings = self.engine.settings
        styles = []
        for spec in STYLES:
            state = self.style_state(spec.id)
            rule = spec.size
            styles.append({
                "id": spec.id, "label": spec.label, "cost": spec.cost, "local": state.available, "reason": state.reason,
                "model": f"models/{spec.id}.onnx", "value_range": list(spec.value_range), "grade": spec.grade,
                "multiple_of": rule.multiple_of, "min_side": rule.min_side, "fixed": list(rule.fixed) if rule.fixed else None,
                "max_side": LOCAL_MAX_SIDE, **(self._model_size(spec) if state.available else {}),
            })
        runtime = self.feature()
        return {
            "runtime": runtime.available, "runtime_reason": runtime.reason, "styles": styles,
            "default_side": min(settings.max_side, LOCAL_MAX_SIDE), "max_pixels": settings.max_pixels,
            "live_sides": list(LIVE_SIDES), "live_default_style": FAST_STYLE, "live_target_fps": LIVE_TARGET_FPS,
            "server_only": SERVER_ONLY,
            "offline_runtime": [f"ort/{name}" for name in OFFLINE_RUNTIME if name in runtime_files()],
        }

    def _model_size(self, spec: StyleSpec) -> dict[str, Any]:
        """The download size of a style's model: exact once served, or an ONNX weight file's own size; an
        export not served yet has about the size of its PyTorch weights (``model_bytes_exact`` false)."""
        with self._lock:
            served = self._model_bytes.get(spec.id)
        if served is not None:
            return {"model_bytes": served, "model_bytes_exact": True}
        entry = self.engine.weights.entry(spec.weights)
        return {"model_bytes": entry.bytes, "model_bytes_exact": entry.format == "onnx"}

    # ---- the installed app ------------------------------------------------------------------------

    def offline_files(self) -> list[str]:
        """Files a new service worker stores before it takes over (relative to the app's root)."""
        return [f"{PREFIX.lstrip('/')}/{MODULE}", f"{PREFIX.lstrip('/')}/styles.json"]

    def version(self) -> str:
        """The name of this set of the app's files in the browser: it changes with the worker, the page's module,
        the runtime, the icons, which styles run locally, or Gradio (whose page and assets the worker keeps)."""
        styles = [(s.id, self.style_state(s.id).available) for s in STYLES]
        runtime = [(name, self._read_runtime(path).sha256) for name, path in sorted(runtime_files().items())]
        return digest([(STATIC_DIR / WORKER).read_bytes(), (STATIC_DIR / MODULE).read_bytes(),
                       *((ICON_DIR / name).read_bytes() for name, _, _ in ICONS), json.dumps([styles, runtime]),
                       importlib.metadata.version("gradio")])

    # ---- serving ------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        methods = ["GET", "HEAD"]
        return [
            *self.installable.routes(),
            Route(f"{PREFIX}/{MODULE}", self._module, methods=methods),
            Route(f"{PREFIX}/styles.json", self._styles, methods=methods),
            Route(f"{PREFIX}/ort/{{name}}", self._runtime, methods=methods),
            Route(f"{PREFIX}/models/{{style}}.onnx", self._model, methods=methods),
        ]

    def launch_options(self) -> dict[str, Any]:
        """``gr.Blocks.launch`` arguments: the routes, the isolation middleware and the page's module."""
        return {"app_kwargs": {"routes": self.routes(), "middleware": [Middleware(IsolationMiddleware)]},
                "head": f'<script type="module" src="{PREFIX.lstrip("/")}/{MODULE}"></script>'}

    async def _module(self, request: Request) -> Response:
        if not logged_in(request):
            return unauthorized()
        data = await run_in_threadpool((STATIC_DIR / MODULE).read_bytes)
        return cached_response(request, Served.of(data), MEDIA_TYPES[".js"])

    async def _styles(self, request: Request) -> Response:
        if not logged_in(request):
            return unauthorized()
        doc = await run_in_threadpool(self.manifest)
        return JSONResponse(doc, headers={"Cache-Control": "no-store"})

    async def _runtime(self, request: Request) -> Response:
        if not logged_in(request):
            return unauthorized()
        name = request.path_params["name"]
        path = runtime_files().get(name)  # exact names of the files present: no path from the request is used
        if path is None:
            return JSONResponse({"error": f"no runtime file {name!r}"}, status_code=404)
        served = await run_in_threadpool(self._read_runtime, path)
        return cached_response(request, served, MEDIA_TYPES[path.suffix])

    def _read_runtime(self, path: Path) -> Served:
        st = path.stat()
        key = (path.name, st.st_mtime_ns, st.st_size)
        with self._lock:
            served = self._runtime_cache.get(key)
        if served is None:
            data = path.read_bytes()
            served = Served.of(data)
            with self._lock:
                self._runtime_cache = {k: v for k, v in self._runtime_cache.items() if k[0] != path.name} | {key: served}
        return served

    async def _model(self, request: Request) -> Response:
        if not logged_in(request):
            return unauthorized()
        style = request.path_params["style"]
        if style not in STYLES:  # only registry ids: the URL never names a file
            return JSONResponse({"error": f"unknown style {style!r}"}, status_code=404)
        state = self.style_state(style)
        if not state.available:
            return JSONResponse({"error": f"{style!r} does not run in the browser: {state.reason}"}, status_code=404)
        try:
            model, served = await run_in_threadpool(self._read_model, style)
        except AnimeGANError as err:
            log.warning("model file of %r not served: %s", style, err)
            return JSONResponse({"error": str(err)}, status_code=503)
        headers = {"X-Input-Name": model.input_name or "", "X-Output-Name": model.output_name or "",
                   "X-Layout": model.layout, "X-Content-SHA256": served.sha256}
        return cached_response(request, served, "application/octet-stream", headers)

    def _read_model(self, style: str) -> tuple[OnnxModel, Served]:
        """The style's ONNX file, read and hashed again: what is sent is exactly what was verified."""
        model = self.engine.onnx_model(style)
        data = model.path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if sha != model.sha256:
            from animegan import WeightsChecksumError

            raise WeightsChecksumError(f"{model.path} changed after it was verified (SHA-256 {sha[:12]}…, "
                                       f"expected {model.sha256[:12]}…); restart the app")
        with self._lock:
            self._model_bytes[style] = len(data)
        return model, Served(data, sha)
