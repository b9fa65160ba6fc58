"""A bounded on-disk LRU cache of results, and a scratch area for files handed to the app.

Keys are the SHA-256 of the input bytes plus every option of the request, so a repeated request
(same bytes, same choices) is answered without running a model. The cache is best effort: when its
directory cannot be written, requests still run, just uncached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from .pipeline import StylizeOptions

log = logging.getLogger(__name__)

KEY_VERSION = "1"
"""Bump when the meaning of a cached result changes (e.g. a new post-processing step)."""


def result_key(data: bytes, options: StylizeOptions, salt: str = "") -> str:
    """Hex SHA-256 over the input bytes, every field of ``options`` and ``salt`` (e.g. weight checksums)."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(data).digest())
    h.update(json.dumps(asdict(options), sort_keys=True, default=str).encode())
    h.update(f"|{KEY_VERSION}|{salt}".encode())
    return h.hexdigest()


class ResultCache:
    """Least-recently-used files under ``directory``, at most ``max_bytes`` in total.

    Thread-safe within one process; several processes may share a directory (writes are atomic
    renames, a vanished file is a miss). ``enabled`` is False when ``max_bytes`` is 0 or the
    directory is not writable; then :meth:`get` always misses and :meth:`put` does nothing.
    """

    SUFFIX = ".bin"

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.enabled = max_bytes > 0 and self._writable()

    def _writable(self) -> bool:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".probe-"):
                pass
        except OSError as err:
            log.warning("result cache disabled: %s is not writable (%s)", self.directory, err)
            return False
        return True

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"cache key {key!r} is not a hex SHA-256")
        return self.directory / f"{key}{self.SUFFIX}"

    def get(self, key: str) -> bytes | None:
        """The stored bytes for ``key`` (and mark them recently used), or None."""
        if not self.enabled:
            return None
        path = self._path(key)
        try:
            data = path.read_bytes()
            os.utime(path)
        except OSError:
            return None
        return data

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, then evict the least recently used entries over the bound.

        An entry larger than the whole bound is not stored. Write errors are logged, never raised.
        """
        if not self.enabled or len(data) > self.max_bytes:
            return
        path = self._path(key)
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as err:
            log.warning("could not write result cache entry %s: %s", path, err)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return
        self.evict()

    def evict(self) -> None:
        """Delete least recently used entries until the total size is within ``max_bytes``."""
        with self._lock:
            entries = []
            for p in self.directory.glob(f"*{self.SUFFIX}"):
                with contextlib.suppress(OSError):
                    st = p.stat()
                    entries.append((st.st_mtime_ns, st.st_size, p))
            total = sum(size for _, size, _ in entries)
            for _, size, p in sorted(entries, key=lambda e: e[0]):
                if total <= self.max_bytes:
                    break
                with contextlib.suppress(OSError):
                    p.unlink()
                total -= size

    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.glob(f"*{self.SUFFIX}")) if self.enabled else 0


class Scratch:
    """Per-request folders for files the app hands to its UI (downloads, zips, galleries).

    Folders older than ``keep_seconds`` are removed when a new one is made, so a long-running
    server does not fill the disk; the UI copies its files as soon as a request returns.
    """

    def __init__(self, root: Path | None = None, keep_seconds: float = 3600.0) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="animegan-app-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep_seconds = keep_seconds

    def new_dir(self) -> Path:
        """A fresh, empty folder under ``root`` (prunes expired ones first)."""
        cutoff = time.time() - self.keep_seconds
        for old in self.root.iterdir():
            with contextlib.suppress(OSError):
                if old.is_dir() and old.stat().st_mtime < cutoff:
                    shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.root))
