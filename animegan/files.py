"""The per-file job of ``stylize`` (local or on a cluster): one input, one output file, one typed result."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import AnimeGANError
from .imageio import Face, Source, encode, format_for
from .pipeline import Engine, StylizeOptions


@dataclass(frozen=True)
class FileResult:
    """What became of one input: its output file, or why there is none (``error``)."""

    input: str
    style: str
    output: str | None = None
    width: int | None = None
    height: int | None = None
    seconds: float | None = None
    error: str | None = None
    faces: tuple[Face, ...] | None = None
    """The faces found (None when the input failed or was skipped)."""
    node: str | None = None
    """The cluster node that ran it (``stylize --ray``)."""
    skipped: bool = False
    """Not redone: its output was already complete (``stylize --ray`` without ``--overwrite``)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def failed(self, error: str) -> FileResult:
        return replace(self, output=None, error=error)

    def to_json(self) -> dict[str, object]:
        """The input's object in ``stylize --json`` (``node`` and ``skipped`` only from a cluster run)."""
        row: dict[str, object] = {"input": self.input, "output": self.output, "style": self.style, "width": self.width,
                                  "height": self.height, "seconds": self.seconds, "error": self.error}
        if self.faces is not None:
            row["faces"] = [{"box": list(f.box), "score": f.score} for f in self.faces]
        if self.node is not None or self.skipped:
            row["node"] = self.node
        if self.skipped:
            row["skipped"] = True
        return row


def stylize_file_to(engine: Engine, source: Source, label: str, dst: Path,
                    options: StylizeOptions) -> tuple[bytes | None, FileResult]:
    """One input: its encoded result for ``dst`` (None when it failed) and its result.

    ``source`` is the input's path or bytes and ``label`` its name in the report. Engine errors
    (unreadable or unsupported image, too large...) go into the result's ``error``; anything else is a
    bug and propagates. The same function runs in-process and on a cluster's actors.
    """
    start = time.perf_counter()
    try:
        picture = engine.stylize_file(source, options)
        data = encode(picture, format_for(dst))
    except AnimeGANError as err:
        return None, FileResult(label, options.style, error=str(err), seconds=round(time.perf_counter() - start, 3))
    width, height = picture.output_size
    return data, FileResult(label, options.style, str(dst), width, height, round(time.perf_counter() - start, 3),
                            faces=picture.faces)


def save_output(dst: Path, data: bytes, result: FileResult) -> FileResult:
    """Write a result under a temporary name, then rename it: ``dst`` exists only when complete.

    Returns ``result``, or (a write failure) the result with no output and the error saying why.
    """
    tmp = dst.with_name(f".{dst.name}.part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, dst)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        return result.failed(f"cannot write {dst}: {err.strerror or err}")
    return result


def is_complete(path: Path) -> bool:
    """An output written by :func:`save_output` exists only once complete (renamed into place)."""
    return path.is_file() and path.stat().st_size > 0


def load_models(engine: Engine, options: StylizeOptions) -> None:
    """Load (and verify) what ``options`` needs once, before any file. Raises WeightsError."""
    engine.stylizer(options.style, options.backend)
    if options.upscale > 1:
        engine.upscalers.get(options.upscaler, measured=options.backend != "onnx")
