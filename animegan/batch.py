"""Batch requests: expand uploaded files and zips of images, stylize each, zip all outputs.

A bad file is reported by name and the others still complete. Uploaded names are display-only:
output names are generated (:func:`animegan.jobs.output_name`) and nothing is ever extracted to a
path taken from an archive. Zips are read in memory under count, size and ratio limits.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .cache import ResultCache
from .errors import AnimeGANError, ImageTooLargeError
from .jobs import stylize_job
from .pipeline import StylizeOptions
from .progress import Progress, no_progress, scaled
from .service import Service
from .settings import Settings

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jfif", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm",
                            ".pbm", ".tga", ".ico", ".mpo"})
"""Zip members with these extensions are treated as images; other members are listed as skipped."""
MAX_ZIP_RATIO = 200
"""A member that inflates more than this many times its compressed size is refused (zip bomb)."""


@dataclass(frozen=True)
class BatchInput:
    """One image of a batch: its display name and bytes, or why it could not be read."""

    name: str
    data: bytes | None
    error: str = ""


@dataclass(frozen=True)
class ItemResult:
    """How one input fared: ``output`` is the PNG written for it (None when it failed)."""

    name: str
    ok: bool
    message: str
    output: Path | None = None
    cached: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class BatchResult:
    items: list[ItemResult]
    archive: Path | None
    """A zip of every output (None when nothing succeeded)."""

    @property
    def succeeded(self) -> int:
        return sum(i.ok for i in self.items)


class _Budget:
    def __init__(self, settings: Settings) -> None:
        self.max_files = settings.batch_max_files
        self.max_total = settings.batch_max_mb << 20
        self.max_file = settings.max_upload_mb << 20
        self.files = 0
        self.total = 0

    def take(self, nbytes: int) -> None:
        self.files += 1
        self.total += nbytes
        if self.files > self.max_files:
            raise ImageTooLargeError(
                f"the batch holds more than {self.max_files} images; split it or raise ANIMEGAN_BATCH_MAX_FILES"
            )
        if self.total > self.max_total:
            raise ImageTooLargeError(
                f"the batch's images add up to more than {self.max_total >> 20} MB after unzipping; "
                "split it or raise ANIMEGAN_BATCH_MAX_MB"
            )


def expand_uploads(paths: Sequence[Path], settings: Settings) -> list[BatchInput]:
    """The images of an upload: each file as itself, each zip as its image members (``zip/inner/name``).

    Raises ImageTooLargeError when the batch exceeds ``batch_max_files`` images or ``batch_max_mb``
    in total; a single unreadable, oversized or suspicious file becomes an item with an ``error``.
    """
    budget = _Budget(settings)
    items: list[BatchInput] = []
    for path in paths:
        name = Path(path).name
        if zipfile.is_zipfile(path):
            items.extend(_expand_zip(Path(path), name, budget))
            continue
        size = Path(path).stat().st_size
        if size > budget.max_file:
            items.append(BatchInput(name, None, f"{size / 2**20:.1f} MB is over the {settings.max_upload_mb} MB limit per file"))
            continue
        budget.take(size)
        items.append(BatchInput(name, Path(path).read_bytes()))
    return items


def _expand_zip(path: Path, zip_name: str, budget: _Budget) -> list[BatchInput]:
    items: list[BatchInput] = []
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            if len(members) > 10 * budget.max_files:
                raise ImageTooLargeError(f"{zip_name} lists {len(members)} entries; a batch may hold {budget.max_files} images")
            for info in members:
                inner = PurePosixPath(info.filename.replace("\\", "/"))
                if info.is_dir() or "__MACOSX" in inner.parts or inner.name.startswith("."):
                    continue
                name = f"{zip_name}/{info.filename}"
                if inner.suffix.lower() not in IMAGE_SUFFIXES:
                    items.append(BatchInput(name, None, f"skipped: {inner.suffix or 'no extension'} is not an image file type"))
                    continue
                items.append(_read_member(zf, info, name, budget))
    except zipfile.BadZipFile as err:
        return [BatchInput(zip_name, None, f"the zip file is damaged ({err})")]
    return items


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, budget: _Budget) -> BatchInput:
    if info.file_size > budget.max_file:
        return BatchInput(name, None, f"{info.file_size / 2**20:.1f} MB is over the {budget.max_file >> 20} MB limit per file")
    if info.compress_size and info.file_size / info.compress_size > MAX_ZIP_RATIO:
        return BatchInput(name, None, f"refused: it inflates {info.file_size // info.compress_size}× (a zip bomb?)")
    try:
        with zf.open(info) as f:
            data = f.read(budget.max_file + 1)  # the header's size may lie: never read past the limit
    except (RuntimeError, NotImplementedError, zipfile.BadZipFile, OSError, EOFError) as err:
        return BatchInput(name, None, f"cannot read it from the zip ({err})")
    if len(data) > budget.max_file:
        return BatchInput(name, None, f"over the {budget.max_file >> 20} MB limit per file")
    budget.take(len(data))
    return BatchInput(name, data)


def run_batch(
    service: Service,
    cache: ResultCache,
    inputs: Sequence[BatchInput],
    options: StylizeOptions,
    out_dir: Path,
    progress: Progress = no_progress,
) -> BatchResult:
    """Stylize every input into ``out_dir`` and zip the outputs as ``out_dir/anime-<style>.zip``.

    Engine errors become that item's message; other exceptions are bugs: logged with their
    traceback and reported as an internal error for that item only.
    """
    results: list[ItemResult] = []
    taken: set[str] = set()
    n = max(len(inputs), 1)
    for i, item in enumerate(inputs):
        if item.data is None:
            results.append(ItemResult(item.name, False, item.error))
            continue
        step = scaled(progress, i / n, (i + 1) / n)
        step(0.0, f"{i + 1}/{len(inputs)}: {item.name}")
        try:
            job = stylize_job(service, cache, item.data, item.name, options, out_dir, step, taken)
        except AnimeGANError as err:
            results.append(ItemResult(item.name, False, str(err)))
            continue
        except Exception:
            log.exception("unexpected error while stylizing batch item %r", item.name)
            results.append(ItemResult(item.name, False, "internal error while processing this file (see the server log)"))
            continue
        note = "from cache" if job.cached else f"{job.seconds:.1f} s"
        results.append(ItemResult(item.name, True, f"ok, {job.size[0]}×{job.size[1]} ({note})", job.output, job.cached,
                                  job.seconds))
    progress(1.0, "zipping")
    return BatchResult(results, write_zip([r.output for r in results if r.output], out_dir / f"anime-{options.style}.zip"))


def write_zip(files: Sequence[Path], dest: Path) -> Path | None:
    """A zip of ``files`` stored flat under their own (already safe and unique) names; None if empty."""
    if not files:
        return None
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for f in files:
            zf.write(f, arcname=f.name)
    return dest
