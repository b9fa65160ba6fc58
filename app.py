"""AnimeGAN WebUI: the Gradio app, a thin UI layer over the ``animegan`` engine.

    python app.py [--host H] [--port P] [--share] [--auth USER:PASS] [--max-side N]
                  [--ray ADDRESS [--replicas N | --autoscale MIN:MAX]]

Tests import :func:`build_app`; the server starts only under ``__main__``.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import logging
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    Availability,
    Engine,
    LiveSession,
    LocalService,
    ResultCache,
    Scratch,
    Service,
    Settings,
    StyleSpec,
    StylizeOptions,
    VideoOptions,
    __version__,
    comparison_pair,
    expand_uploads,
    get_settings,
    install_help,
    preview_photo,
    queue_limit,
    run_batch,
    style_previews,
    stylize_job,
)
from webui.running import QuickExit, Report, Requests
from webui.theme import BLOSSOM, CSS, sakura_theme

log = logging.getLogger("animegan.app")

ROOT = Path(__file__).resolve().parent
EXAMPLES = sorted((ROOT / "examples").glob("*.png"))
TITLE = "AnimeGAN WebUI"
NO_PHOTO = "Add a photo first: drop it on the left, paste it or click to browse."
CPU_SLOT = "cpu"
"""Stylize, batch and video share one queue slot of ``service.concurrency`` jobs (1 locally: each job already uses
every core; one per replica with ``--ray``). The queue in front of it holds :func:`animegan.jobs.queue_limit` users."""
UI_ONLY: dict[str, Any] = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
"""Events that only change the page: no queue, no API endpoint, no progress bar."""
WEBCAM_STREAM_EVERY = 0.05
"""Seconds between camera frames sent by the browser; the session drops what it cannot keep up with."""
STOP_GRACE_S = 0.5
"""After SIGTERM/SIGINT, how long running requests get to reach their next step and end cancelled; then the
process exits anyway (``docker stop`` waits 10 s before SIGKILL; with podman's own ~0.6 s we stay under 2 s)."""
CLOSE_TIMEOUT_S = 0.3
"""How long a stop waits for the server to close its connections; one still open (a live webcam stream) is cut."""

PREVIEW_SIDE = 384
"""Longest side of the pictures "Try every style" shows (and of what their models see)."""





# ---- small adapters between component values and the engine ---------------------------------------


@dataclass(frozen=True)
class Catalogue:
    """The styles as the page shows them: all of them with their availability, in registry order."""

    styles: list[Availability[StyleSpec]]
    previews: dict[str, Path]
    """A thumbnail per available style id (:func:`animegan.style_previews`)."""

    @classmethod
    def of(cls, engine: Engine) -> Catalogue:
        return cls(engine.styles(), style_previews(engine.settings))

    @property
    def by_id(self) -> dict[str, Availability[StyleSpec]]:
        return {s.item.id: s for s in self.styles}

    @property
    def ready(self) -> list[Availability[StyleSpec]]:
        return [s for s in self.styles if s.available]

    @property
    def unavailable(self) -> list[Availability[StyleSpec]]:
        return [s for s in self.styles if not s.available]

    @property
    def gallery(self) -> list[Availability[StyleSpec]]:
        """The styles of the picture gallery: available ones with a thumbnail."""
        return [s for s in self.ready if s.item.id in self.previews]

    @property
    def choices(self) -> list[tuple[str, str]]:
        """(label, id) of every available style, for a dropdown."""
        return [(s.item.label, s.item.id) for s in self.ready]

    @property
    def default(self) -> str | None:
        return self.ready[0].item.id if self.ready else None

    def fast_default(self) -> str | None:
        """The fastest style where it is installed, else the first one there is (None with no style installed)."""
        ids = [s.item.id for s in self.ready]
        return FAST_STYLE if FAST_STYLE in ids else next(iter(ids), None)


def make_options(style: str, face: Any, upscale: int | str, max_side: float, full_res: bool, backend: Any,
                 upscaler: str | None = None, keep_colors: bool = False) -> StylizeOptions:
    """Component values → checked StylizeOptions (raises UnknownStyleError / InvalidOptionError)."""
    return StylizeOptions(style=style, face=face, upscale=int(upscale), max_side=None if full_res else int(max_side),
                          backend=backend, upscaler=upscaler or None, keep_colors=bool(keep_colors))


def photo_input(label: str, height: int, elem_id: str) -> gr.Image:
    """An image upload whose file reaches the engine as it is, so a bad file gets the engine's clear message and
    alpha, bit depth and EXIF arrive intact.

    The one place that changes how Gradio handles a component, by replacing this instance's ``preprocess``: in
    Gradio 6.31, ``gr.Image.preprocess`` (``gradio.image_utils.preprocess_image``) opens every upload with PIL even
    with ``type="filepath"`` and ``image_mode=None``, so a file PIL cannot read fails with Gradio's generic error
    before our handler runs. No public option passes the upload through unopened: ``preprocess=False`` on the event
    would also skip the choice checks of the other inputs, and a ``gr.Image`` subclass makes Gradio's
    ``ComponentMeta`` write a ``.pyi`` copy of the module that defines it. Pasted images (``data:`` URLs) are still
    decoded by Gradio.
    """
    image = gr.Image(label=label, type="filepath", image_mode=None, sources=["upload", "clipboard"], height=height,
                     elem_id=elem_id)
    decode_in_gradio = image.preprocess

    def preprocess(payload: Any) -> Any:
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        return decode_in_gradio(payload)

    image.preprocess = preprocess  # type: ignore[method-assign]  # an instance override: see the docstring
    return image


def control_state(state: Availability[Any], info: str) -> dict[str, Any]:
    """``interactive``/``info`` of a control whose backend may be missing: disabled, saying why, never broken."""
    if state.available:
        return {"interactive": True, "info": info}
    return {"interactive": False, "info": f"Unavailable: {state.reason}"}


@dataclass(frozen=True)
class OptionControls:
    """The Stylize tab's options, which the Batch tab shares; :meth:`values` lists them in the order of the
    ``/stylize`` and ``/batch`` parameters after the style."""

    face: gr.Radio
    upscale: gr.Radio
    max_side: gr.Slider
    full_res: gr.Checkbox
    backend: gr.Dropdown
    upscaler: gr.Dropdown
    keep_colors: gr.Checkbox

    def values(self) -> list[gr.Component]:
        return [self.face, self.upscale, self.max_side, self.full_res, self.backend, self.upscaler, self.keep_colors]


def option_controls(engine: Engine) -> OptionControls:
    """Face mode, upscale, keeping the photo's colours, processing size, full resolution, backend and upscaler model;
    defaults come from the engine."""
    settings = engine.settings
    features = engine.features()
    faces, upscale = features["faces"], features["upscale"]
    with gr.Row(elem_classes="opt-row", elem_id="server-options"):
        face = gr.Radio(list(FACE_MODES), value="auto" if faces.available else "off", label="Face mode",
                        **control_state(faces, "auto: only when faces are found"))
        upscale_r = gr.Radio([(f"{n}×", n) for n in UPSCALES], value=1, label="Upscale",
                             **control_state(upscale, "Real-ESRGAN super-resolution after stylizing"))
        keep_colors = gr.Checkbox(StylizeOptions.keep_colors, label="Keep my photo's colours",
                                  info="The style's lines and light, your photo's colours", elem_id="keep-colors")
    with gr.Row(equal_height=True, elem_classes="opt-row"):
        max_side = gr.Slider(min(256, settings.max_side), max(2048, settings.max_side), value=settings.max_side, step=64,
                             label="Processing size (px)", scale=3, min_width=220,
                             info="Longest side the model sees; smaller is faster. The result keeps your photo's size.")
        full_res = gr.Checkbox(False, label="Full resolution", info="Every pixel, in tiles (slower)", scale=1, min_width=140,
                               elem_id="full-res")
    with gr.Accordion("Advanced", open=False, elem_id="advanced"):
        backend = gr.Dropdown(list(BACKEND_NAMES), value="auto", label="Inference backend",
                              info="auto: the fastest that passes the quality guard, measured on this CPU")
        models = [u for u in engine.upscalers.statuses() if u.available]
        default = DEFAULT_UPSCALER if any(u.item.id == DEFAULT_UPSCALER for u in models) else None
        upscaler = gr.Dropdown([(f"{u.item.label} ({u.item.cost})", u.item.id) for u in models], value=default,
                               label="Upscaler model", **control_state(upscale, "used when Upscale is above 1×"))
    return OptionControls(face, upscale_r, max_side, full_res, backend, upscaler, keep_colors)


def style_card(status: Availability[StyleSpec]) -> str:
    spec = status.item
    return f"**{spec.label}** · {spec.family} · {spec.cost}  \n{spec.description}"


def batch_note(status: Availability[StyleSpec] | None) -> str:
    return f"Style: **{status.item.label}**" if status else "No style is available on this server."


def unavailable_list(styles: list[Availability[StyleSpec]]) -> str:
    items = "".join(f"<li aria-disabled='true'><b>{html.escape(s.item.label)}</b>: {html.escape(s.reason)}</li>" for s in styles)
    return f"<p><b>Not available on this server</b></p><ul class='style-off'>{items}</ul>"


def license_footer(catalogue: Catalogue) -> str:
    groups: dict[str, list[str]] = {}
    for st in catalogue.styles:
        groups.setdefault(st.license, []).append(st.item.label)
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


# ---- the app: its state and its actions ------------------------------------------------------------


class WebApp:
    """One app: the service, the result cache and scratch folders its users share, the requests running now, and
    the page (:attr:`blocks`, filled in by :func:`build_app`), which :func:`launch` serves and :func:`stop` ends.

    Its methods are the named API endpoints; each runs as one tracked request.
    """

    def __init__(self, service: Service, local: Any | None = None) -> None:
        settings = service.engine.settings
        self.service = service
        self.local = local
        self.catalogue = Catalogue.of(service.engine)
        self.cache = ResultCache(settings.cache_dir, settings.cache_mb << 20)
        self.scratch = Scratch()
        self.requests = Requests(service.concurrency)
        self.blocks = gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(1800, 3600))

    @property
    def settings(self) -> Settings:
        return self.service.engine.settings

    def get_config_file(self) -> dict[str, Any]:
        """The page's configuration, as Gradio serves it at ``/config``."""
        return dict(self.blocks.get_config_file())

    async def stylize(self, image: str | None, style: str, face: str, upscale: int, max_side: float, full_res: bool,
                      backend: str, upscaler: str | None = None, keep_colors: bool = False, request: gr.Request | None = None,
                      progress: gr.Progress = gr.Progress()) -> tuple[Any, str, str]:  # noqa: B008 (Gradio's progress idiom)
        def work(report: Report) -> tuple[Any, str, str]:
            if not image:
                raise gr.Error(NO_PHOTO, print_exception=False)
            options = make_options(style, face, upscale, max_side, full_res, backend, upscaler, keep_colors)
            data = Path(image).read_bytes()
            job = stylize_job(self.service, self.cache, data, Path(image).name, options, self.scratch.new_dir(), report)
            pair = comparison_pair(data, job.png, self.settings.max_pixels)
            note = "from cache" if job.cached else f"in {job.seconds:.1f} s"
            label = self.catalogue.by_id[style].item.label
            return pair, str(job.output), f"✓ **{label}**: {job.size[0]}×{job.size[1]} PNG, {note}."

        return await self.requests.run("stylize", request, progress, work)

    async def batch(self, files: list[str] | None, style: str, face: str, upscale: int, max_side: float, full_res: bool,
                    backend: str, upscaler: str | None = None, keep_colors: bool = False, request: gr.Request | None = None,
                    progress: gr.Progress = gr.Progress()) -> tuple[list[tuple[str, str]], str | None, list[list[str]]]:  # noqa: B008
        def work(report: Report) -> tuple[list[tuple[str, str]], str | None, list[list[str]]]:
            if not files:
                raise gr.Error("Add some images (or a .zip of images) first.", print_exception=False)
            options = make_options(style, face, upscale, max_side, full_res, backend, upscaler, keep_colors)
            inputs = expand_uploads([Path(f) for f in files], self.settings)
            if not inputs:
                raise gr.Error("No images found in the upload.", print_exception=False)
            result = run_batch(self.service, self.cache, inputs, options, self.scratch.new_dir(), report)
            gallery = [(str(i.output), i.name) for i in result.items if i.output]
            table = [[i.name, "✓ done" if i.ok else "✗ failed", i.message] for i in result.items]
            return gallery, (str(result.archive) if result.archive else None), table

        return await self.requests.run("batch", request, progress, work)

    async def all_styles(self, image: str | None, face: str, backend: str, keep_colors: bool = False,
                         request: gr.Request | None = None,
                         progress: gr.Progress = gr.Progress()) -> AsyncIterator[list[tuple[str, str]]]:  # noqa: B008
        """The photo in every available style, the fastest first, at :data:`PREVIEW_SIDE` (no upscaling): the
        growing gallery of (preview PNG, style id) after each style. Each result goes through the result cache."""
        if not image:
            raise gr.Error(NO_PHOTO, print_exception=False)
        styles = self.service.engine.styles_fastest_first()
        if not styles:
            raise gr.Error(batch_note(None), print_exception=False)
        out_dir = self.scratch.new_dir()
        small: list[bytes] = []  # the photo at the preview size, made once by the first style's work

        def preview(i: int, spec: StyleSpec) -> Callable[[Report], tuple[str, str]]:
            def work(report: Report) -> tuple[str, str]:
                step = f"{i + 1}/{len(styles)}: {spec.label}"
                if not small:
                    small.append(preview_photo(Path(image).read_bytes(), PREVIEW_SIDE, self.settings.max_pixels))
                options = make_options(spec.id, face, 1, PREVIEW_SIDE, False, backend, None, keep_colors)
                job = stylize_job(self.service, self.cache, small[0], Path(image).name, options, out_dir,
                                  lambda fraction, message: report((i + fraction) / len(styles), step))
                return str(job.output), spec.id

            return work

        gallery: list[tuple[str, str]] = []
        async for item in self.requests.run_each("all_styles", request, progress, map(preview, range(len(styles)), styles)):
            gallery.append(item)
            yield list(gallery)

    async def video(self, path: str | None, style: str, side: float, side_by_side: bool, smooth: bool,
                    request: gr.Request | None = None,
                    progress: gr.Progress = gr.Progress()) -> tuple[str, str, str]:  # noqa: B008
        def work(report: Report) -> tuple[str, str, str]:
            if not path:
                raise gr.Error("Upload a video first.")
            out = self.scratch.new_dir() / f"{Path(path).stem[:40]}_{style}.mp4"
            options = VideoOptions(style=style, max_side=int(side), side_by_side=side_by_side,
                                   smoothing=VideoOptions.smoothing if smooth else 0.0)
            result = self.service.convert_video(path, out, options, report)
            info = (f"{result.width}×{result.height}, {result.frames} frames at {float(result.fps):.3g} fps, "
                    f"audio {result.audio}, {result.scene_cuts} scene cuts, took {result.seconds:.1f} s")
            return str(result.path), str(result.path), info

        return await self.requests.run("video", request, progress, work)

    def webcam_frame(self, frame: np.ndarray | None, style: str, side: int,
                     session: LiveSession | None) -> tuple[np.ndarray | None, str, LiveSession | None]:
        with self.requests.tracked("webcam_frame"):  # one LiveSession per browser (in gr.State); it drops frames while busy
            # mirrored, as Gradio shows the camera preview
            session = session or LiveSession(self.service.engine, style=style, side=int(side), mirror=True)
            out = session.process(frame, style=style, side=int(side))
            return out, session.stats().summary, session


# ---- the page: one function per tab --------------------------------------------------------------

HERO = (f'<div id="hero"><h1>{BLOSSOM}{TITLE}</h1><p>Turn a photo into anime art in seconds: drop it in, '
        "pick a style, and drag the slider to compare.</p></div>")


@dataclass(frozen=True)
class StylePicker:
    """The Stylize tab's style controls; the Batch tab uses the style chosen there."""

    gallery: gr.Gallery
    dropdown: gr.Dropdown
    card: gr.Markdown


def style_picker(app: WebApp) -> StylePicker:
    """Thumbnails to click, the same styles as a dropdown, the chosen one's card, and why the others are off."""
    catalogue = app.catalogue
    gallery = gr.Gallery(
        [(str(catalogue.previews[s.item.id]), s.item.label) for s in catalogue.gallery], label="Style",
        columns=4, height="auto", allow_preview=False, object_fit="cover", interactive=False,
        selected_index=0 if catalogue.gallery else None, elem_id="style-gallery", buttons=[],
    )
    dropdown = gr.Dropdown(catalogue.choices, value=catalogue.default, label="Style", show_label=False,
                           container=False, elem_id="style-dropdown")
    default = catalogue.by_id.get(catalogue.default or "")
    card = gr.Markdown(style_card(default) if default else "", elem_id="style-info")
    if not catalogue.ready:
        missing = list(dict.fromkeys(s.item.weights for s in catalogue.unavailable))
        gr.Markdown(install_help(app.service.engine.weights, missing), elem_id="install-help")
    if catalogue.unavailable:
        gr.HTML(unavailable_list(catalogue.unavailable), elem_id="styles-off")
    return StylePicker(gallery, dropdown, card)


def stylize_tab(app: WebApp) -> tuple[StylePicker, list[gr.Component]]:
    """Photo, style and options on the left; the compare slider, the PNG and a status line on the right.
    Returns the style picker and the option components, which the Batch tab shares."""
    local = app.local
    with gr.Tab("Stylize", id="stylize"), gr.Row(equal_height=False):
        with gr.Column(scale=6, min_width=320):
            if local is not None:
                private = gr.Checkbox(False, label="🔒 Process on this device", elem_id="private-switch",
                                      **control_state(local.feature(), "Private mode: the photo is stylized in "
                                                      "this browser and never uploaded"))
                local_still = gr.HTML(local.still_panel(), visible=False, js_on_load=local.mount_js, elem_id="local-still")
            image = photo_input("Your photo", height=340, elem_id="photo")
            examples = gr.Examples([[str(p)] for p in EXAMPLES], inputs=[image], label="Or try an example")
            picker = style_picker(app)
            controls = option_controls(app.service.engine)
            run = gr.Button("✨ Animefy", variant="primary", size="lg", elem_id="run-btn",
                            interactive=bool(app.catalogue.ready))
            if local is not None:
                local_run = gr.Button("✨ Animefy on this device", variant="primary", size="lg", elem_id="local-run-btn",
                                      visible=False)
            every = every_style_panel(app)
        with gr.Column(scale=5, min_width=320, elem_id="result-col"):
            slider = gr.ImageSlider(label="Original ⟷ Anime (drag to compare)", format="png", type="pil",
                                    interactive=False, height=560, max_height=720, elem_id="result", buttons=["fullscreen"])
            download = gr.File(label="Full-quality PNG (alpha kept)", interactive=False, elem_id="download")
            status = gr.Markdown("", elem_id="status")

    options: list[gr.Component] = [picker.dropdown, *controls.values()]
    result: list[gr.Component] = [slider, download, status]
    controls.full_res.change(lambda whole: gr.Slider(interactive=not whole), controls.full_res, controls.max_side, **UI_ONLY)
    follow_style_size(app.catalogue, picker.dropdown, controls.max_side, app.settings.max_side)
    run.click(app.stylize, [image, *options], result, api_name="stylize",
              concurrency_id=CPU_SLOT, concurrency_limit=app.service.concurrency)
    wire_every_style(app, every, [image, controls.face, controls.backend, controls.keep_colors], picker.dropdown,
                     [image, *options], result)
    if local is not None:  # private mode runs in the page: no server call, nothing uploaded
        private.change(None, private, [image, examples.dataset, run, every.panel, local_still, local_run],
                       js=local.switch_js(4, 2), **UI_ONLY)
        local_run.click(None, [picker.dropdown, controls.max_side], result, js=local.still_run_js, **UI_ONLY)
    return picker, options


@dataclass(frozen=True)
class EveryStyle:
    """The Stylize tab's "Try every style" panel: start and stop, the previews, and the line showing their progress."""

    panel: gr.Column
    start: gr.Button
    stop: gr.Button
    gallery: gr.Gallery
    note: gr.Markdown


def every_style_panel(app: WebApp) -> EveryStyle:
    """The button rendering the photo in every style, its Stop button (shown while it runs), and the previews."""
    ready = app.catalogue.ready
    with gr.Column(elem_id="every-style") as panel:
        with gr.Row():
            start = gr.Button("🎨 Try every style", variant="secondary", elem_id="all-styles-btn", interactive=bool(ready))
            stop = gr.Button("■ Stop", variant="stop", visible=False, elem_id="all-styles-stop")
        gallery = gr.Gallery(label="Every style: click one for the full result", columns=4, fit_columns=False,
                             allow_preview=False, object_fit="contain", interactive=False, format="png", visible=False,
                             elem_id="all-styles", buttons=[])
        note = gr.Markdown(f"Your photo in each of the {len(ready)} styles at {PREVIEW_SIDE} px, the fastest first; "
                           "click one to render it at full quality with the options above.", elem_id="all-styles-status")
    return EveryStyle(panel, start, stop, gallery, note)


def wire_every_style(app: WebApp, every: EveryStyle, inputs: list[gr.Component], style: gr.Dropdown,
                     stylize_inputs: list[gr.Component], result: list[gr.Component]) -> None:
    """Start renders the previews (``/all_styles``) in the CPU slot, Stop cancels them; a click on a preview picks
    its style and renders it as the Animefy button does."""

    def running(on: bool) -> tuple[Any, Any]:
        return gr.Button(visible=not on), gr.Button(visible=on)

    def pick_preview(evt: gr.SelectData) -> str:
        return str(evt.value["caption"])

    started = every.start.click(lambda: (*running(True), gr.Gallery(visible=True)), None,
                                [every.start, every.stop, every.gallery], **UI_ONLY)
    rendering = started.then(app.all_styles, inputs, every.gallery, api_name="all_styles", show_progress_on=[every.note],
                             concurrency_id=CPU_SLOT, concurrency_limit=app.service.concurrency)
    rendering.then(lambda: running(False), None, [every.start, every.stop], **UI_ONLY)
    every.stop.click(lambda: running(False), None, [every.start, every.stop], cancels=[rendering], **UI_ONLY)
    every.gallery.select(pick_preview, None, style, **UI_ONLY).success(
        app.stylize, stylize_inputs, result, api_visibility="private", concurrency_id=CPU_SLOT,
        concurrency_limit=app.service.concurrency)


def batch_tab(app: WebApp, options: list[gr.Component]) -> gr.Markdown:
    """Many files or zips with the Stylize tab's style and ``options``: a gallery, one zip and a per-file status
    table. Returns the note naming the style, which follows the Stylize tab's choice."""
    settings, catalogue = app.settings, app.catalogue
    with gr.Tab("Batch", id="batch"):
        gr.Markdown(f"Stylize many photos at once: pick image files or a **.zip** of images "
                    f"(up to {settings.batch_max_files} images, {settings.max_upload_mb} MB per file). "
                    "Style and options are the ones chosen on the *Stylize* tab.")
        style_note = gr.Markdown(batch_note(catalogue.by_id.get(catalogue.default or "")), elem_id="batch-style")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300):
                files = gr.File(label="Images or .zip", file_count="multiple", type="filepath", height=220,
                                file_types=["image", ".zip"], elem_id="batch-files")
                run = gr.Button("✨ Animefy all", variant="primary", size="lg", interactive=bool(catalogue.ready),
                                elem_id="batch-run")
                archive = gr.File(label="All results (zip)", interactive=False, elem_id="batch-zip")
            with gr.Column(scale=6, min_width=300):
                gallery = gr.Gallery(label="Results", columns=3, height=440, object_fit="contain", format="png",
                                     elem_id="batch-gallery")
        table = gr.Dataframe(headers=["File", "Status", "Details"], datatype=["str", "str", "str"],
                             label="Per-file status", interactive=False, wrap=True, elem_id="batch-status",
                             column_widths=["32%", "12%", "56%"])
    run.click(app.batch, [files, *options], [gallery, archive, table], api_name="batch",
              concurrency_id=CPU_SLOT, concurrency_limit=app.service.concurrency)
    return style_note


def video_tab(app: WebApp) -> None:
    """Upload → progress (frame i/n, fps, ETA) → playable result + download."""
    settings, choices = app.settings, app.catalogue.choices
    with gr.Tab("Video", id="video"), gr.Row():
        with gr.Column():
            video_in = gr.Video(label="Video", sources=["upload"], elem_id="video-in")
            gr.Markdown(f"Up to {settings.video_max_seconds} s, {settings.video_max_mb} MB "
                        f"({', '.join(s.lstrip('.') for s in VIDEO_SUFFIXES[:5])}, ...). Sound is kept.")
            style = gr.Dropdown(choices, value=app.catalogue.fast_default(), label="Style", elem_id="video-style")
            side = gr.Slider(128, 1024, value=settings.video_max_side, step=32, label="Processing size (px)",
                             info="Smaller is faster; the result keeps the video's own size.")
            side_by_side = gr.Checkbox(False, label="Side by side (original | anime)")
            smooth = gr.Checkbox(True, label="Reduce flicker", info="Blends with the motion-compensated previous "
                                 "frame; resets at scene cuts.")
            run = gr.Button("Convert video", variant="primary", elem_id="video-run")
        with gr.Column():
            video_out = gr.Video(label="Anime video", interactive=False, elem_id="video-out")
            video_file = gr.File(label="Download", interactive=False, elem_id="video-file")
            info = gr.Markdown(elem_id="video-info")
    run.click(app.video, [video_in, style, side, side_by_side, smooth], [video_out, video_file, info], api_name="video",
              concurrency_id=CPU_SLOT, concurrency_limit=app.service.concurrency)


def webcam_tab(app: WebApp) -> None:
    """Live preview: camera frames stream to the server, stylized frames stream back; FPS shown. With private
    mode the page makes the preview itself by default and this server path is the fallback."""
    local, choices = app.local, app.catalogue.choices
    with gr.Tab("Webcam", id="webcam"):
        if local is not None:
            gr.HTML(local.webcam_panel(), js_on_load=local.mount_js, elem_id="local-webcam")
        with gr.Column(elem_id="webcam-server"):
            with gr.Row():
                cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Camera", elem_id="webcam-in")
                live_out = gr.Image(label="Anime (live)", format="jpeg", interactive=False, elem_id="webcam-out")
            with gr.Row():
                style = gr.Dropdown(choices, value=app.catalogue.fast_default(), label="Style", elem_id="webcam-style",
                                    info="Portrait (Cute) is the fastest; others may run at a few FPS.")
                side = gr.Dropdown(list(LIVE_SIDES), value=app.settings.live_side, label="Resolution (px)")
            fps = gr.Markdown("Start the camera to see the live preview.", elem_id="webcam-fps")
        session = gr.State(None)
    cam.stream(app.webcam_frame, [cam, style, side, session], [live_out, fps, session], stream_every=WEBCAM_STREAM_EVERY,
               time_limit=600, concurrency_limit=4, show_progress="hidden", api_name="webcam_frame")


def build_app(service: Service, local: Any | None = None) -> WebApp:
    """The whole UI over ``service``; ``local`` (from :func:`local_runtime`) adds private mode. Serve it with
    :func:`launch` (theme and CSS are launch options in Gradio 6)."""
    app = WebApp(service, local)
    with app.blocks:
        gr.HTML(HERO)
        with gr.Tabs():
            picker, options = stylize_tab(app)
            batch_style = batch_tab(app, options)
            video_tab(app)
            webcam_tab(app)
        gr.HTML(license_footer(app.catalogue))
        wire_style_picker(app.catalogue, picker, batch_style)
        app.blocks.unload(app.requests.client_left)
    app.blocks.queue(max_size=queue_limit(app.settings), default_concurrency_limit=1)
    return app


def wire_style_picker(catalogue: Catalogue, picker: StylePicker, batch_style: gr.Markdown) -> None:
    """A click on a thumbnail picks its style; a picked style updates its card, the gallery and the Batch tab."""
    styles = catalogue.gallery
    by_id = catalogue.by_id

    def pick_style(evt: gr.SelectData) -> str:
        return styles[evt.index].item.id

    def show_style(style: str) -> tuple[str, Any, str]:
        st = by_id.get(style)
        index = next((i for i, s in enumerate(styles) if s.item.id == style), None)
        return (style_card(st) if st else ""), gr.Gallery(selected_index=index), batch_note(st)

    picker.gallery.select(pick_style, None, picker.dropdown, **UI_ONLY)
    picker.dropdown.change(show_style, picker.dropdown, [picker.card, picker.gallery, batch_style], **UI_ONLY)


def follow_style_size(catalogue: Catalogue, dropdown: gr.Dropdown, max_side: gr.Slider, default_side: int) -> None:
    """A picked style sets the processing size to its own where it has one (a slow style's smaller size), else to
    ``default_side``; the user can move it afterwards."""

    def size_of(style: str) -> Any:
        st = catalogue.by_id.get(style)
        return gr.Slider(value=(st.item.default_side if st else None) or default_side)

    dropdown.change(size_of, dropdown, max_side, **UI_ONLY)


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


def launch(app: WebApp, *, host: str | None = None, port: int | None = None, share: bool = False,
           auth: tuple[str, str] | None = None, block: bool = True) -> None:
    """Start the server with our theme. ``share`` failing (offline) is reported and the local server keeps running.
    Private mode (when the app has it) adds its routes and cross-origin isolation.

    ``block`` serves until SIGTERM (``docker stop``) or SIGINT (Ctrl-C), then stops the app (:func:`stop`) and
    returns; it must be called from the main thread.
    """
    local = app.local
    extra = local.launch_options() if local is not None else {}
    if block:  # before the server starts, so that a stop asked for during start-up is not lost
        stop_requested = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: stop_requested.set())
    app.blocks.launch(
        server_name=host, server_port=port, share=share, auth=auth, theme=sakura_theme(),
        css=CSS + (local.css if local is not None else ""), ssr_mode=False,
        max_file_size=f"{app.settings.max_upload_mb}mb", show_error=False, prevent_thread_lock=True, quiet=False,
        footer_links=["api", "settings"], favicon_path=None, **extra,
    )
    if share and not app.blocks.share_url:
        log.warning("Could not create the public share link (no internet connection, or the share server is "
                    "unreachable). The app is still running locally at %s", app.blocks.local_url)
    if block:
        while not stop_requested.wait(0.05):  # polled: the signal handler only sets the event
            pass
        stop(app)


def stop(app: WebApp, grace_s: float = STOP_GRACE_S) -> None:
    """Stop serving in about a second: every running request is cancelled at its next progress step or inside its
    onnxruntime or OpenVINO model call (its client is told so; so is one that starts meanwhile), then the server
    closes. A request still running after ``grace_s`` (a PyTorch call cannot be cancelled) is left behind, and so is
    the server, for the process to end: nothing is half-written (results and caches are written under a temporary
    name and renamed)."""
    running = app.requests.count()
    log.info("stopping (%d request%s running)", running, "" if running == 1 else "s")
    if not app.requests.stop(grace_s):
        log.warning("a request was still running %.1f s after the stop; exiting without it", grace_s)
        return
    # Gradio's close waits for every open connection (a live webcam stream) before it returns; not more than this
    closing = threading.Thread(target=app.blocks.close, kwargs={"verbose": False}, name="close-server", daemon=True)
    closing.start()
    closing.join(CLOSE_TIMEOUT_S)
    log.info("stopped")


def ray_service(settings: Settings, args: argparse.Namespace) -> Service:
    """The app's service on a Ray Serve deployment (imports Ray only here). Raises AnimeGANError."""
    from animegan.cluster.serve import serve_service

    return serve_service(settings, args.ray, replicas=args.replicas, autoscale=args.autoscale)


def main(argv: list[str] | None = None) -> int:
    # As PID 1 in a container, a signal without a handler is ignored: a stop during start-up ends it like Ctrl-C
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up probes
    quick_exit = QuickExit()
    try:
        settings = get_settings()
        args = parse_args(argv, settings)
        settings = settings.with_(max_side=args.max_side)
        service = ray_service(settings, args) if args.ray else LocalService(Engine(settings))
    except AnimeGANError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.share and not args.auth:
        log.warning("--share makes this app reachable by anyone with the link; add --auth USER:PASS to require a login")
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    try:
        launch(build_app(service, local_runtime(service.engine)), host=args.host, port=args.port, share=args.share,
               auth=auth)
    except KeyboardInterrupt:
        log.info("stopped during start-up")
        return 0
    quick_exit.arm()
    return 0


if __name__ == "__main__":
    sys.exit(main())
