"""``video --ray``: the segments of :mod:`.segments` stylized on one engine actor per free CPU of the cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..progress import Progress, no_progress
from ..settings import Settings
from ..video import VideoOptions, VideoResult
from .connect import connect, free_cpus
from .replica import REPLICA_CPUS, EngineReplica
from .segments import Segment, SegmentResult, convert_video_on_cluster


def convert_on_actors(settings: Settings, address: str, source: str | Path, destination: str | Path,
                      options: VideoOptions, progress: Progress = no_progress) -> VideoResult:
    """``video --ray``: join the cluster and stylize the segments on one engine actor per CPU."""
    import ray
    from ray.util import ActorPool

    connect(address)
    workers = max(1, free_cpus() // REPLICA_CPUS)
    actor = ray.remote(num_cpus=REPLICA_CPUS, max_restarts=-1, max_task_retries=-1)(EngineReplica)
    pool = ActorPool([actor.remote(settings) for _ in range(workers)])

    def run(segments: list[Segment]) -> Iterator[SegmentResult]:
        return pool.map(lambda a, seg: a.segment.remote(seg), segments)

    return convert_video_on_cluster(settings, source, destination, options, run, progress, workers)
