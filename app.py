"""AnimeGAN WebUI: the Gradio app, a thin UI layer over the ``animegan`` engine.

    python app.py [--host H] [--port P] [--share] [--auth USER:PASS] [--max-side N]
                  [--ray ADDRESS [--replicas N | --autoscale MIN:MAX]]

Tests import :func:`build_app`; the server starts only under ``__main__``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import html
import importlib.util
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import numpy as np

from animegan import (
    BACKEND_NAMES,
    DEFAULT_UPSCALER,
    FACE_MODES,
    FAST_STYLE,
    LIVE_SIDES,
    UPSCALES,
    VIDEO_SUFFIXES,
    AnimeGANError,
    Engine,
    Feature,
    JobCancelledError,
    LiveSession,
    ResultCache,
    Scratch,
    Settings,
    StyleStatus,
    StylizeOptions,
    VideoOptions,
    __version__,
    cancel_model_runs,
    comparison_pair,
    expand_uploads,
    get_settings,
    install_help,
    queue_limit,
    run_batch,
    style_previews,
    stylize_job,
)

log = logging.getLogger("animegan.app")

ROOT = Path(__file__).resolve().parent
EXAMPLES = sorted((ROOT / "examples").glob("*.png"))
TITLE = "AnimeGAN WebUI"
STOPPING_MESSAGE = "the request was cancelled: the server is stopping"
GENERIC_ERROR = "Something went wrong on our side while processing this request. It has been logged; please try again."
CPU_SLOT = "cpu"
"""Stylize, batch and video share one queue slot of ``engine.concurrency`` jobs (1 locally: each job already uses
every core; one per replica with ``--ray``). The queue in front of it holds :func:`animegan.jobs.queue_limit` users."""
STOP_GRACE_S = 0.5
"""After SIGTERM/SIGINT, how long running requests get to reach their next step and end cancelled; then the
process exits anyway (``docker stop`` waits 10 s before SIGKILL; with podman's own ~0.6 s we stay under 2 s)."""


class Requests:
    """The requests running now, and whether the server is stopping (then each ends at its next progress step)."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._count = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1

    def count(self) -> int:
        with self._lock:
            return self._count


REQUESTS = Requests()

# ---- theme ----------------------------------------------------------------------------------------

SAKURA = gr.themes.Color(
    c50="#fff1f5", c100="#ffe4ec", c200="#fecdd9", c300="#fda4bc", c400="#fb7199", c500="#f0487a",
    c600="#d92d63", c700="#b81f50", c800="#991b45", c900="#7f1b3e", c950="#4a081f", name="sakura",
)
CREAM, CARD, INK, MUTED, LINE = "#fff8ef", "#fffdf9", "#3d2a2f", "#6b5459", "#f3dfd3"
SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif")


def sakura_theme() -> gr.themes.Base:
    """Sakura pink on cream. Text colours meet WCAG AA on their backgrounds (≥ 4.5:1); fonts are local."""
    return gr.themes.Soft(
        primary_hue=SAKURA,
        secondary_hue=SAKURA,
        neutral_hue=gr.themes.colors.stone,
        radius_size=gr.themes.sizes.radius_lg,
        font=(gr.themes.LocalFont("Quicksand", weights=(400, 700)), *SYSTEM_FONTS),
        font_mono=("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"),
    ).set(
        body_background_fill=CREAM,
        body_background_fill_dark="#1f1418",
        block_background_fill_dark="#2a1d22",
        block_border_color_dark="#4a2a35",
        button_primary_background_fill_dark="*primary_600",
        button_primary_text_color_dark="#ffffff",
        body_text_color=INK,
        body_text_color_subdued=MUTED,
        block_background_fill=CARD,
        block_border_color=LINE,
        block_border_width="1px",
        block_radius="18px",
        block_shadow="0 2px 12px rgba(185, 31, 80, 0.07)",
        block_label_background_fill="*primary_50",
        block_label_text_color="*primary_800",
        block_title_text_color="*primary_800",
        block_info_text_color=MUTED,
        panel_background_fill=CREAM,
        panel_border_color=LINE,
        background_fill_primary=CARD,
        background_fill_secondary=CREAM,
        border_color_primary=LINE,
        input_background_fill="#ffffff",
        input_border_color="*primary_200",
        button_primary_background_fill="*primary_600",
        button_primary_background_fill_hover="*primary_700",
        button_primary_text_color="#ffffff",
        button_primary_text_color_hover="#ffffff",
        button_secondary_background_fill="*primary_50",
        button_secondary_background_fill_hover="*primary_100",
        button_secondary_text_color="*primary_800",
        button_secondary_border_color="*primary_200",
        button_large_radius="999px",
        button_medium_radius="999px",
        checkbox_label_background_fill_selected="*primary_100",
        checkbox_label_text_color_selected="*primary_900",
        checkbox_background_color_selected="*primary_600",
        checkbox_border_color="*primary_300",
        checkbox_border_color_focus="*primary_500",
        slider_color="*primary_600",
        color_accent="*primary_600",
        color_accent_soft="*primary_100",
        loader_color="*primary_600",
        link_text_color="*primary_700",
        link_text_color_hover="*primary_800",
    )


CSS = """
.gradio-container { max-width: 1320px !important; margin: 0 auto !important; overflow: clip !important; }
@media (min-width: 768px) { #result-col { position: sticky; top: 12px; align-self: flex-start; } }
#hero { text-align: center; padding: 18px 12px 4px; }
#hero h1 { font-size: 2.1rem; font-weight: 700; color: #991b45; margin: 0; letter-spacing: .01em;
           display: inline-flex; align-items: center; gap: .45rem; }
#hero h1 svg { width: 1.9rem; height: 1.9rem; flex: none; }
#hero p { color: #6b5459; margin: .35rem auto 0; max-width: 44rem; font-size: 1.02rem; }
#run-btn { font-size: 1.1rem; font-weight: 700; min-height: 52px; box-shadow: 0 4px 14px rgba(217, 45, 99, .28); }
#style-gallery .grid-container { grid-template-columns: repeat(4, minmax(0, 1fr)) !important; }
#style-gallery .thumbnail-item { border-radius: 14px !important; }
#style-gallery .caption-label { font-weight: 700; font-size: .78rem; max-width: 92%; }
#style-info { background: #fff1f5; border: 1px solid #fecdd9; border-radius: 14px; padding: 10px 14px; }
#style-info p { margin: 0; }
#status { min-height: 1.5em; }
#batch-style { background: #fff1f5; border: 1px solid #fecdd9; border-radius: 14px; padding: 6px 14px; }
#batch-status { padding-left: 2px; }
#batch-status table, #batch-status td, #batch-status th { font-family: var(--font) !important; }
.style-off { display: flex; flex-wrap: wrap; gap: 8px; margin: 4px 0 0; padding: 0; list-style: none; }
.style-off li { opacity: .75; border: 1px dashed #d6c3bb; border-radius: 12px; padding: 6px 10px; color: #6b5459;
                background: #fbf4ee; font-size: .9rem; cursor: not-allowed; }
.style-off li b { color: #3d2a2f; }
#footer { text-align: center; color: #6b5459; font-size: .85rem; padding: 10px 8px 18px; }
#footer ul { list-style: none; padding: 0; margin: 6px 0; }
#footer li { margin: 2px 0; }
.dark #hero h1 { color: #fda4bc; }
.dark #hero p, .dark #footer { color: #d6c3bb; }
.dark #style-info, .dark #batch-style { background: #3a1a26; border-color: #7f1b3e; }
.dark .style-off li { background: #2a2024; color: #d6c3bb; border-color: #6b5459; }
.dark .style-off li b { color: #fff1f5; }
@media (max-width: 640px) {
  #hero h1 { font-size: 1.6rem; }
  #hero p { font-size: .95rem; }
  .gradio-container { padding: 0 6px !important; }
  #style-gallery .grid-container { grid-template-columns: repeat(3, minmax(0, 1fr)) !important; }
  .opt-row, .opt-row > .form { flex-wrap: wrap !important; flex-direction: column !important; }
  .opt-row > *, .opt-row > .form > * { width: 100% !important; min-width: 100% !important; }
}
"""

BLOSSOM = (
    '<svg viewBox="0 0 64 64" aria-hidden="true"><g fill="#f0487a">'
    + "".join(f'<ellipse cx="32" cy="17" rx="10" ry="14" transform="rotate({a} 32 32)"/>' for a in (0, 72, 144, 216, 288))
    + '</g><circle cx="32" cy="32" r="7" fill="#fecdd9"/><circle cx="32" cy="32" r="3" fill="#b81f50"/></svg>'
)

# ---- small adapters between component values and the engine ---------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """The app's one error translation: engine errors become their message, anything else a generic one.

    Also counts the call in :data:`REQUESTS`, so that a stop can let it end first."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with REQUESTS.running():
            try:
                return fn(*args, **kwargs)
            except gr.Error:
                raise
            except AnimeGANError as err:
                log.info("%s refused: %s", fn.__name__, err)
                raise gr.Error(str(err), print_exception=False) from err
            except Exception as err:
                if REQUESTS.stopping.is_set():  # its model call was cancelled by the stop
                    log.info("%s cancelled: the server is stopping", fn.__name__)
                    raise gr.Error(STOPPING_MESSAGE, print_exception=False) from err
                log.exception("unexpected error in %s", fn.__name__)
                raise gr.Error(GENERIC_ERROR, print_exception=False) from err

    return wrapper  # type: ignore[return-value]


def photo_input(label: str, height: int, elem_id: str) -> gr.Image:
    """An image upload whose file reaches the engine as it is (Gradio does not decode it), so a bad file
    gets the engine's clear message and alpha, bit depth and EXIF arrive intact.

    An instance override rather than a subclass: Gradio writes a ``.pyi`` next to any module defining one.
    """
    image = gr.Image(label=label, type="filepath", image_mode=None, sources=["upload", "clipboard"], height=height,
                     elem_id=elem_id)
    decode_in_gradio = image.preprocess

    def preprocess(payload: Any) -> Any:
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        return decode_in_gradio(payload)

    image.preprocess = preprocess  # type: ignore[method-assign]
    return image


def job_alive() -> bool:
    """False once this request's client cancelled or disconnected (Gradio drops or marks its queue event)."""
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or event_id is None:
        return True  # not running inside the queue (direct call): nothing to watch
    try:  # Gradio's queue internals (gradio 6.31): keep working, without the check, if they ever change
        events = [e for job in queue.active_jobs if job for e in job if e._id == event_id]
        return bool(events) and all(e.alive for e in events)
    except (AttributeError, TypeError):
        return True


def gr_progress(progress: gr.Progress) -> Callable[[float, str], None]:
    """The engine's ``progress(fraction, message)`` callback, shown as Gradio's progress bar.

    It also stops the work of a request nobody waits for any more: Gradio cannot stop a running
    thread, so without this a closed browser tab would keep the CPU slot until its job ends. The same
    happens to every running request when the server stops (:data:`REQUESTS`).
    """

    def report(fraction: float, message: str) -> None:
        if REQUESTS.stopping.is_set():
            raise JobCancelledError(STOPPING_MESSAGE)
        if not job_alive():
            raise JobCancelledError("the request was cancelled: its client went away")
        progress(fraction, desc=message[:1].upper() + message[1:])

    return report


def make_options(style: str, face: Any, upscale: int | str, max_side: float, full_res: bool, backend: Any,
                 upscaler: str | None = None) -> StylizeOptions:
    """Component values → checked StylizeOptions (raises UnknownStyleError / InvalidOptionError)."""
    return StylizeOptions(style=style, face=face, upscale=int(upscale), max_side=None if full_res else int(max_side),
                          backend=backend, upscaler=upscaler or None)


def feature(engine: Engine, name: str) -> Feature | None:
    """An optional capability's state, or None when this engine does not know the capability."""
    return engine.features().get(name)


def control_state(state: Feature | None, info: str) -> dict[str, Any]:
    """``interactive``/``info`` of a control whose backend may be missing: disabled, saying why, never broken."""
    if state is not None and state.available:
        return {"interactive": True, "info": info}
    return {"interactive": False, "info": f"Unavailable: {state.reason if state else 'not supported by this engine'}"}


def option_controls(engine: Engine) -> tuple[gr.Radio, gr.Radio, gr.Slider, gr.Checkbox, gr.Dropdown, gr.Dropdown]:
    """Face mode, upscale, processing size, full resolution, backend and upscaler model; defaults come from the engine."""
    settings = engine.settings
    faces, upscale, backends = feature(engine, "faces"), feature(engine, "upscale"), feature(engine, "backends")
    with gr.Row(elem_classes="opt-row"):
        face = gr.Radio(list(FACE_MODES), value="auto" if faces and faces.available else "off", label="Face mode",
                        **control_state(faces, "auto: only when faces are found"))
        upscale_r = gr.Radio([(f"{n}×", n) for n in UPSCALES], value=1, label="Upscale",
                             **control_state(upscale, "Real-ESRGAN super-resolution after stylizing"))
    with gr.Row(equal_height=True, elem_classes="opt-row"):
        max_side = gr.Slider(min(256, settings.max_side), max(2048, settings.max_side), value=settings.max_side, step=64,
                             label="Processing size (px)", scale=3, min_width=220,
                             info="Longest side the model sees; smaller is faster. The result keeps your photo's size.")
        full_res = gr.Checkbox(False, label="Full resolution", info="Every pixel, in tiles (slower)", scale=1, min_width=140)
    with gr.Accordion("Advanced", open=False):
        backend = gr.Dropdown(list(BACKEND_NAMES), value="auto", label="Inference backend", **control_state(
            backends or Feature(True), "auto: the fastest that passes the quality guard, measured on this CPU"))
        models = [u for u in engine.upscalers.statuses() if u.available]
        default = DEFAULT_UPSCALER if any(u.spec.id == DEFAULT_UPSCALER for u in models) else None
        upscaler = gr.Dropdown([(f"{u.spec.label} ({u.spec.cost})", u.spec.id) for u in models], value=default,
                               label="Upscaler model", **control_state(upscale, "used when Upscale is above 1×"))
    return face, upscale_r, max_side, full_res, backend, upscaler


def style_card(status: StyleStatus) -> str:
    spec = status.spec
    return f"**{spec.label}** · {spec.family} · {spec.cost}  \n{spec.description}"


def batch_note(status: StyleStatus | None) -> str:
    return f"Style: **{status.spec.label}**" if status else "No style is available on this server."


def unavailable_list(styles: list[StyleStatus]) -> str:
    items = "".join(f"<li aria-disabled='true'><b>{html.escape(s.spec.label)}</b>: {html.escape(s.reason)}</li>" for s in styles)
    return f"<p><b>Not available on this server</b></p><ul class='style-off'>{items}</ul>"


def license_footer(engine: Engine) -> str:
    groups: dict[str, list[str]] = {}
    for st in engine.styles():
        groups.setdefault(st.license, []).append(st.spec.label)
    items = "".join(f"<li>{html.escape(', '.join(labels))}: {html.escape(lic)}</li>" for lic, labels in groups.items())
    return (
        f'<div id="footer"><b>Model licences</b><ul>{items}</ul>'
        f"The generated images inherit these terms. AnimeGAN WebUI {html.escape(__version__)} · runs on this machine's CPU; "
        "photos are not sent anywhere else.</div>"
    )


def local_runtime(engine: Engine) -> Any | None:
    """Private mode (``browser_runtime/``: the styles run in the visitor's browser), or None when it is not installed."""
    if importlib.util.find_spec("browser_runtime") is None:
        return None
    from browser_runtime import LocalRuntime

    return LocalRuntime(engine)


# ---- the app ------------------------------------------------------------------------------------------


# ---- video and webcam tabs ------------------------------------------------------------------------

WEBCAM_STREAM_EVERY = 0.05
"""Seconds between camera frames sent by the browser; the session drops what it cannot keep up with."""


def fast_default(style_choices: list[tuple[str, str]]) -> str | None:
    """The fastest style where it is installed, else the first one there is (None with no style installed)."""
    ids = [style_id for _, style_id in style_choices]
    return FAST_STYLE if FAST_STYLE in ids else next(iter(ids), None)


def video_tab(engine: Engine, style_choices: list[tuple[str, str]], new_dir: Callable[[], Path]) -> None:
    """Upload → progress (frame i/n, fps, ETA) → playable result + download."""
    settings = engine.settings
    with gr.Tab("Video", id="video"), gr.Row():
        with gr.Column():
            video_in = gr.Video(label="Video", sources=["upload"], elem_id="video-in")
            gr.Markdown(f"Up to {settings.video_max_seconds} s, {settings.video_max_mb} MB "
                        f"({', '.join(s.lstrip('.') for s in VIDEO_SUFFIXES[:5])}, ...). Sound is kept.")
            video_style = gr.Dropdown(style_choices, value=fast_default(style_choices), label="Style", elem_id="video-style")
            video_side = gr.Slider(128, 1024, value=settings.video_max_side, step=32, label="Processing size (px)",
                                   info="Smaller is faster; the result keeps the video's own size.")
            video_sbs = gr.Checkbox(False, label="Side by side (original | anime)")
            video_smooth = gr.Checkbox(True, label="Reduce flicker", info="Blends with the motion-compensated previous "
                                       "frame; resets at scene cuts.")
            video_run = gr.Button("Convert video", variant="primary", elem_id="video-run")
        with gr.Column():
            video_out = gr.Video(label="Anime video", interactive=False, elem_id="video-out")
            video_file = gr.File(label="Download", interactive=False, elem_id="video-file")
            video_info = gr.Markdown(elem_id="video-info")

    @user_errors
    def convert(path: str | None, style: str, side: float, side_by_side: bool, smooth: bool,
                progress: gr.Progress = gr.Progress()) -> tuple[str, str, str]:  # noqa: B008
        if not path:
            raise gr.Error("Upload a video first.")
        out = new_dir() / f"{Path(path).stem[:40]}_{style}.mp4"
        options = VideoOptions(style=style, max_side=int(side), side_by_side=side_by_side,
                               smoothing=VideoOptions.smoothing if smooth else 0.0)
        result = engine.convert_video(path, out, options, gr_progress(progress))
        info = (f"{result.width}×{result.height}, {result.frames} frames at {float(result.fps):.3g} fps, "
                f"audio {result.audio}, {result.scene_cuts} scene cuts, took {result.seconds:.1f} s")
        return str(result.path), str(result.path), info

    video_run.click(convert, [video_in, video_style, video_side, video_sbs, video_smooth],
                    [video_out, video_file, video_info], api_name="video",
                    concurrency_id=CPU_SLOT, concurrency_limit=engine.concurrency)


def webcam_tab(engine: Engine, style_choices: list[tuple[str, str]], local: Any | None = None) -> None:
    """Live preview: camera frames stream to the server, stylized frames stream back; FPS shown.

    Each browser session gets its own LiveSession (in gr.State), which drops frames while busy. With private
    mode (``local``) the page makes the preview itself by default and this server path is the fallback.
    """
    settings = engine.settings
    with gr.Tab("Webcam", id="webcam"):
        if local is not None:
            gr.HTML(local.webcam_panel(), js_on_load=local.mount_js, elem_id="local-webcam")
        with gr.Column(elem_id="webcam-server"):
            with gr.Row():
                cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Camera", elem_id="webcam-in")
                live_out = gr.Image(label="Anime (live)", format="jpeg", interactive=False, elem_id="webcam-out")
            with gr.Row():
                live_style = gr.Dropdown(style_choices, value=fast_default(style_choices), label="Style", elem_id="webcam-style",
                                         info="Portrait (Cute) is the fastest; others may run at a few FPS.")
                live_side = gr.Dropdown(list(LIVE_SIDES), value=settings.live_side, label="Resolution (px)")
            live_fps = gr.Markdown("Start the camera to see the live preview.", elem_id="webcam-fps")
        live_state = gr.State(None)

    @user_errors
    def on_frame(frame: np.ndarray | None, style: str, side: int,
                 session: LiveSession | None) -> tuple[np.ndarray | None, str, LiveSession | None]:
        session = session or LiveSession(engine, style=style, side=int(side), mirror=True)  # Gradio mirrors the preview
        out = session.process(frame, style=style, side=int(side))
        return out, session.stats().summary, session

    cam.stream(on_frame, [cam, live_style, live_side, live_state], [live_out, live_fps, live_state],
               stream_every=WEBCAM_STREAM_EVERY, time_limit=600, concurrency_limit=4, show_progress="hidden",
               api_name="webcam_frame")


def build_app(engine: Engine, local: Any | None = None) -> gr.Blocks:
    """The whole UI over ``engine``; ``local`` (from :func:`local_runtime`) adds private mode. Launch it with
    :func:`launch` (theme and CSS are launch options in Gradio 6)."""
    settings = engine.settings
    cache = ResultCache(settings.cache_dir, settings.cache_mb << 20)
    scratch = Scratch()
    styles = engine.styles()
    ready = [s for s in styles if s.available]
    unavailable = [s for s in styles if not s.available]
    by_id = {s.spec.id: s for s in styles}
    previews = style_previews(settings)
    gallery_styles = [s for s in ready if s.spec.id in previews]
    default_style = ready[0].spec.id if ready else None

    @user_errors
    def stylize(image: str | None, style: str, face: str, upscale: int, max_side: float, full_res: bool, backend: str,
                upscaler: str | None = None, progress: gr.Progress = gr.Progress()) -> tuple[Any, str, str]:  # noqa: B008 (Gradio's progress idiom)
        if not image:
            raise gr.Error("Add a photo first: drop it on the left, paste it or click to browse.", print_exception=False)
        options = make_options(style, face, upscale, max_side, full_res, backend, upscaler)
        data = Path(image).read_bytes()
        job = stylize_job(engine, cache, data, Path(image).name, options, scratch.new_dir(), gr_progress(progress))
        pair = comparison_pair(data, job.png, settings.max_pixels)
        note = "from cache" if job.cached else f"in {job.seconds:.1f} s"
        status = f"✓ **{by_id[style].spec.label}**: {job.size[0]}×{job.size[1]} PNG, {note}."
        return pair, str(job.output), status

    @user_errors
    def batch(files: list[str] | None, style: str, face: str, upscale: int, max_side: float, full_res: bool, backend: str,
              upscaler: str | None = None,
              progress: gr.Progress = gr.Progress()) -> tuple[list[tuple[str, str]], str | None, list[list[str]]]:  # noqa: B008
        if not files:
            raise gr.Error("Add some images (or a .zip of images) first.", print_exception=False)
        options = make_options(style, face, upscale, max_side, full_res, backend, upscaler)
        inputs = expand_uploads([Path(f) for f in files], settings)
        if not inputs:
            raise gr.Error("No images found in the upload.", print_exception=False)
        result = run_batch(engine, cache, inputs, options, scratch.new_dir(), gr_progress(progress))
        gallery = [(str(i.output), i.name) for i in result.items if i.output]
        table = [[i.name, "✓ done" if i.ok else "✗ failed", i.message] for i in result.items]
        return gallery, (str(result.archive) if result.archive else None), table

    def pick_style(evt: gr.SelectData) -> str:
        return gallery_styles[evt.index].spec.id

    def show_style(style: str) -> tuple[str, Any, str]:
        st = by_id.get(style)
        index = next((i for i, s in enumerate(gallery_styles) if s.spec.id == style), None)
        return (style_card(st) if st else ""), gr.Gallery(selected_index=index), batch_note(st)

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        gr.HTML(f'<div id="hero"><h1>{BLOSSOM}{TITLE}</h1><p>Turn a photo into anime art in seconds: drop it in, '
                "pick a style, and drag the slider to compare.</p></div>")

        style_choices = [(s.spec.label, s.spec.id) for s in ready]
        with gr.Tabs():
            with gr.Tab("Stylize", id="stylize"), gr.Row(equal_height=False):
                with gr.Column(scale=6, min_width=320):
                    if local is not None:
                        private = gr.Checkbox(False, label="🔒 Process on this device", elem_id="private-switch",
                                              **control_state(local.feature(), "Private mode: the photo is stylized in "
                                                              "this browser and never uploaded"))
                        local_still = gr.HTML(local.still_panel(), visible=False, js_on_load=local.mount_js,
                                              elem_id="local-still")
                    image = photo_input("Your photo", height=340, elem_id="photo")
                    examples = gr.Examples([[str(p)] for p in EXAMPLES], inputs=[image], label="Or try an example")
                    gallery = gr.Gallery(
                        [(str(previews[s.spec.id]), s.spec.label) for s in gallery_styles], label="Style",
                        columns=4, height="auto", allow_preview=False, object_fit="cover", interactive=False,
                        selected_index=0 if gallery_styles else None, elem_id="style-gallery", buttons=[],
                    )
                    style = gr.Dropdown(style_choices, value=default_style, label="Style", show_label=False,
                                        container=False, elem_id="style-dropdown")
                    style_info = gr.Markdown(style_card(by_id[default_style]) if default_style else "", elem_id="style-info")
                    if not ready:
                        gr.Markdown(install_help(engine.weights, list(dict.fromkeys(s.spec.weights for s in unavailable))),
                                    elem_id="install-help")
                    if unavailable:
                        gr.HTML(unavailable_list(unavailable), elem_id="styles-off")
                    face, upscale_r, max_side, full_res, backend, upscaler = option_controls(engine)
                    run = gr.Button("✨ Animefy", variant="primary", size="lg", elem_id="run-btn", interactive=bool(ready))
                    if local is not None:
                        local_run = gr.Button("✨ Animefy on this device", variant="primary", size="lg",
                                              elem_id="local-run-btn", visible=False)
                with gr.Column(scale=5, min_width=320, elem_id="result-col"):
                    slider = gr.ImageSlider(label="Original ⟷ Anime (drag to compare)", format="png", type="pil",
                                            interactive=False, height=560, max_height=720, elem_id="result",
                                            buttons=["fullscreen"])
                    download = gr.File(label="Full-quality PNG (alpha kept)", interactive=False, elem_id="download")
                    status = gr.Markdown("", elem_id="status")

            with gr.Tab("Batch", id="batch"):
                gr.Markdown(f"Stylize many photos at once: pick image files or a **.zip** of images "
                            f"(up to {settings.batch_max_files} images, {settings.max_upload_mb} MB per file). "
                            "Style and options are the ones chosen on the *Stylize* tab.")
                batch_style = gr.Markdown(batch_note(by_id.get(default_style or "")), elem_id="batch-style")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=4, min_width=300):
                        files = gr.File(label="Images or .zip", file_count="multiple", type="filepath", height=220,
                                        file_types=["image", ".zip"], elem_id="batch-files")
                        run_batch_btn = gr.Button("✨ Animefy all", variant="primary", size="lg", interactive=bool(ready))
                        batch_zip = gr.File(label="All results (zip)", interactive=False, elem_id="batch-zip")
                    with gr.Column(scale=6, min_width=300):
                        batch_gallery = gr.Gallery(label="Results", columns=3, height=440, object_fit="contain",
                                                   format="png", elem_id="batch-gallery")
                batch_table = gr.Dataframe(headers=["File", "Status", "Details"], datatype=["str", "str", "str"],
                                           label="Per-file status", interactive=False, wrap=True, elem_id="batch-status",
                                           column_widths=["32%", "12%", "56%"])

            video_tab(engine, style_choices, scratch.new_dir)
            webcam_tab(engine, style_choices, local)

        gr.HTML(license_footer(engine))

        options = [style, face, upscale_r, max_side, full_res, backend, upscaler]
        ui_only: dict[str, Any] = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
        gallery.select(pick_style, None, style, **ui_only)
        style.change(show_style, style, [style_info, gallery, batch_style], **ui_only)
        full_res.change(lambda whole: gr.Slider(interactive=not whole), full_res, max_side, **ui_only)
        run.click(stylize, [image, *options], [slider, download, status], api_name="stylize",
                  concurrency_id=CPU_SLOT, concurrency_limit=engine.concurrency)
        run_batch_btn.click(batch, [files, *options], [batch_gallery, batch_zip, batch_table], api_name="batch",
                            concurrency_id=CPU_SLOT, concurrency_limit=engine.concurrency)
        if local is not None:  # private mode runs in the page: no server call, nothing uploaded
            private.change(None, private, [image, examples.dataset, run, local_still, local_run],
                           js=local.switch_js(3, 2), **ui_only)
            local_run.click(None, [style, max_side], [slider, download, status], js=local.still_run_js, **ui_only)
    demo.queue(max_size=queue_limit(settings), default_concurrency_limit=1)
    return demo


# ---- launching ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None, settings: Settings) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="app.py", description=f"{TITLE}: the web app.")
    p.add_argument("--host", default=None, help="interface to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    p.add_argument("--share", action="store_true", help="also create a temporary public gradio.live link (use --auth!)")
    p.add_argument("--auth", metavar="USER:PASS", help="require this login")
    p.add_argument("--max-side", type=int, default=settings.max_side, metavar="N",
                   help=f"default processing size, longest side in px (default {settings.max_side})")
    ray = p.add_argument_group("Ray cluster (needs requirements-ray.txt; see README, \"Scaling out\")")
    ray.add_argument("--ray", metavar="ADDRESS", help="run the work on Ray Serve: 'auto', 'local' or HOST:PORT")
    scale = ray.add_mutually_exclusive_group()
    scale.add_argument("--replicas", type=int, metavar="N", help="engine replicas (default: one per CPU of the cluster)")
    scale.add_argument("--autoscale", metavar="MIN:MAX", help="autoscale the replicas between MIN and MAX")
    args = p.parse_args(argv)
    if args.auth and ":" not in args.auth:
        p.error("--auth must be USER:PASS")
    if (args.replicas is not None or args.autoscale) and not args.ray:
        p.error("--replicas and --autoscale need --ray ADDRESS")
    return args


def launch(demo: gr.Blocks, settings: Settings, *, host: str | None = None, port: int | None = None, share: bool = False,
           auth: tuple[str, str] | None = None, block: bool = True, local: Any | None = None) -> None:
    """Start the server with our theme. ``share`` failing (offline) is reported and the local server keeps running.
    ``local`` (the one given to :func:`build_app`) adds private mode's routes and cross-origin isolation.

    ``block`` serves until SIGTERM (``docker stop``) or SIGINT (Ctrl-C), then stops and ends the process
    (:func:`stop`); it must be called from the main thread.
    """
    extra = local.launch_options() if local is not None else {}
    if block:  # before the server starts, so that a stop asked for during start-up is not lost
        stop_requested = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: stop_requested.set())
    demo.launch(
        server_name=host, server_port=port, share=share, auth=auth, theme=sakura_theme(),
        css=CSS + (local.css if local is not None else ""), ssr_mode=False,
        max_file_size=f"{settings.max_upload_mb}mb", show_error=False, prevent_thread_lock=True, quiet=False,
        footer_links=["api", "settings"], favicon_path=None, **extra,
    )
    if share and not demo.share_url:
        log.warning("Could not create the public share link (no internet connection, or the share server is "
                    "unreachable). The app is still running locally at %s", demo.local_url)
    if block:
        while not stop_requested.wait(0.05):  # polled: the signal handler only sets the event
            pass
        stop(demo)


def stop(demo: gr.Blocks, grace_s: float = STOP_GRACE_S) -> None:
    """Stop serving in about a second, then end the process: every running request is cancelled at its next
    progress step or inside its onnxruntime or OpenVINO model call (its client is told so; so is one that starts meanwhile),
    then the server closes. If a request is still running after ``grace_s`` (a PyTorch call cannot be
    cancelled), the process ends without it: nothing is left half-written (results and caches are written
    under a temporary name and renamed)."""
    log.info("stopping (%d request%s running)", REQUESTS.count(), "" if REQUESTS.count() == 1 else "s")
    REQUESTS.stopping.set()
    cancel_model_runs()
    deadline = time.monotonic() + grace_s
    while REQUESTS.count() and time.monotonic() < deadline:
        time.sleep(0.02)
    if REQUESTS.count():  # its thread is inside a PyTorch call, which cannot be interrupted
        log.warning("a request was still running %.1f s after the stop; exiting without it", grace_s)
    else:
        server = getattr(demo, "server", None)
        if server is not None:  # uvicorn: cancel what is still open (a live webcam stream) instead of waiting
            server.config.timeout_graceful_shutdown = 0.3
        demo.close(verbose=False)
        log.info("stopped")
    exit_now()


def exit_now() -> None:
    """End the process: exit handlers run (Gradio's share tunnel) and output is flushed, but the interpreter's
    teardown, which garbage-collects every loaded model and library (seconds on a busy machine), is skipped."""
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def ray_engine(settings: Settings, args: argparse.Namespace) -> Engine:
    """The engine on a Ray Serve deployment (imports Ray only here). Raises AnimeGANError."""
    from animegan.cluster.serve import serve_engine

    return serve_engine(settings, args.ray, replicas=args.replicas, autoscale=args.autoscale)


def main(argv: list[str] | None = None) -> int:
    # As PID 1 in a container, a signal without a handler is ignored: a stop during start-up ends it like Ctrl-C
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up probes
    try:
        settings = get_settings()
        args = parse_args(argv, settings)
        settings = settings.with_(max_side=args.max_side)
        engine = ray_engine(settings, args) if args.ray else Engine(settings)
    except AnimeGANError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.share and not args.auth:
        log.warning("--share makes this app reachable by anyone with the link; add --auth USER:PASS to require a login")
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    local = local_runtime(engine)
    try:
        launch(build_app(engine, local), settings, host=args.host, port=args.port, share=args.share, auth=auth,  # type: ignore[arg-type]
               local=local)
    except KeyboardInterrupt:
        log.info("stopped during start-up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
