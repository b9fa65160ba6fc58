"""The optional Ray capability without a cluster: nothing imports Ray unless asked; queue limits; scaling and
segment arithmetic."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from animegan import Settings, queue_limit
from tests.conftest import REPO

NO_RAY = """
import sys
import animegan, animegan.cli
assert animegan.cli.main(["styles", "--json"]) == 0
import app
from animegan import Engine, LocalService, Settings
settings = Settings.from_env({"ANIMEGAN_WEIGHTS_PATH": sys.argv[1], "ANIMEGAN_DOWNLOAD_DIR": sys.argv[1],
                              "ANIMEGAN_CACHE_DIR": sys.argv[1], "ANIMEGAN_PREVIEW_DIR": sys.argv[1]})
app.build_app(LocalService(Engine(settings)))
app.parse_args([], settings)
loaded = sorted(m for m in sys.modules if m == "ray" or m.startswith(("ray.", "animegan.cluster")))
print("LOADED", loaded)
"""


def test_import_cli_and_default_app_never_import_ray(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", NO_RAY, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LOADED []" in proc.stdout, proc.stdout[-2000:]


def test_queue_limit_is_configured_or_memory_aware() -> None:
    gib = 2**30
    auto = Settings()
    assert auto.queue_size == 0 and auto.queue_user_mb == 16
    assert queue_limit(auto, available_bytes=1 * gib) == 64, "at least 64 waiting users, even on a small machine"
    assert queue_limit(auto, available_bytes=20 * gib) == 20 * 1024 // 4 // 16
    assert queue_limit(auto, available_bytes=1024 * gib) == 1024, "bounded"
    assert queue_limit(auto.with_(queue_user_mb=64), available_bytes=20 * gib) == 80
    assert queue_limit(auto.with_(queue_size=5), available_bytes=20 * gib) == 5, "an explicit size wins"
    assert queue_limit(auto) >= 64, "this machine"


def test_queue_settings_from_the_environment() -> None:
    from animegan import InvalidOptionError

    s = Settings.from_env({"ANIMEGAN_QUEUE_SIZE": "200", "ANIMEGAN_QUEUE_USER_MB": "8"})
    assert (s.queue_size, s.queue_user_mb) == (200, 8)
    with pytest.raises(InvalidOptionError, match="ANIMEGAN_QUEUE_USER_MB"):
        Settings.from_env({"ANIMEGAN_QUEUE_USER_MB": "0"})


def test_app_ray_options() -> None:
    import app

    args = app.parse_args(["--ray", "127.0.0.1:6379", "--autoscale", "1:4"], Settings())
    assert (args.ray, args.autoscale, args.replicas) == ("127.0.0.1:6379", "1:4", None)
    with pytest.raises(SystemExit):
        app.parse_args(["--replicas", "2"], Settings())  # needs --ray
    with pytest.raises(SystemExit):
        app.parse_args(["--ray", "auto", "--replicas", "2", "--autoscale", "1:2"], Settings())


def test_replica_scale() -> None:
    pytest.importorskip("ray")
    from animegan.cluster.connect import ClusterError
    from animegan.cluster.serve import Scale

    assert Scale.parse(None, None, default=3) == Scale(3, 3)
    assert Scale.parse(2, None, default=3).fixed
    assert Scale.parse(None, "1:4", default=3) == Scale(1, 4)
    for bad in ("4:1", "x", "1:2:3", "0:0"):
        with pytest.raises(ClusterError, match="autoscale"):
            Scale.parse(None, bad, default=3)
    with pytest.raises(ClusterError, match="replicas"):
        Scale.parse(0, None, default=3)


def test_segments_start_at_keyframes_cover_every_frame_and_overlap() -> None:
    pytest.importorskip("ray")
    from animegan.cluster.segments import MIN_SEGMENT_FRAMES, OVERLAP, plan_segments

    pts = [i * 512 for i in range(200)]
    keys = {p for i, p in enumerate(pts) if i % 12 == 0}
    plan = plan_segments(pts, keys, workers=2)
    assert len(plan) > 2
    starts = [start for _, _, start, _ in plan]
    assert starts[0] == pts[0] and all(s in keys for s in starts)
    assert [end for *_, end in plan] == [*starts[1:], None], "segments follow each other without gaps"
    for seek, warm, start, _ in plan[1:]:
        assert seek in keys and seek <= warm < start
        assert pts.index(start) - pts.index(warm) == OVERLAP
    lengths = [pts.index(b) - pts.index(a) for a, b in itertools.pairwise(starts)]
    assert min(lengths) >= MIN_SEGMENT_FRAMES
    assert plan_segments(pts[:5], {0}, workers=8) == [(0, 0, 0, None)], "a short clip is one segment"
