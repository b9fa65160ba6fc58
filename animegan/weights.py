"""The weight manifest, the search path and SHA-256 verification.

No weight is ever used unless its bytes hash to the manifest's SHA-256. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import AnimeGANError, WeightsChecksumError, WeightsError, WeightsMissingError
from .settings import Settings

log = logging.getLogger(__name__)

Kind = Literal["anime", "face", "upscale"]
State = Literal["ok", "missing", "corrupt", "unverifiable"]


@dataclass(frozen=True)
class WeightEntry:
    """One manifest line: a weight file the product knows."""

    id: str
    kind: Kind
    file: str
    sha256: str | None
    bytes: int | None
    format: Literal["torch", "onnx", "tf-checkpoint"]
    arch: str
    license: str
    source: str
    url: str | None = None


@dataclass(frozen=True)
class WeightStatus:
    """Where a weight file stands right now (for ``animegan weights`` and the UI)."""

    entry: WeightEntry
    state: State
    path: Path | None
    message: str


def load_manifest(path: Path) -> dict[str, WeightEntry]:
    """Read ``weights/manifest.json`` into entries keyed by file name.

    Raises WeightsError if the manifest is unreadable or has duplicate ids or files.
    """
    try:
        doc = json.loads(path.read_text())
        entries = [WeightEntry(**row) for row in doc["models"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise WeightsError(f"weight manifest {path} is unreadable: {err}") from err
    by_file: dict[str, WeightEntry] = {}
    ids: set[str] = set()
    for e in entries:
        if e.file in by_file or e.id in ids:
            raise WeightsError(f"weight manifest {path} lists {e.id!r} / {e.file!r} twice")
        by_file[e.file] = e
        ids.add(e.id)
    return by_file


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class WeightStore:
    """Finds weight files on the search path and verifies them (thread-safe, results cached)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.entries = load_manifest(settings.manifest)
        self._verified: dict[tuple[Path, int, int], str] = {}
        self._lock = threading.Lock()

    def entry(self, file: str) -> WeightEntry:
        """The manifest entry for a file name. Raises WeightsError if the manifest lacks it."""
        try:
            return self.entries[file]
        except KeyError:
            raise WeightsError(f"weight file {file!r} is not in the manifest {self.settings.manifest}") from None

    def candidates(self, entry: WeightEntry) -> list[Path]:
        """Every place the file may be, in search order (``DIR/FILE`` then ``DIR/<kind>/FILE``)."""
        return [p for d in self.settings.weights_path for p in (d / entry.file, d / entry.kind / entry.file)]

    def resolve(self, file: str) -> Path:
        """Path of a verified copy of ``file``.

        Raises WeightsMissingError (no copy on the search path) or WeightsChecksumError (every copy
        found has the wrong SHA-256, or the manifest has no SHA-256 to check it against).
        """
        entry = self.entry(file)
        found = [p for p in self.candidates(entry) if p.is_file()]
        if not found:
            dirs = ", ".join(str(d) for d in self.settings.weights_path)
            hint = f"; or run `python -m animegan weights --download {entry.id}`" if entry.url and entry.sha256 else ""
            raise WeightsMissingError(
                f"weight file {entry.file!r} not found in {dirs}; "
                f"add its folder to ANIMEGAN_WEIGHTS_PATH{hint}"
            )
        if entry.sha256 is None:
            raise WeightsChecksumError(
                f"weight file {entry.file!r} has no SHA-256 in the manifest, so it cannot be verified; "
                f"add its checksum to {self.settings.manifest}"
            )
        bad = []
        for path in found:
            digest = self._digest(path)
            if digest == entry.sha256:
                return path
            bad.append(f"{path} (sha256 {digest[:12]}…)")
        raise WeightsChecksumError(
            f"weight file {entry.file!r} is corrupt: {', '.join(bad)} does not match the manifest's "
            f"sha256 {entry.sha256[:12]}…; replace it with a good copy"
            + (f" (`python -m animegan weights --download {entry.id}`)" if entry.url else "")
        )

    def status(self, file: str) -> WeightStatus:
        """Resolve without raising: the state and a message saying how to fix it."""
        entry = self.entry(file)
        try:
            path = self.resolve(file)
        except WeightsMissingError as err:
            return WeightStatus(entry, "missing", None, str(err))
        except WeightsChecksumError as err:
            state: State = "unverifiable" if entry.sha256 is None else "corrupt"
            return WeightStatus(entry, state, None, str(err))
        return WeightStatus(entry, "ok", path, f"ok: {path}")

    def status_all(self) -> list[WeightStatus]:
        """Status of every manifest entry, in manifest order."""
        return [self.status(f) for f in self.entries]

    def download(self, file: str, progress: Callable[[int, int], None] | None = None) -> Path:
        """Fetch a file from its public URL into ``settings.download_dir`` and verify it.

        Raises WeightsError when the entry has no URL or checksum, the download fails or the bytes
        do not match. Never called by tests (these machines have no internet).
        """
        entry = self.entry(file)
        if not entry.url or not entry.sha256:
            raise WeightsError(f"{entry.id}: no public URL with a known SHA-256; obtain {entry.file!r} by hand")
        dest_dir = self.settings.download_dir
        dest_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest_dir, suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(entry.url, timeout=60) as resp:
                total = int(resp.headers.get("Content-Length") or 0)
                done = 0
                while block := resp.read(1 << 20):
                    out.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
            digest = sha256_of(tmp)
            if digest != entry.sha256:
                raise WeightsChecksumError(f"downloaded {entry.file!r} has sha256 {digest}, expected {entry.sha256}")
            dest = dest_dir / entry.file
            tmp.replace(dest)
            return dest
        except AnimeGANError:
            raise
        except OSError as err:
            raise WeightsError(f"download of {entry.file!r} from {entry.url} failed: {err}") from err
        finally:
            tmp.unlink(missing_ok=True)

    def _digest(self, path: Path) -> str:
        st = path.stat()
        key = (path.resolve(), st.st_size, st.st_mtime_ns)
        with self._lock:
            cached = self._verified.get(key)
        if cached is None:
            cached = sha256_of(path)
            with self._lock:
                self._verified[key] = cached
        return cached


def install_help(settings: Settings) -> str:
    """How to install the style weights on this machine (shown when none is available)."""
    folders = ", ".join(str(p) for p in settings.weights_path)
    return (f"No style weights are installed on this server. Put the weight files listed in {settings.manifest} into "
            f"one of these folders (or a folder named anime/ inside one): {folders}; or add their folder to "
            "ANIMEGAN_WEIGHTS_PATH. Then run `python -m animegan weights` to check them (ok / missing / corrupt) "
            "and restart the app.")
