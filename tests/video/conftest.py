"""Tiny clips shared by the video tests (made once per session from real photos)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.video_clips import make_clip


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory, photos: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    street, portrait = photos / "city_tokyo_street.jpg", photos / "portrait_obama_official.jpg"
    return {
        "pan_aac": make_clip(d / "pan_aac.mp4", street, audio="aac"),
        "pan_pcm": make_clip(d / "pan_pcm.mkv", street, audio="pcm"),
        "static": make_clip(d / "static.mp4", portrait, motion="static", noise=6.0, audio=None, crf=10),
        "cut": make_clip(d / "cut.mp4", street, motion="static", noise=2.0, audio=None, cut_photo=portrait),
    }
