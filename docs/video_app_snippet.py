"""Video and Webcam tabs for app.py — a self-contained snippet, NOT imported by anything.

The lead pastes ``video_tab`` and ``webcam_tab`` into app.py and calls them inside
``build_app(engine)``'s ``gr.Blocks`` (within its ``gr.Tabs``). They call only public animegan
APIs; all video/live logic lives in ``animegan.video`` and ``animegan.live``. Element ids
(``video-*``, ``webcam-*``) are what tests/e2e/test_webcam.py looks for. When pasting, drop the
local ``user_errors`` stand-in below (app.py has the real one) and pass the app's scratch folders:

    with gr.Blocks() as demo, gr.Tabs():
        ...                      # the photo tabs
        video_tab(engine, scratch.new_dir)
        webcam_tab(engine)
"""

from __future__ import annotations

import functools
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import numpy as np

from animegan import (
    FAST_STYLE,
    LIVE_SIDES,
    VIDEO_SUFFIXES,
    AnimeGANError,
    Engine,
    LiveSession,
    VideoOptions,
    convert_video,
)

log = logging.getLogger("animegan.app")
F = TypeVar("F", bound=Callable[..., Any])

WEBCAM_STREAM_EVERY = 0.05
"""Seconds between camera frames sent by the browser; the session drops what it cannot keep up with."""


def user_errors(fn: F) -> F:
    """Stand-in for app.py's one error translation (engine errors → their message, others → generic)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except AnimeGANError as err:
            raise gr.Error(str(err), print_exception=False) from err
        except Exception as err:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error("Something went wrong on our side; please try again.", print_exception=False) from err

    return wrapper  # type: ignore[return-value]


def _new_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="animegan-video-"))


def _style_choices(engine: Engine) -> list[tuple[str, str]]:
    return [(s.spec.label, s.spec.id) for s in engine.styles() if s.available]


def video_tab(engine: Engine, new_dir: Callable[[], Path] = _new_dir) -> None:
    """Upload → progress (frame i/n, fps, ETA) → playable result + download."""
    settings = engine.settings
    with gr.Tab("Video", id="video"), gr.Row():
        with gr.Column():
            video_in = gr.Video(label="Video", sources=["upload"], elem_id="video-in")
            gr.Markdown(f"Up to {settings.video_max_seconds} s, {settings.video_max_mb} MB "
                        f"({', '.join(s.lstrip('.') for s in VIDEO_SUFFIXES[:5])}, ...). Sound is kept.")
            video_style = gr.Dropdown(_style_choices(engine), value=FAST_STYLE, label="Style", elem_id="video-style")
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
        result = convert_video(engine, path, out, options, lambda f, m: progress(f, desc=m))
        info = (f"{result.width}×{result.height}, {result.frames} frames at {float(result.fps):.3g} fps, "
                f"audio {result.audio}, {result.scene_cuts} scene cuts, took {result.seconds:.1f} s")
        return str(result.path), str(result.path), info

    video_run.click(convert, [video_in, video_style, video_side, video_sbs, video_smooth],
                    [video_out, video_file, video_info], api_name="video", concurrency_limit=1)


def webcam_tab(engine: Engine) -> None:
    """Live preview: camera frames stream to the server, stylized frames stream back; FPS shown.

    Each browser session gets its own LiveSession (in gr.State), which drops frames while busy.
    """
    settings = engine.settings
    with gr.Tab("Webcam", id="webcam"):
        with gr.Row():
            cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Camera", elem_id="webcam-in")
            live_out = gr.Image(label="Anime (live)", format="jpeg", interactive=False, elem_id="webcam-out")
        with gr.Row():
            live_style = gr.Dropdown(_style_choices(engine), value=FAST_STYLE, label="Style", elem_id="webcam-style",
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
