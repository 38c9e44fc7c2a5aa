"""A loopback sink server in its own process: accepts every POST, counts requests, bytes and events.

    with Sink() as sink:          # starts ``python -m benchmarks.sink`` on a free port
        ... post to sink.url ...
        sink.stats()              # {"requests": …, "bytes": …, "events": …}

It answers ``/events/batch`` (spanhive) and ``/v1/traces`` (OTLP) alike, counting requests and bytes per path.
Counting spanhive's events (``count_events``) means decoding its JSON, so it is off unless asked for.
:func:`ceiling` measures how many requests per second the sink takes, to show it was not the bottleneck.
"""

from __future__ import annotations

import argparse
import gzip
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Optional

import requests


def serve(port: int, status: int, count_events: bool) -> None:
    counts: dict[str, Any] = {"requests": 0, "bytes": 0, "events": 0, "paths": {}}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall per request

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            events = 0
            if count_events and self.path.endswith("/events/batch") and status < 300:
                data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                events = sum(1 for e in json.loads(data)["events"] if e.get("event_type") != "session")
            with lock:
                counts["requests"] += 1
                counts["bytes"] += len(raw)
                counts["events"] += events
                path = counts["paths"].setdefault(self.path, {"requests": 0, "bytes": 0})
                path["requests"] += 1
                path["bytes"] += len(raw)
            self._reply(status, b"{}")

        def do_GET(self) -> None:
            with lock:
                body = json.dumps(counts).encode()
            self._reply(200, body)

        def do_DELETE(self) -> None:
            with lock:
                counts.update(requests=0, bytes=0, events=0, paths={})
            self._reply(200, b"{}")

        def _reply(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


class Sink:
    """The sink, running in a child process for the duration of a ``with`` block."""

    def __init__(self, status: int = 200, count_events: bool = False) -> None:
        self.status = status
        self.count_events = count_events
        self._process: Optional[subprocess.Popen[str]] = None
        self.url = ""

    def __enter__(self) -> Sink:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sink", "--status", str(self.status)]
            + (["--count-events"] if self.count_events else []),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        port = int(self._process.stdout.readline())
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object | type[BaseException] | TracebackType | None) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)

    def stats(self) -> dict[str, Any]:
        return dict(requests.get(self.url + "/stats", timeout=10).json())

    def reset(self) -> None:
        requests.delete(self.url + "/stats", timeout=10)


def closed_port_url() -> str:
    """A loopback URL nothing listens on: a dead backend (connections refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def ceiling(body: bytes, seconds: float = 3.0) -> dict[str, float]:
    """Requests per second the sink takes for ``body`` (gzip JSON, as spanhive sends it) from one client."""
    with Sink() as sink, requests.Session() as session:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        end = time.monotonic() + seconds
        sent = 0
        while time.monotonic() < end:
            session.post(sink.url + "/events/batch", data=body, headers=headers, timeout=10)
            sent += 1
    return {"requests_per_s": sent / seconds, "mb_per_s": sent * len(body) / seconds / 1e6}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the loopback sink (prints its port).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--count-events", action="store_true", help="decode spanhive bodies to count events")
    arguments = parser.parse_args()
    serve(arguments.port, arguments.status, arguments.count_events)
