"""Installing the weights on a fresh machine, from a loopback mirror that plays the public hosts (no internet).

The mirror (tests/weights_mirror.py) serves only the exact upstream bytes found in ../shared/weights, so a
source whose bytes are not there (the official Real-ESRGAN releases) answers 404, as it would if its host
were down: the installer must fall back to the next source or say clearly what failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from animegan import STYLES, Engine, Settings, StylizeOptions
from animegan.install import Installer
from animegan.quality import psnr
from animegan.settings import MANIFEST_PATH
from animegan.weights import load_manifest, sha256_of
from tests.conftest import ARTIFACTS, REPO, SHARED
from tests.e2e.conftest import start_app, stop_app
from tests.weights_mirror import WeightsMirror, index_upstream_bytes

ENTRIES = {e.id: e for e in load_manifest(MANIFEST_PATH).values()}
STYLE_IDS = {e.id for e in ENTRIES.values() if e.file in {s.weights for s in STYLES}}
OFFICIAL_ONLY = {e.id for e in ENTRIES.values() if all(s.origin == "official" for s in e.sources)
                 and e.kind == "upscale" and e.id != "realesr_animevideov3"}
"""Upscalers whose only source is an official release that ../shared does not hold: 404 from the mirror."""
INSTALLABLE = set(ENTRIES) - OFFICIAL_ONLY


@pytest.fixture(scope="module")
def upstream() -> dict[str, object]:
    return index_upstream_bytes(SHARED / "weights")  # type: ignore[return-value]


@pytest.fixture()
def mirror(upstream: dict[str, object]) -> Iterator[WeightsMirror]:
    with WeightsMirror(upstream, stall_seconds=20) as m:  # type: ignore[arg-type]
        yield m


def fresh_settings(tmp: Path, mirror: WeightsMirror, **env: str) -> Settings:
    """A machine with nothing installed: only the repository's own weights/ folder and the download folder."""
    return Settings.from_env({"ANIMEGAN_DOWNLOAD_DIR": str(tmp / "dl"), "ANIMEGAN_MODEL_CACHE_DIR": str(tmp / "models"),
                              "ANIMEGAN_WEIGHTS_MIRROR": mirror.url, "ANIMEGAN_THREADS": "2", **env})


def installer(settings: Settings) -> Installer:
    return Installer(Engine(settings).weights)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "animegan", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)


# ---- a whole fresh install --------------------------------------------------------------------------------


@pytest.mark.e2e
def test_fresh_machine_installs_every_style_face_and_default_upscaler(tmp_path: Path, mirror: WeightsMirror,
                                                                       engine: Engine, photos: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ANIMEGAN_") and k not in ("XDG_CACHE_HOME", "HOME")}
    env.update(HOME=str(home), ANIMEGAN_WEIGHTS_MIRROR=mirror.url, ANIMEGAN_THREADS="2", PYTHONPATH=str(REPO))
    done = cli(env, "weights", "--download", "all", "--json")
    rows = {r["id"]: r for r in json.loads(done.stdout)}
    assert done.returncode == 3, done.stderr[-3000:]  # the official-only upscalers are not on this mirror
    assert {i for i, r in rows.items() if r["outcome"] == "installed"} == INSTALLABLE, done.stderr[-3000:]
    for entry_id in OFFICIAL_ONLY:
        msg = rows[entry_id]["message"]
        assert "HTTP 404" in msg and ENTRIES[entry_id].sources[0].files[0].url.split("://")[1] in msg
        assert f"--download {entry_id}" in msg and "ANIMEGAN_WEIGHTS_PATH" in msg
    installed = home / ".cache" / "animegan" / "weights"
    assert all(Path(rows[i]["path"]).is_relative_to(installed) for i in INSTALLABLE)
    assert not [n for n in files_under(installed) if n.endswith(".part") or n.startswith(".sources")], files_under(installed)
    styles = json.loads(cli(env, "styles", "--json").stdout)
    assert all(s["available"] for s in styles), [s for s in styles if not s["available"]]

    # Every style runs from the installed files and looks like the files we ship (same bytes, or converted).
    fresh = Engine(Settings.from_env({"ANIMEGAN_DOWNLOAD_DIR": str(installed), "ANIMEGAN_THREADS": "2",
                                      "ANIMEGAN_MODEL_CACHE_DIR": str(tmp_path / "models")}))
    assert all(not str(p).startswith(str(SHARED)) for p in fresh.settings.weights_path)
    photo = (photos / "city_tokyo_street.jpg").read_bytes()
    report = {}
    for spec in STYLES:
        options = StylizeOptions(style=spec.id, max_side=256, backend="onnx" if spec.id == "hayao" else "auto")
        ours = fresh.stylize_file(photo, options).rgb
        shipped = engine.stylize_file(photo, options).rgb
        assert ours.shape == shipped.shape
        report[spec.id] = round(psnr(np.clip(ours, 0, 1), np.clip(shipped, 0, 1)), 1)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "installed_vs_shipped_psnr.json").write_text(json.dumps(report, indent=2))
    assert min(report.values()) >= 40, report
    faces_fresh = fresh.stylize_file(photos / "group_8_kids.jpg", StylizeOptions(style="cute", face="on", max_side=512))
    assert len(faces_fresh.faces) == 8

    # Everything installed: asking again makes no request at all; `all` only retries what is not on the mirror.
    mirror.requests.clear()
    again = cli(env, "weights", "--download", *sorted(INSTALLABLE))
    assert again.returncode == 0 and mirror.requests == [], [r.path for r in mirror.requests]
    n = len(INSTALLABLE)
    assert f"{n} of {n} weight files installed ({n} were already here)" in again.stdout
    cli(env, "weights", "--download", "all")
    official = {f.url.split("://")[1] for i in OFFICIAL_ONLY for s in ENTRIES[i].sources for f in s.files}
    assert {r.path for r in mirror.requests} == official


def test_sources_json_lists_every_download(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rows = json.loads(cli(env, "weights", "--sources", "--json").stdout)
    assert {r["id"] for r in rows} == set(ENTRIES)
    assert all({"id", "file", "url", "sha256"} <= set(r) for r in rows)


# ---- CartoonGAN Hosoda: 94 upstream files, converted locally ----------------------------------------------------

HOSODA = "cartoongan_hosoda"
HOSODA_FOLDER = ("raw.githubusercontent.com/mnicnc404/CartoonGan-tensorflow/2f26a525f8b604b8e98fb84ebad0af5aef727944/"
                 "style_transfer/cartoongan/pretrained_weights/hosoda/")
HOSODA_ORIGINALS = SHARED / "weights" / "anime" / "original" / HOSODA


def test_hosoda_lists_each_upstream_file_pinned_to_its_commit() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rows = [r for r in json.loads(cli(env, "weights", "--sources", "--json").stdout) if r["id"] == HOSODA]
    assert sorted(r["role"] for r in rows) == sorted(p.name for p in HOSODA_ORIGINALS.iterdir()) and len(rows) == 94
    for r in rows:
        original = HOSODA_ORIGINALS / r["role"]
        assert r["url"] == f"https://{HOSODA_FOLDER}{r['role']}" and r["convert"] == "cartoongan-onnx"
        assert r["sha256"] == sha256_of(original) and r["bytes"] == original.stat().st_size
        assert r["installs"] == "cartoongan_hosoda.onnx" and r["installs_sha256"] == ENTRIES[HOSODA].sha256
        assert r["license"] == ("the repository (mnicnc404/CartoonGan-tensorflow) is Apache-2.0; the weights are the "
                                "CartoonGAN authors' release, for which no separate licence is stated")


def test_hosoda_installs_on_a_fresh_machine_from_its_upstream_files(tmp_path: Path, mirror: WeightsMirror,
                                                                    engine: Engine, photos: Path) -> None:
    """Nothing on the search path but the download folder: the 94 tensors come through the mirror, are converted
    here into the file the manifest pins, and the style runs from it as it does from the tests' own copy."""
    settings = fresh_settings(tmp_path, mirror)
    assert Engine(settings).style_status("hosoda").state == "missing"
    result = installer(settings).install(ENTRIES[HOSODA])
    assert result.outcome == "installed", result.message
    assert "converted with cartoongan-onnx" in result.message and HOSODA_FOLDER in result.message
    fetched = sorted(r.path for r in mirror.requests)
    assert fetched == sorted(HOSODA_FOLDER + p.name for p in HOSODA_ORIGINALS.iterdir())
    assert files_under(settings.download_dir) == ["anime/cartoongan_hosoda.onnx"], "the upstream files are removed"
    assert result.path is not None and sha256_of(result.path) == ENTRIES[HOSODA].sha256
    photo = (photos / "portrait_obama_official.jpg").read_bytes()
    options = StylizeOptions(style="hosoda", max_side=256, backend="onnx")
    ours = Engine(settings).stylize_file(photo, options).rgb
    np.testing.assert_allclose(ours, engine.stylize_file(photo, options).rgb, atol=1e-5)


def test_a_corrupted_hosoda_tensor_fails_the_install_and_the_retry_fetches_only_the_rest(tmp_path: Path,
                                                                                        mirror: WeightsMirror) -> None:
    mirror.faults["hosoda/conv04_1.weight.npy"] = "corrupt"
    settings = fresh_settings(tmp_path, mirror)
    failed = installer(settings).install(ENTRIES[HOSODA])
    assert failed.outcome == "failed" and failed.path is None
    assert "conv04_1.weight.npy: the downloaded bytes do not match the pinned sha256" in failed.message
    assert f"--download {HOSODA}" in failed.message
    assert not (settings.download_dir / "anime").exists() or files_under(settings.download_dir / "anime") == []
    assert not [n for n in files_under(settings.download_dir) if n.endswith(".part")]
    assert Engine(settings).style_status("hosoda").state == "missing"
    verified = {r.path for r in mirror.requests if not r.path.endswith("conv04_1.weight.npy")}
    mirror.faults.clear()
    mirror.requests.clear()
    again = installer(settings).install(ENTRIES[HOSODA])
    assert again.outcome == "installed", again.message
    retried = {r.path for r in mirror.requests}
    assert retried and not retried & verified, "files already downloaded and verified are not fetched again"
    assert Engine(settings).style_status("hosoda").available


# ---- sources and fallbacks ----------------------------------------------------------------------------------


def test_official_404_falls_back_to_the_pinned_copy(tmp_path: Path, mirror: WeightsMirror) -> None:
    mirror.faults["releases/download/v0.1.0/detection_mobilenet0.25_Final.pth"] = "404"
    inst = installer(fresh_settings(tmp_path, mirror))
    face = inst.install(ENTRIES["retinaface_mnet025"])
    video = inst.install(ENTRIES["realesr_animevideov3"])  # the official release's bytes are not on the mirror
    assert face.outcome == video.outcome == "installed"
    assert face.source is not None and face.source.origin == "third-party" and "foamliu" in face.message
    assert video.source is not None and "Sourabh-lincode" in video.message
    paths = [r.path for r in mirror.requests]
    assert paths[0].startswith("github.com/xinntao/facexlib") and paths[1].startswith("raw.githubusercontent.com/foamliu")
    assert inst.store.status("realesr-animevideov3.pth").state == "ok"


def test_a_corrupted_byte_is_refused_and_nothing_is_installed(tmp_path: Path, mirror: WeightsMirror) -> None:
    mirror.faults["AnimeGANv3_tiny_Cute.onnx"] = "corrupt"
    settings = fresh_settings(tmp_path, mirror)
    result = installer(settings).install(ENTRIES["animeganv3_tiny_cute"])
    assert result.outcome == "failed" and result.path is None
    assert "'animeganv3_tiny_cute.onnx'" in result.message and "do not match the pinned sha256" in result.message
    assert f"{mirror.url}/raw.githubusercontent.com/tuanmjnh" in result.message
    assert "--download animeganv3_tiny_cute" in result.message
    assert files_under(settings.download_dir) == []
    assert Engine(settings).style_status("cute").available is False


def test_a_truncated_download_is_resumed(tmp_path: Path, mirror: WeightsMirror) -> None:
    mirror.faults["detection_mobilenet0.25_Final.onnx"] = "truncate-once"
    settings = fresh_settings(tmp_path, mirror)
    result = installer(settings).install(ENTRIES["retinaface_mnet025_onnx"])
    assert result.outcome == "installed", result.message
    first, second = [r for r in mirror.requests if r.path.endswith("detection_mobilenet0.25_Final.onnx")]
    assert first.range is None and second.range and second.range.startswith("bytes=")
    resumed_at = int(second.range.removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= ENTRIES["retinaface_mnet025_onnx"].bytes // 2, "resumed where the first attempt stopped"
    assert files_under(settings.download_dir) == ["face/detection_mobilenet0.25_Final.onnx"]


def test_a_download_that_never_completes_fails_cleanly(tmp_path: Path, mirror: WeightsMirror) -> None:
    mirror.faults["detection_mobilenet0.25_Final.onnx"] = "truncate"
    settings = fresh_settings(tmp_path, mirror)
    result = installer(settings).install(ENTRIES["retinaface_mnet025_onnx"])
    assert result.outcome == "failed" and "detection_mobilenet0.25_Final.onnx" in result.message
    assert not (settings.download_dir / "face" / "detection_mobilenet0.25_Final.onnx").exists()
    assert Engine(settings).weights.status("detection_mobilenet0.25_Final.onnx").state == "missing"


@pytest.mark.parametrize("fault", ["stall", "stall-headers"])
def test_a_stalled_server_times_out(tmp_path: Path, mirror: WeightsMirror, fault: str) -> None:
    mirror.faults["AnimeGANv3_tiny_Cute.onnx"] = fault  # type: ignore[assignment]
    settings = fresh_settings(tmp_path, mirror, ANIMEGAN_DOWNLOAD_TIMEOUT="1")
    start = time.monotonic()
    result = installer(settings).install(ENTRIES["animeganv3_tiny_cute"])
    assert time.monotonic() - start < 15
    assert result.outcome == "failed" and "AnimeGANv3_tiny_Cute.onnx" in result.message
    assert "timed out" in result.message or "no answer within 1 s" in result.message, result.message
    assert not (settings.download_dir / "anime" / "animeganv3_tiny_cute.onnx").exists()


# ---- the disk ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_gives_a_clear_message_and_leaves_nothing(tmp_path: Path, mirror: WeightsMirror) -> None:
    with tmpfs(tmp_path / "dl", "size=1m") as dl:
        settings = fresh_settings(tmp_path, mirror, ANIMEGAN_DOWNLOAD_DIR=str(dl))
        results = list(installer(settings).install_all(["realesr_animevideov3", "animeganv3_tiny_cute"]))
        assert [r.outcome for r in results] == ["failed", "failed"]
        assert "cannot write to the download folder" in results[0].message and "No space left" in results[0].message
        assert "ANIMEGAN_DOWNLOAD_DIR" in results[0].message
        assert files_under(dl) == []
        assert not any("Cute" in r.path for r in mirror.requests), "after a disk error nothing more is downloaded"


def test_an_unwritable_download_folder_is_reported_and_the_app_still_starts(tmp_path: Path, mirror: WeightsMirror) -> None:
    with tmpfs(tmp_path / "dl", "ro,size=1m") as dl:
        settings = fresh_settings(tmp_path, mirror, ANIMEGAN_DOWNLOAD_DIR=str(dl))
        results = list(installer(settings).install_all(["animeganv3_tiny_cute", "animeganv3_shinkai37"]))
        assert all(r.outcome == "failed" and "Read-only file system" in r.message for r in results)
        assert mirror.requests == []
        (tmp_path / "app").mkdir()
        server = start_app(tmp_path / "app", env={"ANIMEGAN_WEIGHTS_PATH": "", "ANIMEGAN_DOWNLOAD_DIR": str(dl),
                                                  "ANIMEGAN_WEIGHTS_MIRROR": mirror.url})
        try:
            with urllib.request.urlopen(server.url + "config", timeout=30) as r:
                page = r.read().decode()
            assert "Missing weight files" in page and "weights --download all" in page
        finally:
            stop_app(server)
