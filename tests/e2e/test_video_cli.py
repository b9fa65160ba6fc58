"""`python -m animegan video` as a user runs it: a real process on a real clip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, WEIGHTS_PATH
from tests.video_clips import make_clip

pytestmark = pytest.mark.e2e


def run_cli(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANIMEGAN_WEIGHTS_PATH": WEIGHTS_PATH, "ANIMEGAN_THREADS": "2", "ANIMEGAN_DOWNLOAD_DIR": str(tmp / "dl")}
    return subprocess.run([sys.executable, "-m", "animegan", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_video_command_json_and_errors(tmp_path: Path, photos: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", photos / "city_tokyo_street.jpg", frames=12, audio="aac")
    out = tmp_path / "out" / "anime.mp4"
    done = run_cli("video", str(clip), "-o", str(out), "--style", "cute", "--max-side", "128", "--side-by-side", "--json",
                   tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["output"] == str(out) and out.is_file()
    assert (row["width"], row["height"], row["frames"], row["fps"], row["audio"]) == (320, 120, 12, 12.0, "copied")

    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    failed = run_cli("video", str(bad), "-o", str(tmp_path / "x.mp4"), "--style", "cute", tmp=tmp_path)
    assert failed.returncode == 2 and "notes.mp4" in failed.stderr and "Traceback" not in failed.stderr
    unknown = run_cli("video", str(clip), "-o", str(tmp_path / "x.mp4"), "--style", "nope", tmp=tmp_path)
    assert unknown.returncode == 2 and "unknown style 'nope'" in unknown.stderr
    assert not (tmp_path / "x.mp4").exists()
