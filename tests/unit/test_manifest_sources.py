"""The manifest's public sources: pinned, verifiable, complete for what the product uses; mirror URL rewriting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from animegan import STYLES, UPSCALERS, InvalidOptionError, Settings, WeightsError
from animegan.install import mirrored, sources_table
from animegan.settings import MANIFEST_PATH
from animegan.weights import WeightStore, load_manifest

ENTRIES = load_manifest(MANIFEST_PATH)
USED = {s.weights for s in STYLES} | {u.weights for u in UPSCALERS} | {
    "detection_mobilenet0.25_Final.onnx", "detection_mobilenet0.25_Final.pth"}


def test_the_manifest_lists_exactly_the_files_the_product_uses() -> None:
    assert set(ENTRIES) == USED


@pytest.mark.parametrize("file", sorted(USED))
def test_every_used_file_has_a_pinned_public_source(file: str) -> None:
    entry = ENTRIES[file]
    assert entry.sources, f"{file}: no public source"
    for source in entry.sources:
        assert source.note and source.origin in ("official", "third-party")
        for f in source.files:
            assert f.url.startswith("https://") and f.bytes > 0 and len(f.sha256) == 64
        assert source.convert or len(source.files) == 1
    origins = [s.origin for s in entry.sources]
    assert origins == sorted(origins, key=lambda o: o != "official"), f"{file}: official releases are tried first"


def test_a_moving_branch_url_is_refused(tmp_path: Path) -> None:
    doc = json.loads(MANIFEST_PATH.read_text())
    source = doc["models"][3]["sources"][0]["files"]["model"]
    source["url"] = source["url"].replace("68b721c853d00a417eda9f18c2e950dfb7cdc60e", "main")
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(WeightsError, match="not pinned to a release or a commit"):
        load_manifest(bad)


def test_sources_table_has_one_row_per_download() -> None:
    rows = sources_table(WeightStore(Settings()))
    assert len(rows) == sum(len(s.files) for e in ENTRIES.values() for s in e.sources)
    assert {"id", "file", "url", "sha256", "bytes", "origin", "convert", "priority"} <= set(rows[0])
    tfjs = [r for r in rows if r["id"] == "animeganv1_paprika"]
    assert {r["role"] for r in tfjs} == {"model.json", "weights.bin"} and {r["convert"] for r in tfjs} == {"tfjs-onnx"}


def test_every_accepted_copy_is_a_pinned_sha() -> None:
    for entry in ENTRIES.values():
        assert entry.sha256 in entry.accepted
        assert all(len(s) == 64 for s in entry.accepted)
        assert entry.names[0] == entry.file


@pytest.mark.parametrize(("url", "mirror", "want"), [
    ("https://github.com/o/r/releases/download/v1/x.pth", "http://127.0.0.1:9/m",
     "http://127.0.0.1:9/m/github.com/o/r/releases/download/v1/x.pth"),
    ("https://raw.githubusercontent.com/o/r/abc/p/q.onnx", "http://h:80", "http://h:80/raw.githubusercontent.com/o/r/abc/p/q.onnx"),
    ("https://github.com/o/r/releases/download/v1/x.pth", None, "https://github.com/o/r/releases/download/v1/x.pth"),
])
def test_mirror_rewrites_host_and_path(url: str, mirror: str | None, want: str) -> None:
    assert mirrored(url, mirror) == want


def test_mirror_setting_is_checked() -> None:
    assert Settings.from_env({"ANIMEGAN_WEIGHTS_MIRROR": "http://127.0.0.1:8765/"}).weights_mirror == "http://127.0.0.1:8765"
    with pytest.raises(InvalidOptionError, match="ANIMEGAN_WEIGHTS_MIRROR"):
        Settings.from_env({"ANIMEGAN_WEIGHTS_MIRROR": "ftp://x"})
