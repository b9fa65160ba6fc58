"""The result cache: keys cover every option, LRU eviction within the bound, unwritable dirs degrade."""

from __future__ import annotations

import os
import time
from dataclasses import fields, replace
from pathlib import Path

from animegan import ResultCache, Scratch, StylizeOptions
from animegan.cache import result_key

BASE = StylizeOptions(style="hayao")
CHANGED = {"style": "shinkai", "max_side": 512, "face": "auto", "upscale": 2, "upscaler": "general_x4v3", "backend": "onnx",
           "match_brightness": True, "strength": 0.5, "face_strength": 0.5, "keep_colors": True}


def test_key_covers_input_bytes_every_option_and_salt() -> None:
    key = result_key(b"photo", BASE)
    assert key == result_key(b"photo", StylizeOptions(style="hayao")), "same request, same key"
    assert key != result_key(b"photo!", BASE)
    assert key != result_key(b"photo", BASE, salt="other weights")
    missing = {f.name for f in fields(StylizeOptions)} - set(CHANGED)
    assert not missing, f"add the new option(s) {missing} to this test"
    keys = {result_key(b"photo", replace(BASE, **{name: value})) for name, value in CHANGED.items()}
    assert len(keys) == len(CHANGED) and key not in keys


def test_put_get_and_lru_eviction(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path, max_bytes=250)
    a, b, c = (result_key(n.encode(), BASE) for n in "abc")
    cache.put(a, b"A" * 100)
    cache.put(b, b"B" * 100)
    assert cache.get(a) == b"A" * 100
    past = time.time() - 100
    os.utime(tmp_path / f"{b}.bin", (past, past))  # b is now the least recently used
    cache.put(c, b"C" * 100)
    assert cache.get(b) is None and cache.get(a) == b"A" * 100 and cache.get(c) == b"C" * 100
    assert cache.total_bytes() <= 250
    cache.put(result_key(b"big", BASE), b"x" * 1000)
    assert cache.get(result_key(b"big", BASE)) is None, "an entry larger than the bound is not stored"


def test_unwritable_directory_disables_cache_without_failing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = ResultCache(blocker / "cache", max_bytes=1 << 20)
    assert not cache.enabled
    key = result_key(b"x", BASE)
    cache.put(key, b"data")
    assert cache.get(key) is None
    assert not ResultCache(tmp_path / "zero", max_bytes=0).enabled


def test_scratch_prunes_expired_folders(tmp_path: Path) -> None:
    scratch = Scratch(tmp_path, keep_seconds=60)
    old = scratch.new_dir()
    (old / "f.png").write_bytes(b"x")
    past = time.time() - 120
    os.utime(old, (past, past))
    new = scratch.new_dir()
    assert new.is_dir() and not old.exists()
