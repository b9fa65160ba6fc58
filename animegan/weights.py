"""The weight manifest, the search path and SHA-256 verification.

No weight is ever used unless its bytes hash to a SHA-256 the manifest pins: the file as verified
here (``sha256``), or what one of its public ``sources`` installs (the downloaded file itself, or the
pinned result of converting it locally). Nothing here imports torch or touches the network; the
installer (:mod:`animegan.install`) downloads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

from .availability import Availability
from .errors import WeightsChecksumError, WeightsError, WeightsMissingError
from .settings import Settings

log = logging.getLogger(__name__)

Kind = Literal["anime", "face", "upscale"]
Origin = Literal["official", "third-party"]
SHA256 = re.compile(r"[0-9a-f]{64}")
PINNED_URL = re.compile(r"https://(github\.com/[^/]+/[^/]+/releases/download/[^/]+|raw\.githubusercontent\.com/[^/]+/[^/]+/[0-9a-f]{40})/.+")
"""A source URL names a release tag or a full commit, never a moving branch."""


@dataclass(frozen=True)
class SourceFile:
    """One upstream download: its role in a conversion (``model`` for a plain file), URL and bytes."""

    role: str
    url: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Source:
    """A public place a weight file comes from: its files, and the local conversion that makes our file.

    ``sha256`` is what gets installed: the pinned result of ``convert`` (deterministic with the pinned
    libraries), or, without a conversion, the one downloaded file's own SHA-256.
    """

    origin: Origin
    note: str
    files: tuple[SourceFile, ...]
    sha256: str | None
    convert: str | None = None
    install_as: str | None = None
    """File name it is installed under when that differs from the entry's (an official release's own name)."""


@dataclass(frozen=True)
class WeightEntry:
    """One manifest line: a weight file the product uses, and where to get it."""

    id: str
    kind: Kind
    file: str
    sha256: str
    bytes: int
    format: Literal["torch", "onnx"]
    arch: str
    license: str
    description: str
    sources: tuple[Source, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """File names a copy may have: ours, then the sources' own (deduplicated, in order)."""
        return tuple(dict.fromkeys([self.file, *(s.install_as for s in self.sources if s.install_as)]))

    @property
    def accepted(self) -> frozenset[str]:
        """Every SHA-256 a usable copy may have."""
        return frozenset([self.sha256, *(s.sha256 for s in self.sources if s.sha256)])


@dataclass(frozen=True)
class Located:
    """A verified copy of a weight file. ``entry.sha256`` is this copy's own SHA-256 (one of the manifest
    entry's accepted ones): derived models are keyed by it."""

    entry: WeightEntry
    path: Path


class _FileRow(TypedDict):
    """A source file in the manifest's JSON (unchecked: :func:`load_manifest` reports a malformed one)."""

    url: str
    sha256: str
    bytes: int


class _SourceRow(TypedDict):
    """A source in the manifest's JSON, its files by role."""

    origin: Origin
    note: str
    files: dict[str, _FileRow]
    sha256: NotRequired[str]
    convert: NotRequired[str]
    install_as: NotRequired[str]


def _source(entry_id: str, row: _SourceRow) -> Source:
    files = tuple(SourceFile(role=role, **spec) for role, spec in row["files"].items())
    convert = row.get("convert")
    sha = row.get("sha256") if convert else files[0].sha256 if len(files) == 1 else None
    source = Source(origin=row["origin"], note=row["note"], files=files, sha256=sha,
                    convert=convert, install_as=row.get("install_as"))
    problems = [f"URL {f.url} is not pinned to a release or a commit" for f in files if not PINNED_URL.fullmatch(f.url)]
    problems += [f"{f.url} has a malformed sha256" for f in files if not SHA256.fullmatch(f.sha256)]
    if not convert and len(files) != 1:
        problems.append("a source without a conversion must have exactly one file")
    if source.origin not in ("official", "third-party"):
        problems.append(f"origin {source.origin!r} is neither 'official' nor 'third-party'")
    if problems:
        raise ValueError(f"{entry_id}: {'; '.join(problems)}")
    return source


def load_manifest(path: Path) -> dict[str, WeightEntry]:
    """Read ``weights/manifest.json`` into entries keyed by file name.

    Raises WeightsError if the manifest is unreadable, malformed, or has duplicate ids or files.
    """
    try:
        doc = json.loads(path.read_text())
        entries = [WeightEntry(**{**row, "sources": tuple(_source(row["id"], s) for s in row.get("sources", ()))})
                   for row in doc["models"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise WeightsError(f"weight manifest {path} is unreadable: {err}") from err
    by_file: dict[str, WeightEntry] = {}
    ids: set[str] = set()
    for e in entries:
        if e.file in by_file or e.id in ids or not SHA256.fullmatch(e.sha256):
            raise WeightsError(f"weight manifest {path}: {e.id!r} / {e.file!r} is listed twice or has a malformed sha256")
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
    """Finds weight files on the search path and verifies them (thread-safe, digests cached)."""

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

    def by_id(self, entry_id: str) -> WeightEntry:
        """The manifest entry with this id. Raises WeightsError naming the valid ids."""
        for e in self.entries.values():
            if e.id == entry_id:
                return e
        raise WeightsError(f"unknown weight id {entry_id!r}; choose from: {', '.join(e.id for e in self.entries.values())}")

    def candidates(self, entry: WeightEntry) -> list[Path]:
        """Every place a copy may be, in search order (``DIR/NAME`` then ``DIR/<kind>/NAME``, for each name)."""
        return [p for d in self.settings.weights_path for n in entry.names for p in (d / n, d / entry.kind / n)]

    def fix_hint(self, entry: WeightEntry) -> str:
        """The two ways to install a file, for messages."""
        folder = "add a folder holding it to ANIMEGAN_WEIGHTS_PATH"
        if not entry.sources:
            return folder
        return f"run `python -m animegan weights --download {entry.id}` (needs internet), or {folder}"

    def locate(self, file: str) -> Located:
        """The first verified copy of ``file`` on the search path.

        Raises WeightsMissingError (no copy anywhere) or WeightsChecksumError (every copy found has a
        SHA-256 the manifest does not pin).
        """
        entry = self.entry(file)
        found = [p for p in self.candidates(entry) if p.is_file()]
        if not found:
            dirs = ", ".join(str(d) for d in self.settings.weights_path)
            raise WeightsMissingError(f"weight file {entry.file!r} not found in {dirs}; {self.fix_hint(entry)}")
        bad = []
        for path in found:
            digest = self._digest(path)
            if digest in entry.accepted:
                return Located(replace(entry, sha256=digest), path)
            bad.append(f"{path} (sha256 {digest[:12]}…)")
        raise WeightsChecksumError(
            f"weight file {entry.file!r} is corrupt: {', '.join(bad)} does not match the manifest's "
            f"sha256 {entry.sha256[:12]}…; replace it with a good copy: {self.fix_hint(entry)}"
        )

    def resolve(self, file: str) -> Path:
        """Path of a verified copy of ``file`` (see :meth:`locate` for the errors)."""
        return self.locate(file).path

    def status(self, file: str) -> Availability[WeightEntry]:
        """Resolve without raising: ``ok`` with the verified path, or ``missing``/``corrupt`` and how to fix it."""
        entry = self.entry(file)
        try:
            path = self.resolve(file)
        except WeightsMissingError as err:
            return Availability(entry, "missing", str(err), entry.license)
        except WeightsChecksumError as err:
            return Availability(entry, "corrupt", str(err), entry.license)
        return Availability(entry, "ok", "", entry.license, path)

    def status_all(self) -> list[Availability[WeightEntry]]:
        """Status of every manifest entry, in manifest order."""
        return [self.status(f) for f in self.entries]

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


def install_help(store: WeightStore, files: list[str]) -> str:
    """What to tell a user when these weight files are missing: which files, and the two ways to install them."""
    settings = store.settings
    entries = [store.entry(f) for f in files]
    ids = " ".join(e.id for e in entries)
    names = ", ".join(f"`{e.file}`" for e in entries)
    folders = ", ".join(f"`{p}`" for p in settings.weights_path)
    return (f"**Missing weight files:** {names}. Install them in one of two ways, then restart the app:\n\n"
            f"1. Download and verify them from their public sources (needs internet): "
            f"`python -m animegan weights --download {ids if len(entries) < 4 else 'all'}`\n"
            f"2. Or put the files in a folder and add it to `ANIMEGAN_WEIGHTS_PATH` (searched now: {folders}).\n\n"
            "`python -m animegan weights` shows each file's state (ok / missing / corrupt).")
