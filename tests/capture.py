"""A real loopback HTTP server that records what the exporter sends and answers from a script.

Used instead of patching ``requests``: the exporter goes through its real HTTP stack to a real socket.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional, Union

Reply = Union[int, tuple[int, dict[str, str]]]


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    """The body as it came over the wire (compressed if it was)."""
    body: Any
    """The body decoded: gunzipped when ``Content-Encoding: gzip``, then parsed as JSON."""
    at: float
    """``time.monotonic()`` when the request arrived."""


class CaptureServer:
    """Records every request; answers each with the next scripted reply, then 200."""

    def __init__(self, replies: Optional[list[Reply]] = None) -> None:
        self.requests: list[Captured] = []
        self.replies: deque[Reply] = deque(replies or ())
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                with owner._lock:
                    owner.requests.append(
                        Captured(
                            "POST",
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            raw,
                            json.loads(data),
                            time.monotonic(),
                        )
                    )
                    reply = owner.replies.popleft() if owner.replies else 200
                status, headers = reply if isinstance(reply, tuple) else (reply, {})
                payload = json.dumps({"success": 200 <= status < 300}).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="capture-server", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests]

    def events(self) -> list[dict[str, Any]]:
        """Every event received, in order, session events included."""
        return [event for body in self.bodies() for event in body["events"]]


class SilentServer:
    """Accepts TCP connections and never answers: the exporter's deadline is all that ends a request."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()
        return f"http://{host}:{port}"

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
