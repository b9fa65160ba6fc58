"""One record for "can this be used here, and if not, why": styles, upscalers, weight files and capabilities."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

State = Literal["ok", "missing", "corrupt", "unavailable"]
"""``ok``: usable; ``missing``/``corrupt``: a weight file is absent or fails its SHA-256; ``unavailable``: anything else."""


@dataclass(frozen=True)
class Availability(Generic[T]):
    """Whether ``item`` (a StyleSpec, an UpscalerSpec, a WeightEntry, a capability's name) can be used here."""

    item: T
    state: State = "ok"
    reason: str = ""
    """Why not, and how to fix it; when available, empty or (for a capability) what provides it."""
    license: str = ""
    """The licence of the weights behind it, as their source states it (empty when none apply)."""
    path: Path | None = None
    """The verified file behind it, when it is one."""

    @property
    def available(self) -> bool:
        return self.state == "ok"

    def because(self, reason: str, state: State = "unavailable") -> Availability[T]:
        """The same item, not available for ``reason``."""
        return Availability(self.item, state, reason, self.license, self.path)
