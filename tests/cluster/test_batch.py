"""``stylize --ray`` on a real two-node cluster: same results as a local run, resumable, survives losing a node."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from animegan.quality import psnr
from tests.cluster.conftest import Cluster, derived_photos
from tests.conftest import REPO

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]

PHOTOS = 60
OPTIONS = ("--style", "shinkai", "--max-side", "256")
RUN_TIMEOUT = 420.0


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "animegan", "stylize", *args, *OPTIONS, "--json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)


def report(proc: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert proc.returncode == 1, f"one input is corrupt, so exit 1 (partial); got {proc.returncode}:\n{proc.stderr[-3000:]}"
    rows = json.loads(proc.stdout)  # stdout is nothing but the report
    assert isinstance(rows, list)
    return rows


@pytest.fixture(scope="module")
def inputs(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("batch") / "in"
    derived_photos(photos, folder, PHOTOS)
    (folder / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a whole jpeg")
    return folder


@pytest.fixture(scope="module")
def local(inputs: Path, ray_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    """The same command without --ray: the reference."""
    tmp = tmp_path_factory.mktemp("local")
    proc = run_cli(ray_cluster.driver_env(tmp), str(inputs), "-o", str(tmp / "out"))
    return tmp / "out", report(proc)


@pytest.fixture(scope="module")
def cluster_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of the first cluster run, which the resume test runs again."""
    return tmp_path_factory.mktemp("cluster") / "out"


def assert_same_outputs(reference: Path, produced: Path) -> dict[str, int]:
    """Every reference output exists in ``produced`` with the same bytes, or the same pixels within 50 dB."""
    counts = {"identical": 0, "close": 0}
    ref_files = sorted(reference.glob("*.png"))
    assert len(ref_files) == PHOTOS
    assert sorted(p.name for p in produced.glob("*.png")) == [p.name for p in ref_files]
    assert not list(produced.glob(".*.part")), "no temporary file is left behind"
    for ref in ref_files:
        got = produced / ref.name
        if got.read_bytes() == ref.read_bytes():
            counts["identical"] += 1
            continue
        a, b = Image.open(ref), Image.open(got)
        assert (a.size, a.mode) == (b.size, b.mode), ref.name
        value = psnr(np.asarray(a, np.float32) / 255, np.asarray(b, np.float32) / 255)
        assert value >= 50, f"{ref.name}: {value:.1f} dB against the local run"
        counts["close"] += 1
    return counts


def test_cluster_run_equals_local_run(inputs: Path, local: tuple[Path, list[dict[str, object]]], ray_cluster: Cluster,
                                      cluster_out: Path, tmp_path: Path) -> None:
    ray_cluster.ensure_two_nodes()
    ref_dir, ref_rows = local
    out = cluster_out
    proc = run_cli(ray_cluster.driver_env(tmp_path), str(inputs), "-o", str(out), "--ray", ray_cluster.address)
    rows = report(proc)
    counts = assert_same_outputs(ref_dir, out)
    assert [r["input"] for r in rows] == [r["input"] for r in ref_rows], "same inputs, same order"
    for mine, theirs in zip(rows, ref_rows, strict=True):
        assert set(mine) - set(theirs) == {"node"} and set(theirs) <= set(mine), "the local report's shape, plus the node"
        expected_output = theirs["output"] and str(out / Path(str(theirs["output"])).name)
        assert (mine["output"], mine["width"], mine["height"]) == (expected_output, theirs["width"], theirs["height"])
    broken = [r for r in rows if str(r["input"]).endswith("zz_broken.jpg")]
    assert len(broken) == 1 and broken[0]["error"] and broken[0]["output"] is None, "a corrupt file fails alone"
    nodes = {r["node"] for r in rows if r["error"] is None}
    assert len(nodes) == 2, f"both nodes stylized files: {nodes}"
    print(f"\n{PHOTOS} photos on 2 nodes: {counts}")


def test_rerun_skips_everything_and_deleting_five_recomputes_five(inputs: Path, ray_cluster: Cluster,
                                                                  local: tuple[Path, list[dict[str, object]]],
                                                                  cluster_out: Path, tmp_path: Path) -> None:
    out = cluster_out
    env = ray_cluster.driver_env(tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    proc = run_cli(env, str(inputs), "-o", str(out), "--ray", ray_cluster.address)
    rows = report(proc)
    assert f"skipping {PHOTOS} of {PHOTOS + 1} inputs" in proc.stderr
    assert sum(bool(r.get("skipped")) for r in rows) == PHOTOS
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")} == before, "nothing was rewritten"

    deleted = sorted(out.glob("*.png"))[::12][:5]
    for p in deleted:
        p.unlink()
    rows = report(run_cli(env, str(inputs), "-o", str(out), "--ray", ray_cluster.address))
    redone = [r for r in rows if not r.get("skipped") and r["error"] is None]
    assert sorted(Path(str(r["output"])).name for r in redone) == sorted(p.name for p in deleted)
    assert_same_outputs(local[0], out)


def actor_busy(node_pid: int) -> bool:
    """True while the node's Ray Data actor is running a batch (Ray names the process after the call)."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(node_pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "StylizeActor" in child.name() and child.name().endswith(".submit"):
                    return True
    return False


def test_losing_a_node_midway_still_writes_every_output(inputs: Path, ray_cluster: Cluster,
                                                       local: tuple[Path, list[dict[str, object]]], tmp_path: Path) -> None:
    ray_cluster.ensure_two_nodes()
    worker = ray_cluster.alive()[-1]
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "animegan", "stylize", str(inputs), "-o", str(out), *OPTIONS, "--json",
           "--ray", ray_cluster.address]
    log = (tmp_path / "stdout.json").open("w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=ray_cluster.driver_env(tmp_path), stdout=log, stderr=subprocess.PIPE, text=True)
    killed_at, busy_since = None, None
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            done = len(list(out.glob("*.png"))) if out.is_dir() else 0
            if killed_at is None:
                if actor_busy(worker.proc.pid):
                    busy_since = busy_since or time.monotonic()
                if busy_since and time.monotonic() - busy_since > 2 and done >= 8:
                    assert done < PHOTOS - 8, "the run got too far before the worker was busy; nothing left to lose"
                    ray_cluster.kill_raylet(worker)
                    killed_at = done
            time.sleep(0.05)
        _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed_at is not None, "the second node never ran an actor"
    rows = report(subprocess.CompletedProcess(cmd, proc.returncode, (tmp_path / "stdout.json").read_text(), err))
    assert_same_outputs(local[0], out)
    assert sum(r["error"] is None for r in rows) == PHOTOS
    print(f"\nkilled the second node's raylet after {killed_at} of {PHOTOS} outputs; every output is correct")
