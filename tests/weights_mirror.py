"""A loopback HTTP server standing in for the weights' public hosts (GitHub releases, raw.githubusercontent.com).

It serves, at ``/<host>/<path>``, only the exact upstream bytes found in ../shared/weights (indexed by
SHA-256, including the files inside the tfjs zips): a request for a manifest source URL gets the file
whose SHA-256 the manifest pins for it, if ../shared has those bytes, else 404. Faults can be injected
per URL, and every request is recorded.

    python -m tests.weights_mirror [--port P]     # for trying `make run` on a fresh clone by hand
"""

from __future__ import annotations

import argparse
import hashlib
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

from animegan.settings import MANIFEST_PATH
from animegan.weights import load_manifest
from tests.conftest import SHARED

Fault = Literal["404", "corrupt", "truncate", "truncate-once", "stall", "stall-headers"]


def index_upstream_bytes(root: Path) -> dict[str, Callable[[], bytes]]:
    """SHA-256 → a reader of those bytes, for every file under ``root`` and every member of its zips."""
    found: dict[str, Callable[[], bytes]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found[hashlib.sha256(data).hexdigest()] = path.read_bytes
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    member = z.read(name)
                    found[hashlib.sha256(member).hexdigest()] = lambda p=path, n=name: zipfile.ZipFile(p).read(n)
    return found


@dataclass
class Request:
    path: str
    range: str | None


@dataclass
class WeightsMirror:
    """The server; ``url`` is what ANIMEGAN_WEIGHTS_MIRROR gets. Use as a context manager."""

    index: dict[str, Callable[[], bytes]]
    faults: dict[str, Fault] = field(default_factory=dict)
    """URL substring → fault, applied to every matching request."""
    requests: list[Request] = field(default_factory=list)
    stall_seconds: float = 30.0
    port: int = 0
    """0: any free port."""
    _seen: set[str] = field(default_factory=set)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.expected = {f.url.split("://", 1)[1]: f.sha256 for e in load_manifest(MANIFEST_PATH).values()
                         for s in e.sources for f in s.files}
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fault(self, path: str) -> Fault | None:
        return next((f for key, f in self.faults.items() if key in path), None)

    def __enter__(self) -> WeightsMirror:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                mirror.serve(self)

        self._stop.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.lstrip("/")
        self.requests.append(Request(path, h.headers.get("Range")))
        fault = self.fault(path)
        sha = self.expected.get(path)
        if fault == "stall-headers":
            self._stop.wait(self.stall_seconds)
            return
        if fault == "404" or sha not in self.index:
            h.send_error(404, "Not Found")
            return
        data = self.index[sha]()
        if fault == "corrupt":
            data = data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:]
        start = int(h.headers["Range"].removeprefix("bytes=").split("-")[0]) if h.headers.get("Range") else 0
        h.send_response(206 if start else 200)
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.send_header("Content-Length", str(len(data) - start))
        h.send_header("Content-Type", "application/octet-stream")
        h.end_headers()
        body = data[start:]
        first_time = path not in self._seen
        self._seen.add(path)
        if fault == "truncate" or (fault == "truncate-once" and first_time):
            h.wfile.write(body[: len(body) // 2])
            h.close_connection = True
            return
        if fault == "stall":
            h.wfile.write(body[:4096])
            h.wfile.flush()
            self._stop.wait(self.stall_seconds)
            return
        h.wfile.write(body)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8765)
    args = p.parse_args()
    mirror = WeightsMirror(index_upstream_bytes(SHARED / "weights"), port=args.port)
    mirror.start()
    print(f"serving the upstream bytes of {SHARED / 'weights'} at {mirror.url} (ANIMEGAN_WEIGHTS_MIRROR={mirror.url})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        mirror.stop()


if __name__ == "__main__":
    main()
