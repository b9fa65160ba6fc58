"""Installing weight files from their public sources: download, verify, convert, verify again, rename.

Each manifest entry lists its sources in the order they are tried (official releases first). A source's
files are fetched with ``pooch`` (a hash-checked registry: every byte is checked against the pinned
SHA-256 before anything uses it), through a downloader that resumes a partial file and gives up on a
stalled connection; then, if the upstream format is not the one we run, converted locally
(:mod:`animegan.convert`) and the result checked against its own pinned SHA-256. A file appears
under its final name only by an atomic rename after these checks, so nothing half-written is used.
An entry already on the search path costs no network request.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .errors import WeightsError
from .weights import Source, SourceFile, WeightEntry, WeightStore, sha256_of

log = logging.getLogger(__name__)

Outcome = Literal["present", "installed", "failed"]


class _SourceFailed(Exception):
    """This source cannot give the file (HTTP error, bad bytes, timeout...): try the next one."""


class _DiskError(Exception):
    """The download folder cannot be written: no other source will do better."""


@dataclass(frozen=True)
class InstallResult:
    """What installing one manifest entry did."""

    entry: WeightEntry
    outcome: Outcome
    path: Path | None
    message: str
    source: Source | None = None
    disk_error: bool = False
    """The download folder could not be written (no later entry can succeed either)."""


def mirrored(url: str, mirror: str | None) -> str:
    """``https://HOST/PATH`` as fetched through ``mirror`` (``MIRROR/HOST/PATH``), or unchanged without one."""
    if not mirror:
        return url
    parts = urlsplit(url)
    return f"{mirror}/{parts.netloc}{parts.path}"


def sources_table(store: WeightStore) -> list[dict[str, Any]]:
    """One row per upstream download of every entry, in the order an install tries them."""
    rows = []
    for entry in store.entries.values():
        for rank, source in enumerate(entry.sources):
            for f in source.files:
                rows.append({"id": entry.id, "file": entry.file, "kind": entry.kind, "role": f.role, "url": f.url,
                             "sha256": f.sha256, "bytes": f.bytes, "origin": source.origin, "note": source.note,
                             "priority": rank, "convert": source.convert, "installs": source.install_as or entry.file,
                             "installs_sha256": source.sha256, "license": entry.license})
    return rows


class ResumingDownloader:
    """A pooch downloader (``downloader(url, output_file, pooch)``) that keeps a partial download in
    ``part`` and resumes it with an HTTP range request on the next attempt.

    Raises ``_SourceFailed`` when the host cannot be reached or answers with a client error (not retried),
    ``requests`` exceptions for a timeout or a connection broken mid-file (pooch retries those once,
    resuming), OSError for the disk.
    """

    def __init__(self, part: Path, timeout: float, label: str, progress: bool) -> None:
        self.part, self.timeout, self.label, self.progress = part, timeout, label, progress

    def __call__(self, url: str, output_file: str, pooch: object, check_only: bool = False) -> None:
        import requests
        from tqdm import tqdm

        have = self.part.stat().st_size if self.part.is_file() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            response = requests.get(url, stream=True, timeout=self.timeout, headers=headers)
        except requests.exceptions.ConnectionError as err:  # no route, refused, unknown host: retrying will not help
            raise _SourceFailed(f"cannot connect ({_short(err)})") from err
        with response:
            if response.status_code == 416:  # the partial file is not a prefix of this one: start again
                self.part.unlink()
                return self(url, output_file, pooch)
            if 400 <= response.status_code < 500:
                raise _SourceFailed(f"HTTP {response.status_code} {response.reason}")
            response.raise_for_status()
            resumed = response.status_code == 206 and response.headers.get("Content-Range", "").startswith(f"bytes {have}-")
            if not resumed:
                have = 0
            size = have + int(response.headers.get("Content-Length") or 0)
            with self.part.open("ab" if resumed else "wb") as out, \
                    tqdm(total=size or None, initial=have, unit="B", unit_scale=True, desc=self.label[:40], file=sys.stderr,
                         disable=not self.progress, leave=False) as bar:
                for chunk in response.iter_content(chunk_size=1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(self.part, output_file)
        return None


class Installer:
    """Installs manifest entries into ``settings.download_dir`` (searched as ``DIR/<kind>/FILE``)."""

    def __init__(self, store: WeightStore, progress: bool = False) -> None:
        """Raises WeightsError when the downloader's packages are not installed."""
        if importlib.util.find_spec("pooch") is None:
            raise WeightsError("installing weights needs pooch and the converters' packages: "
                               "pip install -r requirements-torch.txt (or put the files on ANIMEGAN_WEIGHTS_PATH)")
        self.store, self.settings, self.progress = store, store.settings, progress

    def install_all(self, names: Iterable[str] = ("all",)) -> Iterator[InstallResult]:
        """Install the entries ``names`` selects (``all``, a kind: ``anime``/``face``/``upscale``, or manifest ids),
        one result each.

        Stops early only when the download folder cannot be written (the remaining entries are reported failed).
        Raises WeightsError for an unknown name, before any download.
        """
        entries = list(dict.fromkeys(e for name in names for e in self.select(name)))
        disk_error = None
        for entry in entries:
            if disk_error:
                yield InstallResult(entry, "failed", None, disk_error, disk_error=True)
                continue
            result = self.install(entry)
            if result.disk_error:
                disk_error = result.message
            yield result

    def select(self, name: str) -> list[WeightEntry]:
        """The entries ``name`` stands for: ``all`` (every entry with a source), a kind, or one manifest id."""
        entries = [e for e in self.store.entries.values() if e.sources]
        if name == "all":
            return entries
        if name in ("anime", "face", "upscale"):
            return [e for e in entries if e.kind == name]
        return [self.store.by_id(name)]

    def install(self, entry: WeightEntry) -> InstallResult:
        """Install one entry from the first of its sources that works; a copy already on the search path wins."""
        status = self.store.status(entry.file)
        if status.state == "ok":
            return InstallResult(entry, "present", status.path, f"already installed: {status.path}")
        if not entry.sources:
            return InstallResult(entry, "failed", None, f"{entry.file!r} has no public source; {self.store.fix_hint(entry)}")
        tried = []
        for source in entry.sources:
            try:
                path = self._install_from(entry, source)
            except _SourceFailed as err:
                log.info("%s: %s source failed: %s", entry.id, source.origin, err)
                tried.append(str(err))
                continue
            except _DiskError as err:
                return InstallResult(entry, "failed", None, str(err), disk_error=True)
            how = f"converted with {source.convert}" if source.convert else "downloaded"
            return InstallResult(entry, "installed", path, f"{how} from the {source.origin} source {source.files[0].url}", source)
        return InstallResult(entry, "failed", None, (
            f"could not install {entry.file!r}: " + "; ".join(tried)
            + f". Check the internet connection (or ANIMEGAN_WEIGHTS_MIRROR) and run `python -m animegan weights "
              f"--download {entry.id}` again, or put the file (sha256 {entry.sha256[:12]}…) in a folder on "
              "ANIMEGAN_WEIGHTS_PATH"))

    # ---- one source --------------------------------------------------------------------------------

    def _install_from(self, entry: WeightEntry, source: Source) -> Path:
        if source.sha256 is None:
            raise _SourceFailed(f"{source.files[0].url}: no pinned SHA-256 for the result of {source.convert!r}")
        dest_dir = self.settings.download_dir / entry.kind
        final = dest_dir / (source.install_as or entry.file)
        self._writable(dest_dir)
        if source.convert is None:
            return self._fetch(source.files[0], dest_dir, final.name)
        inputs = {f.role: self._fetch(f, self.settings.download_dir / ".sources", f"{f.sha256[:16]}-{Path(f.url).name}")
                  for f in source.files}
        self._convert(source, inputs, final)
        for path in inputs.values():  # the upstream files were only needed to convert
            path.unlink(missing_ok=True)
        return final

    def _writable(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as err:
            raise _DiskError(self._disk_message(folder, err)) from err

    def _disk_message(self, folder: Path, err: OSError) -> str:
        return (f"cannot write to the download folder {folder}: {err.strerror or err}; free some space or set "
                "ANIMEGAN_DOWNLOAD_DIR to a writable folder")

    def _fetch(self, f: SourceFile, folder: Path, name: str) -> Path:
        """Download ``f`` into ``folder/name`` (pooch: verified, then renamed into place), or reuse a verified copy."""
        import pooch
        import requests

        url = mirrored(f.url, self.settings.weights_mirror)
        pooch.get_logger().setLevel(logging.WARNING)
        registry = pooch.create(path=folder, base_url="", registry={name: f"sha256:{f.sha256}"}, urls={name: url},
                                retry_if_failed=1)
        downloader = ResumingDownloader(folder / f"{name}.part", self.settings.download_timeout, name, self.progress)
        try:
            return Path(registry.fetch(name, downloader=downloader))
        except _SourceFailed as err:
            raise _SourceFailed(f"{url}: {err}") from err
        except ValueError as err:  # pooch: the bytes do not hash to the pinned SHA-256 (the temporary file is deleted)
            raise _SourceFailed(f"{url}: the downloaded bytes do not match the pinned sha256 {f.sha256[:12]}… "
                                "(damaged or changed upstream)") from err
        except requests.exceptions.Timeout as err:
            raise _SourceFailed(f"{url}: no answer within {self.settings.download_timeout:g} s") from err
        except requests.exceptions.RequestException as err:  # connection refused, reset, truncated, 5xx
            raise _SourceFailed(f"{url}: {_short(err)}") from err
        except OSError as err:
            (folder / f"{name}.part").unlink(missing_ok=True)
            raise _DiskError(self._disk_message(folder, err)) from err

    def _convert(self, source: Source, inputs: dict[str, Path], final: Path) -> None:
        """Run the source's conversion into a temporary file, check the result's pinned SHA-256, rename it into place."""
        assert source.convert is not None and source.sha256 is not None
        try:
            from .convert import CONVERSIONS
        except ImportError as err:
            raise _SourceFailed(f"the conversion {source.convert!r} needs a package that is missing ({err}); "
                                "pip install -r requirements.txt") from err
        if source.convert not in CONVERSIONS:
            raise _SourceFailed(f"unknown conversion {source.convert!r}")
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            CONVERSIONS[source.convert](inputs, tmp)
            got = sha256_of(tmp)
            if got != source.sha256:
                raise _SourceFailed(
                    f"converting {source.files[0].url} with {source.convert} gave sha256 {got[:12]}…, not the pinned "
                    f"{source.sha256[:12]}… (are the package versions the ones pinned in requirements.txt?)")
            os.replace(tmp, final)
        except WeightsError as err:
            raise _SourceFailed(f"{source.files[0].url}: {err}") from err
        except OSError as err:
            raise _DiskError(self._disk_message(final.parent, err)) from err
        finally:
            tmp.unlink(missing_ok=True)
        log.info("converted %s → %s", ", ".join(p.name for p in inputs.values()), final)


def _short(err: Exception) -> str:
    """The cause of a requests error without urllib3's wrapping (``Failed to resolve 'github.com' (...)``)."""
    reason = getattr(err.args[0], "reason", None) if err.args else None
    return str(reason or err).split(">: ", 1)[-1]
