"""The progress callback every long step accepts: ``progress(fraction, message)``."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def __call__(self, fraction: float, message: str) -> None: ...


def no_progress(fraction: float, message: str) -> None:
    """The default callback: ignore progress."""


def scaled(progress: Progress, start: float, end: float) -> Progress:
    """A callback mapping a sub-step's 0..1 onto ``start..end`` of the parent's progress."""

    def report(fraction: float, message: str) -> None:
        progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)

    return report
