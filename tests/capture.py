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
from pathlib import Path
from typing import Any, Optional, Union

import jsonschema

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
    body_json: bytes
    """The decoded JSON bytes (after gunzip), as the exporter measured them against its size limit."""
    at: float
    """``time.monotonic()`` when the request arrived."""
    status: int = 0
    """What the server answered."""


class CaptureServer:
    """Records every request; answers each with the next scripted reply, then 200."""

    def __init__(self, replies: Optional[list[Reply]] = None, port: int = 0, max_body: Optional[int] = None) -> None:
        self.requests: list[Captured] = []
        self.replies: deque[Reply] = deque(replies or ())
        self.fail_with: Optional[Reply] = None
        """While set, every request gets this reply (and is still recorded)."""
        self.reply_body: Optional[str] = None
        """Body of every reply, instead of ``{"success": …}``."""
        self.max_body = max_body
        """Bodies larger than this (decoded bytes) get a 413, as a server with a smaller limit would answer."""
        self.refuse_gzip = False
        """While set, gzip bodies get a 415, as a server that reads only plain JSON would answer."""
        self.schema_errors: list[str] = []
        """How bodies posted to ``/events/batch`` broke HoneyHive's schema (checked on leaving the block)."""
        self.gate: Optional[threading.Event] = None
        """While set to an event, every request is recorded, then held unanswered until the event is set."""
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as spanhive serve: no 40 ms delayed-ACK stall per keep-alive request

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                with owner._lock:
                    reply: Reply = 200
                    if owner.refuse_gzip and self.headers.get("Content-Encoding") == "gzip":
                        reply = 415
                    elif owner.fail_with is not None:
                        reply = owner.fail_with
                    elif owner.max_body is not None and len(data) > owner.max_body:
                        reply = 413
                    elif owner.replies:
                        reply = owner.replies.popleft()
                    owner.requests.append(
                        Captured(
                            "POST",
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            raw,
                            json.loads(data),
                            data,
                            time.monotonic(),
                        )
                    )
                    if self.path.endswith("/events/batch"):
                        owner.schema_errors += _schema_errors(owner.requests[-1].body)
                gate = owner.gate
                if gate is not None:
                    gate.wait()
                status, headers = reply if isinstance(reply, tuple) else (reply, {})
                owner.requests[-1].status = status
                payload = (owner.reply_body or json.dumps({"success": 200 <= status < 300})).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
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
        if exc[0] is None:
            assert not self.schema_errors, f"bodies that break HoneyHive's schema: {self.schema_errors[:3]}"

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` requests have arrived; ``False`` if they did not within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return True
            time.sleep(0.01)
        return False

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests]

    def events(self) -> list[dict[str, Any]]:
        """Every event received, in order, session events included."""
        return [event for body in self.bodies() for event in body["events"]]

    def delivered_event_ids(self) -> list[str]:
        """Ids of span events in requests that were answered 2xx (session events excluded), with repeats."""
        with self._lock:
            accepted = [r for r in self.requests if 200 <= r.status < 300]
        return [e["event_id"] for r in accepted for e in r.body["events"] if e["event_type"] != "session"]


class SilentServer:
    """Accepts TCP connections and never answers: the exporter's deadline is all that ends a request."""

    def __init__(self, port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(16)

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()
        return f"http://{host}:{port}"

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


_BATCH_SCHEMA = json.loads(
    (Path(__file__).parent / "schemas" / "honeyhive" / "legacy_event_batch.schema.json").read_text()
)


def _schema_errors(body: Any) -> list[str]:
    """Where ``body`` breaks HoneyHive's ``POST /events/batch`` schema, as ``path: message`` lines."""
    validator = jsonschema.Draft202012Validator(_BATCH_SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"
