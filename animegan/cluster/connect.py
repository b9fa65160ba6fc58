"""Joining a Ray cluster: ``auto`` (the one this machine belongs to), ``local`` or ``HOST:PORT``."""

from __future__ import annotations

import logging

from ..errors import AnimeGANError

log = logging.getLogger(__name__)


class ClusterError(AnimeGANError):
    """The Ray cluster cannot be reached or used (not running, wrong address, token refused, Ray missing)."""


def connect(address: str) -> None:
    """Make this process a driver of the Ray cluster at ``address`` (once; later calls do nothing).

    ``local`` starts a throw-away cluster in this process's session that ends with it; ``auto`` joins the
    cluster this machine is a node of; ``HOST:PORT`` is a head node's GCS address. With token
    authentication (``RAY_AUTH_MODE=token``) the token comes from ``RAY_AUTH_TOKEN``,
    ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``, as for ``ray start``. Raises ClusterError.
    """
    try:
        import ray
    except ImportError as err:
        raise ClusterError("--ray needs Ray: pip install -r requirements-ray.txt") from err
    if ray.is_initialized():
        return
    try:
        if address == "local":
            ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except Exception as err:  # Ray raises bare Exception for a start-up time-out
        raise ClusterError(f"cannot join the Ray cluster at {address!r} ({err}); start it with `ray start --head` "
                           "(see README, \"Scaling out\") or use --ray local") from err
    resources = ray.cluster_resources()
    log.info("joined Ray cluster %s: %d nodes, %s CPUs", address, sum(n["Alive"] for n in ray.nodes()), resources.get("CPU", 0))


def cluster_cpus() -> int:
    """Whole CPUs in the cluster (at least 1)."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def free_cpus() -> int:
    """Whole CPUs of the cluster that no one holds now. Raises ClusterError when there are none
    (work would wait forever): a Serve deployment of ``app.py --ray`` holds one per replica."""
    import ray

    free = int(ray.available_resources().get("CPU", 0))
    if free < 1:
        raise ClusterError(f"all {cluster_cpus()} CPUs of the Ray cluster are in use (an `app.py --ray` deployment holds "
                           "one per replica); add nodes, or stop that with `python -m animegan.cluster.serve shutdown ADDRESS`")
    return free


def current_node() -> str:
    """The Ray node id of the calling process (driver, task or actor)."""
    import ray

    return str(ray.get_runtime_context().get_node_id())
