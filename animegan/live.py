"""Live webcam stylization: one :class:`LiveSession` per viewer, dropping frames instead of queueing them.

A camera produces frames faster than a CPU can stylize them. Queueing would make the preview lag
further and further behind, so :meth:`LiveSession.process` never waits: if the session is still busy
with an earlier frame it returns the last finished output at once and counts the frame as dropped.
Frames are stylized at a reduced size (``Settings.live_side``, longer side) with the fastest style
by default, and lightly stabilized over time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .backends import BackendName
from .errors import InvalidOptionError
from .pipeline import Engine, StylizeOptions, finish
from .resample import fit_within, resize
from .temporal import Stabilizer

FAST_STYLE = "cute"
"""The fastest style (AnimeGANv3 tiny, ~50 ms at 256² on 2 cores): the live default."""
LIVE_SIDES = (128, 192, 256, 320, 384, 448, 512)
"""Live processing sizes offered, on the server and in the browser (longer side, pixels)."""
LIVE_SMOOTHING = 0.5
"""Lighter than for video files: a live preview reacts to motion first."""
FPS_WINDOW_S = 2.0


@dataclass(frozen=True)
class LiveStats:
    """Throughput of a session: finished frames per second over the last ~2 s, and per-frame latency."""

    fps: float
    latency_ms: float
    processed: int
    dropped: int
    style: str
    side: int

    @property
    def summary(self) -> str:
        """One line for a UI readout, e.g. "14.2 FPS · 63 ms/frame · 256 px · 3 dropped"."""
        return f"{self.fps:.1f} FPS · {self.latency_ms:.0f} ms/frame · {self.side} px · {self.dropped} dropped"


class LiveSession:
    """Stylizes a stream of camera frames for one viewer. Safe to call from several threads at once.

    ``style`` defaults to the fastest style; ``side`` (longer side of the processing size) to
    ``engine.settings.live_side``; ``smoothing`` 0 turns temporal stabilisation off; ``mirror`` flips
    outputs left-right (selfie view, to match a mirrored camera preview); ``backend`` as in StylizeOptions.
    Raises UnknownStyleError / InvalidOptionError for bad arguments and WeightsError when the
    style's weights are unusable (the model is loaded here, not on the first frame).
    """

    def __init__(self, engine: Engine, style: str = FAST_STYLE, side: int | None = None,
                 smoothing: float = LIVE_SMOOTHING, mirror: bool = False, backend: BackendName = "auto") -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._finished: deque[float] = deque()
        self._latency_ms = 0.0
        self._processed = 0
        self._dropped = 0
        self._last: npt.NDArray[np.uint8] | None = None
        self._smoothing = smoothing
        self.mirror = mirror
        self.backend = backend
        self.configure(style, side if side is not None else engine.settings.live_side)

    def configure(self, style: str, side: int) -> None:
        """Switch style or size (takes effect on the next frame; resets the stabilizer)."""
        if not 64 <= side <= 1024:
            raise InvalidOptionError(f"live side={side} must be between 64 and 1024 pixels")
        options = StylizeOptions(style=style, max_side=side, backend=self.backend)
        stylizer = self.engine.stylizer(style, self.backend)
        with self._lock:
            self.style, self.side, self._options, self._stylizer = style, side, options, stylizer
            self._stabilizer = Stabilizer(self._smoothing) if self._smoothing > 0 else None

    @property
    def busy(self) -> bool:
        """True while a frame of this session is being stylized (a new frame would be dropped)."""
        return self._lock.locked()

    def process(self, frame: npt.NDArray[np.uint8] | None, style: str | None = None,
                side: int | None = None) -> npt.NDArray[np.uint8] | None:
        """Stylize one H×W×3 uint8 RGB camera frame; returns an h×w×3 uint8 frame at processing size
        (longer side ``side``, never enlarged).

        Never blocks: while another frame of this session is in flight it returns the last output
        (None before the first one) and counts a drop. ``style``/``side`` switch the session first
        when they differ. Raises InvalidOptionError for a frame that is not H×W×3 (or H×W×4) uint8.
        """
        if frame is None:
            return self._last
        if (style is not None and style != self.style) or (side is not None and side != self.side):
            self.configure(style or self.style, side or self.side)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (3, 4):
            raise InvalidOptionError(f"camera frame must be H×W×3 uint8 RGB, got {frame.dtype} {frame.shape}")
        if not self._lock.acquire(blocking=False):
            self._dropped += 1
            return self._last
        try:
            start = time.perf_counter()
            out = self._run(frame[..., :3])
            now = time.perf_counter()
            self._latency_ms = (now - start) * 1000 if self._processed == 0 else 0.8 * self._latency_ms + 200 * (now - start)
            self._processed += 1
            self._finished.append(now)
            while self._finished and now - self._finished[0] > FPS_WINDOW_S:
                self._finished.popleft()
            self._last = out
            return out
        finally:
            self._lock.release()

    def _run(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        h, w = frame.shape[:2]
        th, tw = fit_within(h, w, self.side)
        photo = resize(frame.astype(np.float32) / 255.0, th, tw)
        styled = finish(self._stylizer(photo), photo, self._stylizer.spec, self._options)
        if self._stabilizer is not None:
            styled = self._stabilizer(photo, styled)
        out = np.clip(styled * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(out[:, ::-1]) if self.mirror else out

    def stats(self) -> LiveStats:
        """Current throughput. FPS counts finished frames in the last ~2 s (0 when idle that long)."""
        now = time.perf_counter()
        recent = [t for t in tuple(self._finished) if now - t <= FPS_WINDOW_S]  # tuple(): one atomic snapshot
        if len(recent) >= 2:
            fps = (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)
        else:
            fps = 1000.0 / self._latency_ms if recent and self._latency_ms > 0 else 0.0
        return LiveStats(fps, self._latency_ms, self._processed, self._dropped, self.style, self.side)
