"""``video --ray`` on a real two-node cluster: same frame count, size, fps and audio as the local path, close
frames, and no jump at the segment edges (the smoothing overlaps them)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from animegan.video import read_frames
from tests.cluster.conftest import Cluster
from tests.conftest import REPO
from tests.video_clips import make_clip

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]


def convert(env: dict[str, str], clip: Path, out: Path, *extra: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-m", "animegan", "video", str(clip), "-o", str(out), "--style", "cute", "--json",
                           *extra], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def steps(frames: list[np.ndarray]) -> np.ndarray:
    return np.array([np.abs(b.astype(np.float32) - a).mean() for a, b in itertools.pairwise(frames)])


def test_video_segments_on_the_cluster_match_the_local_path(ray_cluster: Cluster, photos: Path, tmp_path: Path) -> None:
    ray_cluster.ensure_two_nodes()
    clip = make_clip(tmp_path / "clip.mp4", photos / "city_tokyo_street.jpg", frames=96, size=(162, 120), fps=24,
                     keyframe_every=12, cut_photo=photos / "landscape_beach_small_256.jpg")
    env = ray_cluster.driver_env(tmp_path)
    local = convert(env, clip, tmp_path / "local.mp4")
    ray = convert(env, clip, tmp_path / "ray.mp4", "--ray", ray_cluster.address)
    for key in ("width", "height", "fps", "frames", "audio", "scene_cuts"):
        assert ray[key] == local[key], key
    assert (ray["width"], ray["height"], ray["frames"], ray["audio"]) == (162, 120, 96, "copied")
    with av.open(str(tmp_path / "ray.mp4")) as a, av.open(str(tmp_path / "local.mp4")) as b:
        assert a.streams.video[0].average_rate == b.streams.video[0].average_rate == 24
        assert abs(a.duration - b.duration) < 50_000, "same length (µs)"
        assert [s.type for s in a.streams] == [s.type for s in b.streams] == ["video", "audio"]
    mine, theirs = list(read_frames(tmp_path / "ray.mp4")), list(read_frames(tmp_path / "local.mp4"))
    assert len(mine) == len(theirs) == 96
    diff = [float(np.abs(x.astype(np.float32) - y).mean()) for x, y in zip(mine, theirs, strict=True)]
    assert max(diff) < 6, f"frames close to the local path (mean abs difference, 0..255): {max(diff):.2f}"
    # Segment edges (every 24 frames here, the cut at 48 excepted) flicker no more than the local path does there.
    edges = [23, 71]
    assert all(steps(mine)[e] < steps(theirs)[e] + 2.0 for e in edges), (steps(mine)[edges], steps(theirs)[edges])
