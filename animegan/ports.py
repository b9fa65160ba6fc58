"""Free TCP ports on the loopback interface, for servers the tests, benchmarks and local clusters start."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on 127.0.0.1 (another process may take it before it is used)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
