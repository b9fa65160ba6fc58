"""The derived-model cache (no weights): a cached model is used without writing, an unwritable cache is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from animegan.backends import derived
from animegan.errors import BackendUnavailableError

SHA = "ab" * 32


def build(dst: Path) -> dict[str, object]:
    dst.write_bytes(b"model bytes")
    return {"note": "built"}


def test_a_cached_model_is_used_without_writing_anything(tmp_path: Path) -> None:
    """A read-only image (``docker run --read-only``) must start: finding a model writes no lock or temp file."""
    root = tmp_path / "models"
    first = derived.cached(root, SHA, "onnx", build)
    for lock in root.glob("*.lock"):
        lock.unlink()
    before = {p: p.stat().st_mtime_ns for p in root.iterdir()}

    def must_not_build(dst: Path) -> dict[str, object]:
        raise AssertionError("rebuilt a cached model")

    again = derived.cached(root, SHA, "onnx", must_not_build)
    assert again.path == first.path and again.record["note"] == "built"
    assert {p: p.stat().st_mtime_ns for p in root.iterdir()} == before


def test_an_unwritable_cache_is_a_backend_error_naming_the_folder_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    root = tmp_path / "file" / "models"
    with pytest.raises(BackendUnavailableError, match=r"cannot build models in .*file/models .*ANIMEGAN_MODEL_CACHE_DIR"):
        derived.cached(root, SHA, "onnx", build)


def test_a_model_that_no_longer_matches_its_record_is_rebuilt(tmp_path: Path) -> None:
    root = tmp_path / "models"
    found = derived.cached(root, SHA, "onnx", build)
    found.path.write_bytes(b"tampered")
    rebuilt = derived.cached(root, SHA, "onnx", build)
    assert rebuilt.path.read_bytes() == b"model bytes"
