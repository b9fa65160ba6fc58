"""Live webcam sessions: reduced size, frames dropped (never queued) while busy, FPS statistics."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegan import Engine, InvalidOptionError, LiveSession


@pytest.fixture(scope="module")
def camera_frame(photos: Path) -> np.ndarray:
    img = Image.open(photos / "portrait_obama_official.jpg").convert("RGB")
    return np.asarray(img.resize((640, round(640 * img.height / img.width))))


def test_frames_are_stylized_at_reduced_size(engine: Engine, camera_frame: np.ndarray) -> None:
    session = LiveSession(engine, side=256)
    out = session.process(camera_frame)
    assert out is not None and out.dtype == np.uint8
    assert max(out.shape[:2]) == 256 and out.shape[2] == 3
    small = np.asarray(Image.fromarray(camera_frame).resize((out.shape[1], out.shape[0]), Image.Resampling.BOX))
    assert np.abs(out.astype(float) - small).mean() > 8  # stylized, not the camera frame
    for _ in range(3):
        session.process(camera_frame)
    stats = session.stats()
    assert stats.processed == 4 and stats.dropped == 0 and stats.fps > 0
    assert "FPS" in stats.summary and "256 px" in stats.summary


def test_busy_session_drops_the_frame_and_returns_the_last_output(engine: Engine, camera_frame: np.ndarray) -> None:
    session = LiveSession(engine, side=192)
    first = session.process(camera_frame)
    worker = threading.Thread(target=session.process, args=(camera_frame,), kwargs={"side": 512})
    worker.start()
    deadline = time.monotonic() + 5
    while not session.busy and time.monotonic() < deadline:
        time.sleep(0.001)
    assert session.busy
    start = time.perf_counter()
    returned = session.process(camera_frame)
    waited = time.perf_counter() - start
    worker.join()
    assert returned is first  # the previous result: it neither waited for nor ran a new frame
    assert waited < 0.5  # generous: the machine may be busy; the identity check above is the real proof
    assert session.stats().dropped == 1 and session.stats().processed == 2


def test_style_switch_and_bad_frames(engine: Engine, camera_frame: np.ndarray) -> None:
    session = LiveSession(engine, side=128)
    assert session.process(None) is None
    out = session.process(camera_frame, style="shinkai")
    assert session.style == "shinkai" and out is not None and max(out.shape[:2]) == 128
    with pytest.raises(InvalidOptionError, match="uint8"):
        session.process(camera_frame.astype(np.float32))
    with pytest.raises(InvalidOptionError, match="side"):
        LiveSession(engine, side=8)


def test_mirror_flips_the_output(engine: Engine, camera_frame: np.ndarray) -> None:
    plain = LiveSession(engine, side=128, smoothing=0).process(camera_frame)
    mirrored = LiveSession(engine, side=128, smoothing=0, mirror=True).process(camera_frame)
    assert plain is not None and mirrored is not None
    assert np.array_equal(mirrored, plain[:, ::-1])
