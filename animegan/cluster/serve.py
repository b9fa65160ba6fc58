"""``app.py --ray``: the app's stylize, batch and video work on a Ray Serve deployment of the engine.

:class:`ServeService` is the app's :class:`~animegan.service.Service` on the deployment. Each replica is one
:class:`~animegan.pipeline.Engine` on one CPU (one thread), spread across the nodes; the app process keeps only
the UI, the queue, the result cache and a local engine that answers the catalogue without loading a model.
Serve replaces a replica that dies; the request it held is sent again once. Serve's HTTP proxy is not started: the app talks
to the replicas through a deployment handle. Several app processes can share one deployment: the
first deploys it, the others attach to it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AnimeGANError
from ..imageio import OutputFormat, Source
from ..pipeline import Engine, StylizeOptions
from ..progress import Progress, no_progress
from ..settings import Settings
from ..video import VideoOptions, VideoResult
from .connect import ClusterError, cluster_cpus, connect
from .replica import REPLICA_CPUS, EngineReplica
from .segments import Segment, SegmentResult, convert_video_on_cluster

if TYPE_CHECKING:
    from ray.serve.handle import DeploymentHandle

log = logging.getLogger(__name__)

APP_NAME = "animegan"


@dataclass(frozen=True)
class Scale:
    """How many replicas: a fixed number, or autoscaling between ``minimum`` and ``maximum``."""

    minimum: int
    maximum: int

    @property
    def fixed(self) -> bool:
        return self.minimum == self.maximum

    @classmethod
    def parse(cls, replicas: int | None, autoscale: str | None, default: int) -> Scale:
        """From ``--replicas N`` or ``--autoscale MIN:MAX`` (default: ``default`` fixed replicas).

        Raises ClusterError for a malformed or empty range.
        """
        if autoscale:
            try:
                low, high = (int(part) for part in autoscale.split(":"))
            except ValueError as err:
                raise ClusterError(f"--autoscale {autoscale!r} must be MIN:MAX, e.g. 1:4") from err
            if not 0 <= low <= high or high < 1:
                raise ClusterError(f"--autoscale {autoscale!r}: need 0 <= MIN <= MAX and MAX >= 1")
            return cls(low, high)
        n = default if replicas is None else replicas
        if n < 1:
            raise ClusterError(f"--replicas {n}: need at least 1")
        return cls(n, n)


class ServeService:
    """The app's service with :meth:`render` and :meth:`convert_video` on the Serve deployment, one request per
    replica at a time; ``engine`` (local) answers the rest without loading a model."""

    def __init__(self, settings: Settings, handle: DeploymentHandle[EngineReplica], scale: Scale) -> None:
        self.engine = Engine(settings)
        self.handle = handle
        self.scale = scale
        self.concurrency = scale.maximum

    def call(self, method: str, *args: Any) -> Any:
        """``method(*args)`` on a replica; once more on another if that replica dies. Raises its AnimeGANError."""
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

        for attempt in (1, 2):
            try:
                result = getattr(self.handle, method).remote(*args).result()
            except (RayActorError, ActorDiedError, ActorUnavailableError) as err:
                if attempt == 2:
                    raise ClusterError(f"the cluster lost two replicas running this request ({err.__class__.__name__}); "
                                       "try again") from err
                log.warning("a replica died while running %s (%s); sending it again", method, err.__class__.__name__)
                continue
            if isinstance(result, AnimeGANError):
                raise result
            return result
        raise AssertionError("unreachable")

    def render(self, source: Source, options: StylizeOptions, fmt: OutputFormat = "png",
               progress: Progress = no_progress) -> bytes:
        data = source if isinstance(source, bytes) else Path(source).read_bytes() if isinstance(source, (str, Path)) \
            else source.read()
        progress(0.05, "stylizing on the cluster")
        result: bytes = self.call("render", data, options, fmt)
        progress(1.0, "done")
        return result

    def convert_video(self, source: str | Path, destination: str | Path, options: VideoOptions,
                      progress: Progress = no_progress) -> VideoResult:
        return convert_video_on_cluster(self.engine.settings, source, destination, options, self.segments, progress,
                                        self.concurrency)

    def segments(self, segments: list[Segment]) -> Iterator[SegmentResult]:
        """Stylize segments on the replicas, ``concurrency`` at a time; results in order."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.concurrency) as pool:
            yield from pool.map(lambda seg: self.call("segment", seg), segments)


def serve_service(settings: Settings, address: str, replicas: int | None = None,
                  autoscale: str | None = None) -> ServeService:
    """Join the cluster, deploy the engine (or attach to the deployment another front-end made) and
    return the app's service. Raises ClusterError."""
    connect(address)
    from ray import serve

    scale = Scale.parse(replicas, autoscale, default=max(1, cluster_cpus() // REPLICA_CPUS))
    serve.start(proxy_location="Disabled")
    running = serve.status().applications.get(APP_NAME)
    if running is not None and str(running.status).endswith("RUNNING"):
        log.info("attaching to the running Serve application %r", APP_NAME)
        return ServeService(settings, serve.get_app_handle(APP_NAME), scale)
    options: dict[str, Any] = {"ray_actor_options": {"num_cpus": REPLICA_CPUS}, "max_ongoing_requests": 1}
    if scale.fixed:
        options["num_replicas"] = scale.maximum
    else:
        options["autoscaling_config"] = {"min_replicas": scale.minimum, "max_replicas": scale.maximum,
                                         "target_ongoing_requests": 1, "upscale_delay_s": 2, "downscale_delay_s": 120}
    deployment = serve.deployment(name="engine", **options)(EngineReplica)  # the decorator form: Ray types only that one
    handle = serve.run(deployment.bind(settings), name=APP_NAME, route_prefix=None)
    log.info("Serve application %r: %s replicas of %d CPU", APP_NAME,
             scale.maximum if scale.fixed else f"{scale.minimum}-{scale.maximum}", REPLICA_CPUS)
    return ServeService(settings, handle, scale)


def shutdown(address: str) -> None:
    """Delete the engine deployment and stop Serve on the cluster at ``address`` (it outlives the app processes,
    and holds one CPU per replica until then). Raises ClusterError."""
    connect(address)
    from ray import serve

    serve.shutdown()


if __name__ == "__main__":  # python -m animegan.cluster.serve shutdown ADDRESS
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "shutdown":
        sys.exit("usage: python -m animegan.cluster.serve shutdown ADDRESS")
    try:
        shutdown(sys.argv[2])
    except ClusterError as err:
        sys.exit(f"error: {err}")
