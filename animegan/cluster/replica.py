"""The unit of work on a cluster: one engine in one process (a Serve replica or a plain Ray actor)."""

from __future__ import annotations

from ..errors import AnimeGANError
from ..imageio import OutputFormat
from ..pipeline import Engine, StylizeOptions
from ..settings import Settings
from .connect import current_node
from .segments import Segment, SegmentResult, stylize_segment

REPLICA_CPUS = 1
"""CPUs (and engine threads) per replica: one replica per CPU slot serves one user at a time."""


class EngineReplica:
    """One engine; engine errors come back as values, so no remote traceback ever reaches a user."""

    def __init__(self, settings: Settings) -> None:
        self.engine = Engine(settings.with_(threads=REPLICA_CPUS))
        self.node = current_node()

    def render(self, data: bytes, options: StylizeOptions, fmt: OutputFormat) -> bytes | AnimeGANError:
        """:meth:`Engine.render` of image bytes."""
        try:
            return self.engine.render(data, options, fmt)
        except AnimeGANError as err:
            return err

    def segment(self, segment: Segment) -> SegmentResult | AnimeGANError:
        """One video segment, stylized and encoded (see :mod:`animegan.cluster.segments`)."""
        try:
            return stylize_segment(self.engine, segment)
        except AnimeGANError as err:
            return err

    def where(self) -> str:
        """The node this replica runs on."""
        return self.node
