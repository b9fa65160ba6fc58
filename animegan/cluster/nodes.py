"""A Ray cluster of several nodes on this machine, all on 127.0.0.1, with token authentication.

For tests, benchmarks and trying ``--ray`` without machines: each node is a real ``ray start``
(its own raylet, object store and workers), so a node can die on its own. Everything it starts
is stopped by :meth:`LocalNodes.stop`, process by process (never ``ray stop``, which would end
every Ray process on the machine).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..ports import free_port

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def auth_env(token_file: Path) -> dict[str, str]:
    """The variables that switch Ray's token authentication on with the token in ``token_file``."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}


LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Makes a Ray driver take 127.0.0.1 as this machine's address. Ray turns ``127.0.0.1`` into the
machine's network address on Linux (so that other machines could reach it); with this switch off it
keeps the loopback address, so a driver of a loopback-only cluster never talks to anything else."""


@dataclass
class Node:
    """One ``ray start --block`` process and what it started."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    node_manager_port: int

    def raylet_pid(self) -> int | None:
        """PID of this node's raylet (None once it is gone)."""
        import psutil

        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if child.name() == "raylet" or any("raylet" in part for part in child.cmdline()[:1]):
                        return int(child.pid)
        return None


@dataclass
class LocalNodes:
    """A head node plus workers, ``cpus`` CPUs each, under ``root`` (a short private folder by default).

    ``env`` is added to every node's environment (so to its workers). Use as a context manager,
    or call :meth:`start` and :meth:`stop`.
    """

    cpus: int = 1
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp")))
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    nodes: list[Node] = field(default_factory=list)
    start_timeout: float = 120.0

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def token_file(self) -> Path:
        return self.root / "auth_token"

    def node_env(self) -> dict[str, str]:
        """The environment of the nodes, and of any driver that joins them."""
        return {**os.environ, **self.env, **auth_env(self.token_file), **LOOPBACK_ENV, "RAY_USAGE_STATS_ENABLED": "0"}

    def start(self, workers: int = 1) -> LocalNodes:
        """Start the head and ``workers`` worker nodes; returns when the cluster has them all."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.token_file.exists():
            self.token_file.write_text(secrets.token_hex(32))
            self.token_file.chmod(0o600)
        try:
            self._launch("head", ["--head", f"--port={self.port}", "--include-dashboard=false", "--disable-usage-stats",
                                  f"--temp-dir={self.root / 't'}"])
            for _ in range(workers):
                self.add_worker()
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self) -> Node:
        """Start one more worker node; returns once it runs."""
        return self._launch(f"worker{len(self.nodes)}", [f"--address={self.address}"])

    def alive(self) -> list[Node]:
        """The nodes whose ``ray start`` still runs."""
        return [n for n in self.nodes if n.proc.poll() is None]

    def _launch(self, name: str, args: list[str], attempts: int = 5) -> Node:
        """Run ``ray start --block`` for one node; on a loaded machine Ray's 30 s start-up wait can run out, so retry."""
        for attempt in range(1, attempts + 1):
            nm_port = free_port()
            log_path = self.root / f"{name}.log"
            # `ray start`, through main() below: it keeps 127.0.0.1 as the node's address.
            env = {k: v for k, v in self.node_env().items() if k not in LOOPBACK_ENV}  # a worker node needs it on
            cmd = [sys.executable, "-m", "animegan.cluster.nodes", "start", "--block", f"--node-ip-address={LOOPBACK}",
                   f"--num-cpus={self.cpus}", f"--node-manager-port={nm_port}", "--object-store-memory=200000000", *args]
            proc = subprocess.Popen(cmd, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
                                    start_new_session=True)
            node = Node(name, proc, log_path, nm_port)
            deadline = time.monotonic() + self.start_timeout
            while b"Ray runtime started" not in log_path.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            else:
                self.nodes.append(node)
                return node
            _stop_tree(node)
            log.warning("ray start (%s) failed, attempt %d of %d", name, attempt, attempts)
        raise RuntimeError(f"ray start ({name}) failed:\n{log_path.read_text(errors='replace')[-3000:]}")

    def stop_node(self, node: Node) -> None:
        """Stop one node and everything it started."""
        _stop_tree(node)
        self.nodes.remove(node)

    def kill_raylet(self, node: Node) -> int:
        """Kill ``node``'s raylet by its PID (as a crash would); returns the PID."""
        pid = node.raylet_pid()
        if pid is None:
            raise RuntimeError(f"node {node.name} has no raylet running")
        os.kill(pid, 9)
        return pid

    def stop(self) -> None:
        """Stop every process the nodes started (workers first, the head last), by PID."""
        for node in reversed(self.nodes):
            _stop_tree(node)
        self.nodes.clear()

    def __enter__(self) -> LocalNodes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stop_tree(node: Node) -> None:
    """Terminate a node's ``ray start`` and everything under it (then kill what is left)."""
    import psutil

    procs: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        parent = psutil.Process(node.proc.pid)
        procs = [*parent.children(recursive=True), parent]
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=10)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        node.proc.wait(timeout=5)


def main() -> int:
    """``python -m animegan.cluster.nodes start ...``: ``ray start`` for a node that stays on 127.0.0.1.

    Ray replaces a loopback ``--node-ip-address`` and ``--address`` by the machine's network address;
    here they are kept as given, so every process of a test cluster listens and connects on 127.0.0.1.
    """
    import ray._private.services as services
    from ray.scripts.scripts import main as ray_main

    services.resolve_ip_for_localhost = lambda host: host
    return int(ray_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
