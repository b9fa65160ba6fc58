"""What the app asks of the engine: one interface, run in this process (:class:`LocalService`) or on a cluster
(:class:`animegan.cluster.serve.ServeService`).

The catalogue, availability, settings and the live preview are always answered by a local
:class:`~animegan.pipeline.Engine` (no model is loaded for them); the heavy work (a still, a video) goes through
:meth:`Service.render` and :meth:`Service.convert_video`, which a cluster implementation sends elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .imageio import OutputFormat, Source
from .pipeline import Engine, StylizeOptions
from .progress import Progress, no_progress
from .video import VideoOptions, VideoResult, convert_video


class Service(Protocol):
    """The engine as the app sees it."""

    @property
    def engine(self) -> Engine:
        """The local engine: styles, features, settings, weights, live sessions, the browser runtime's models."""
        ...

    @property
    def concurrency(self) -> int:
        """How many stills, batches or videos may run at once."""
        ...

    def render(self, source: Source, options: StylizeOptions, fmt: OutputFormat = "png",
               progress: Progress = no_progress) -> bytes:
        """Decode, stylize and encode: the result file's bytes. Raises AnimeGANError."""
        ...

    def convert_video(self, source: str | Path, destination: str | Path, options: VideoOptions,
                      progress: Progress = no_progress) -> VideoResult:
        """Stylize a video file into ``destination``. Raises AnimeGANError."""
        ...


class LocalService:
    """Everything in this process: one job at a time, as each already uses every core."""

    concurrency = 1

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def render(self, source: Source, options: StylizeOptions, fmt: OutputFormat = "png",
               progress: Progress = no_progress) -> bytes:
        return self.engine.render(source, options, fmt, progress)

    def convert_video(self, source: str | Path, destination: str | Path, options: VideoOptions,
                      progress: Progress = no_progress) -> VideoResult:
        return convert_video(self.engine, source, destination, options, progress)
