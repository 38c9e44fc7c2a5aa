"""``spanhive serve``: a local HoneyHive-compatible ingest API and a session viewer over the embedded store.

Standard library only (``http.server``), one thread per connection, all writes through the store's single
writer thread. Every failure is a JSON answer with a status a client can act on; nothing a client sends can
stop the server.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Optional, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

from opentelemetry.sdk.trace import ReadableSpan

from spanhive import _otlp
from spanhive._pipeline import Hold, prepare_traces
from spanhive._pipeline.hold import HoldTimer, Released
from spanhive._pipeline.map import Defaults
from spanhive._pipeline.pack import Body
from spanhive._records import DICT_FIELDS
from spanhive._version import __version__
from spanhive.server import _export, _schema, _viewer
from spanhive.server._defaults import DEFAULT_HOST, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT
from spanhive.store import Store, StoreError

_logger = logging.getLogger(__name__)

DEFAULT_MAX_INFLIGHT = 16
"""OTLP requests taken in at once; more are answered ``503`` with ``Retry-After``."""
SATURATED_RETRY_AFTER_S = 1
REQUEST_DEADLINE_S = 30.0  # seconds a request may take to arrive in all, however steadily it trickles in
MAX_CONNECTIONS = 1024  # open at once; more are answered 503 and closed
MAX_CONTAINERS = 500_000  # JSON objects and arrays a body may hold (memory grows with them, not with bytes)
REQUEST_TIMEOUT_S = 10.0  # seconds a connection may sit idle mid-request (slow clients are cut off)
_JSON = "application/json"


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: Optional[Mapping[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _batch_schema() -> dict[str, Any]:
    schema = dict(_schema.load("batch.json"))
    schema["$defs"] = {"event": _schema.load("event.json"), "session": _schema.load("session_properties.json")}
    return schema


Accepted = tuple[int, str]
"""What a receiver made of a request's spans: how many it rejected for good, and why."""


class Receiver(ThreadingHTTPServer):
    """What ``spanhive serve`` and ``spanhive relay`` share: routes, authentication, body limits, and a cap on
    the OTLP requests being taken in at once (past it, ``503`` with ``Retry-After``: the sender's own retry
    queue keeps the data meanwhile)."""

    daemon_threads = True
    request_queue_size = 64
    routes: list[Route]

    def __init__(
        self,
        host: str,
        port: int,
        api_key: Optional[str],
        max_body_bytes: int,
        *,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
    ) -> None:
        if api_key is not None and not api_key.strip():
            raise ValueError("an empty API key would let anyone in: give a key, or none")
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.inflight = threading.BoundedSemaphore(max_inflight)
        self._worker: Optional[threading.Thread] = None
        self.request_deadline_s = REQUEST_DEADLINE_S
        self.max_connections = MAX_CONNECTIONS
        self._open = 0
        self._reading: dict[socket.socket, float] = {}
        """Connections reading a request, and when it must have arrived by (the reaper closes them after)."""
        self._connections_lock = threading.Lock()
        self._reaper: Optional[threading.Thread] = None
        self._stopping = threading.Event()
        super().__init__((host, port), _Handler)

    def server_close(self) -> None:
        self._stopping.set()
        super().server_close()

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread per connection, up to :attr:`max_connections`; past that, ``503`` and closed at once."""
        with self._connections_lock:
            full = self._open >= self.max_connections
            if not full:
                self._open += 1
        if full:
            with contextlib.suppress(OSError):
                request.sendall(_FULL)
            self.shutdown_request(request)
            return
        self._ensure_reaper()
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._open -= 1
                self._reading.pop(request, None)

    def reading(self, connection: socket.socket, started: bool) -> None:
        """A request began arriving on ``connection`` (``started``), or was read whole."""
        with self._connections_lock:
            if started:
                self._reading[connection] = time.monotonic() + self.request_deadline_s
            else:
                self._reading.pop(connection, None)

    def _ensure_reaper(self) -> None:
        if self._reaper is None:
            with self._connections_lock:
                if self._reaper is None:
                    self._reaper = threading.Thread(target=self._reap, name="spanhive-serve-reaper", daemon=True)
                    self._reaper.start()

    def _reap(self) -> None:
        """Close connections whose request is past its deadline: a client sending a byte every few seconds
        never trips the per-read timeout, and would hold a thread for ever (slowloris)."""
        while not self._stopping.wait(min(1.0, self.request_deadline_s / 4)):
            now = time.monotonic()
            with self._connections_lock:
                late = [conn for conn, deadline in self._reading.items() if deadline < now]
                for conn in late:
                    del self._reading[conn]
            for conn in late:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def ingest_spans(self, spans: list[ReadableSpan], size: int) -> Accepted:
        """Take decoded spans (from a request of ``size`` bytes); raise :class:`HttpError` to refuse them all."""
        raise NotImplementedError

    def guard(self, handler: _Handler, method: str, path: str) -> None:
        """Refuse a request before its route runs (raise :class:`HttpError`); nothing by default."""

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Receiver:
        self._worker = threading.Thread(target=self.serve_forever, args=(0.1,), name="spanhive-serve", daemon=True)
        self._worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class IngestServer(Receiver):
    """The server; ``serve_forever()`` in the foreground, or ``with IngestServer(...)`` in a background thread."""

    def __init__(
        self,
        store: Store,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        api_key: Optional[str] = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        *,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        allow_hosts: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.allow_hosts = frozenset(h.lower().strip("[]") for h in allow_hosts) | _LOOPBACK_NAMES
        """``Host`` names served without a key: loopback, and what ``--allow-host`` adds (DNS rebinding)."""
        self.routes = _ROUTES
        self.batch_schema = _batch_schema()
        self._hold = Hold()
        """OTLP spans waiting for their trace's local root, as in the exporter (docs/sessions.md)."""
        self._hold_lock = threading.Lock()
        self._closing = threading.Event()
        self._timer = HoldTimer(self._hold, self._hold_lock, self._store, self._closing, "spanhive-serve-hold")
        super().__init__(host, port, api_key, max_body_bytes, max_inflight=max_inflight)

    def guard(self, handler: _Handler, method: str, path: str) -> None:
        """What keeps web pages out: without a key, only this machine's names in ``Host`` (a DNS-rebinding
        page sends its own); a write must come from no page or this server's own (``Sec-Fetch-Site``,
        ``Origin``) and say it is JSON or OTLP (a cross-site form or ``no-cors`` fetch can send neither)."""
        headers = handler.headers
        host = headers.get("Host") or ""
        if not self.api_key and _host_name(host) not in self.allow_hosts and not _host_name(host).startswith("127."):
            raise HttpError(403, f"Host {host!r} is not a name of this server (start it with --allow-host to add one)")
        if method == "GET":
            return
        site = (headers.get("Sec-Fetch-Site") or "").lower()
        origin = headers.get("Origin")
        if site:  # what every current browser says: trusted over Origin, which a no-referrer page sends as null
            foreign = site not in ("same-origin", "none")
        else:
            foreign = origin is not None and urlsplit(origin).netloc.lower() != host.lower()
        if foreign:
            raise HttpError(403, "a request from another site's page is refused")
        if _OTLP[1].fullmatch(path):
            return  # the OTLP receiver answers a wrong type itself, in OTLP's own error body
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        allowed = _FORM if path == "/login" else _WRITE_TYPES
        if content_type not in allowed:
            raise HttpError(
                415, f"Content-Type {content_type or 'none'!r} is not accepted here ({', '.join(sorted(allowed))})"
            )

    def ingest_spans(self, spans: list[ReadableSpan], size: int) -> Accepted:
        """Decoded spans through the exporter's own stages into the store: a trace's spans wait for its
        local root, then are mapped, put in the trace's session and grouped (under the hold's lock, which
        the mapping reads), and written (outside it, so that the next request maps meanwhile)."""
        with self._hold_lock:
            traces = self._hold.add(spans)
            self._timer.ensure()
            bodies = self._prepare(traces)
        self._write(bodies)
        return 0, ""

    def _prepare(self, traces: list[Released]) -> list[Body]:
        """(Under the hold lock.)"""
        if not traces:
            return []
        return prepare_traces(traces, Defaults(), 1 << 62, whole_records=True, hold=self._hold).bodies

    def _write(self, bodies: list[Body]) -> None:
        for body in bodies:
            self.store.ingest_records((group.properties, group.events) for group in body.records or ())

    def _store(self, traces: list[Released]) -> None:
        """What the hold timer releases."""
        with self._hold_lock:
            bodies = self._prepare(traces)
        self._write(bodies)

    def server_close(self) -> None:
        """Store what is held, then close."""
        self._closing.set()
        try:
            with self._hold_lock:
                bodies = self._prepare(self._hold.release_all())
            self._write(bodies)
        except Exception:
            _logger.exception("spanhive serve: could not store the spans held at shutdown")
        super().server_close()

    def __enter__(self) -> IngestServer:
        super().__enter__()
        return self


def is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return all(str(info[4][0]).startswith("127.") or info[4][0] == "::1" for info in infos)


class _Handler(BaseHTTPRequestHandler):
    server: IngestServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, a keep-alive client waits for its own
    # delayed ACK (40 ms on Linux) before the body arrives, every request.
    disable_nagle_algorithm = True
    timeout = REQUEST_TIMEOUT_S
    server_version = f"spanhive/{__version__}"

    def handle_one_request(self) -> None:
        """One request, from its first byte to its answer within the server's deadline for arriving."""
        try:
            first = cast(Any, self.rfile).peek(1)  # idle between requests: the read timeout applies, not the deadline
        except (TimeoutError, OSError):
            first = b""
        if not first:
            self.close_connection = True
            return
        self.server.reading(self.connection, started=True)
        try:
            super().handle_one_request()
        finally:
            self.server.reading(self.connection, started=False)

    # --- dispatch -------------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        self._otlp_type: Optional[str] = None
        """The encoding of an OTLP request being answered (its errors go back in it)."""
        try:
            path = urlsplit(self.path).path
            routes = self.server.routes
            for route_method, pattern, handler, public in routes:
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                allowed = sorted({m for m, p, _, _ in routes if p.fullmatch(path)})
                if method not in allowed:
                    raise HttpError(405, f"{method} is not allowed on {path}", {"Allow": ", ".join(allowed)})
                if route_method != method:
                    continue
                self.server.guard(self, method, path)
                if not public:
                    self._authorize(page=method == "GET" and route_method == "GET" and _is_page(path))
                handler(self, *match.groups())
                return
            raise HttpError(404, f"no route for {path}")
        except HttpError as exc:
            otlp = cast(Optional[str], self._otlp_type)  # set by the OTLP handler, which mypy cannot see
            if otlp is not None:  # OTLP's own error body: a google.rpc.Status in the request's encoding
                code = _otlp.code_for(exc.status)
                self._send(exc.status, _otlp.error_status(otlp, code, exc.message), otlp, exc.headers)
            elif method == "GET" and "text/html" in (self.headers.get("Accept") or ""):  # a browser: a page
                page = _viewer.error_page(exc.status, exc.message).encode()
                self._send(exc.status, page, "text/html; charset=utf-8", {**_viewer.PAGE_HEADERS, **exc.headers})
            else:
                self._send_json(exc.status, _error_body(exc.status, exc.message), exc.headers)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            _logger.exception("spanhive serve: error handling %s %s", method, urlsplit(self.path).path)
            self._send_json(500, _error_body(500, "internal error; see the server log"))

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        _logger.debug("%s " + format, self.address_string(), *args)

    # --- request helpers ------------------------------------------------------------------------------

    def _authorize(self, page: bool = False) -> None:
        """The key from ``Authorization: Bearer``, or the viewer's sign-in cookie; never from the URL, which
        ends up in logs, history and ``Referer``. A page without it goes to the sign-in form."""
        key = self.server.api_key
        if not key:
            return
        given = self.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), key.encode()):
            return
        cookie = _cookie(self.headers.get("Cookie") or "", _COOKIE)
        if cookie and hmac.compare_digest(cookie.encode(), _session_token(key).encode()):
            return
        if page:
            raise HttpError(303, "sign in first", {"Location": "/login"})
        raise HttpError(401, "missing or wrong API key (Authorization: Bearer <key>)")

    def _get_login(self) -> None:
        self._send(200, _viewer.login_page(failed=False).encode(), "text/html; charset=utf-8", _viewer.PAGE_HEADERS)

    def _post_login(self) -> None:
        """The viewer's sign-in: the key from the form; a cookie the browser sends back to this server only."""
        key = self.server.api_key
        given = parse_qs(self._raw_body().decode("utf-8", "replace")).get("key", [""])[0]
        if not key or not hmac.compare_digest(given.encode(), key.encode()):
            page = _viewer.login_page(failed=True).encode()
            self._send(401, page, "text/html; charset=utf-8", _viewer.PAGE_HEADERS)
            return
        cookie = f"{_COOKIE}={_session_token(key)}; HttpOnly; SameSite=Strict; Path=/"
        self._send(303, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})

    def _body(self) -> Any:
        """The request body as JSON: size-limited before and after gzip, clear errors for bad input."""
        raw = self._raw_body()
        if raw.count(b"{") + raw.count(b"[") > MAX_CONTAINERS:
            raise HttpError(413, f"more than {MAX_CONTAINERS} JSON objects and arrays in one body")
        try:
            value = _strict_json(raw.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise HttpError(400, f"invalid JSON: {exc}") from None
        problem = _unstorable(value)
        if problem is not None:
            raise HttpError(400, problem)
        return value

    def _raw_body(self) -> bytes:
        """The request body's bytes: size-limited before and after gzip, clear errors for bad input."""
        limit = self.server.max_body_bytes
        length_header = self.headers.get("Content-Length")
        if (self.headers.get("Transfer-Encoding") or "").strip().lower() == "chunked":
            raw = self._chunked_body(limit)  # what OpenTelemetry's JavaScript exporters send
        elif length_header is None or not (length_header.isascii() and length_header.isdigit()):
            self.close_connection = True
            raise HttpError(411, "a Content-Length header is required")
        else:
            length = int(length_header)
            if length > limit:
                self.close_connection = True  # the body is not read: this connection cannot be reused
                raise HttpError(413, f"body of {length} bytes is over the limit of {limit}")
            raw = self.rfile.read(length)
            if len(raw) < length:
                self.close_connection = True
                raise HttpError(400, "the body ended before Content-Length bytes")
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding == "gzip":
            raw = _gunzip(raw, limit)
        elif encoding != "identity":
            raise HttpError(415, f"Content-Encoding {encoding!r} is not supported (gzip or identity)")
        return raw

    def _chunked_body(self, limit: int) -> bytes:
        """A ``Transfer-Encoding: chunked`` body, refused past ``limit`` bytes as soon as a chunk says so."""
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise HttpError(400, "invalid chunked body: a chunk size is not hexadecimal") from None
            if size == 0:
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):  # trailers, ignored
                    pass
                return b"".join(parts)
            total += size
            if size < 0 or total > limit:
                self.close_connection = True
                raise HttpError(413, f"chunked body over the limit of {limit} bytes")
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                self.close_connection = True
                raise HttpError(400, "invalid chunked body: a chunk ended early")
            parts.append(chunk)

    def _send_json(self, status: int, body: Any, headers: Optional[Mapping[str, str]] = None) -> None:
        self._send(status, json.dumps(body, ensure_ascii=False, default=str).encode(), _JSON, headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: Optional[Mapping[str, str]] = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Content-Type-Options", "nosniff")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    # --- API ------------------------------------------------------------------------------------------

    def _post_batch(self) -> None:
        body = self._body()
        _validate(body, self.server.batch_schema)
        self._ingest(body)

    def _post_model_batch(self) -> None:
        body = self._body()
        _validate(body, _schema.load("model_batch.json"))
        events = [_model_event(m) for m in body["model_events"]]
        self._ingest({**body, "events": events})

    def _ingest(self, body: dict[str, Any]) -> None:
        """A batch, in the current field names (``single_session``, ``session_properties``) or the deprecated
        ones (``is_single_session``, ``session``), as HoneyHive's legacy route takes both."""
        single = body.pop("single_session", None)
        single = body.pop("is_single_session", None) if single is None else single
        props = body.pop("session_properties", None) or body.pop("session", None)
        props = props if single else None
        session_id = (props or {}).get("session_id")
        if not session_id and (single or not all(e.get("session_id") for e in body["events"] if isinstance(e, dict))):
            session_id = str(uuid.uuid4())  # one new session for the batch's events that name none
        events = [_complete(event, session_id) for event in body["events"]]
        batch = {**body, "events": events, "single_session": bool(single)}
        if single:
            batch["session_properties"] = {**(props or {}), "session_id": session_id}
        stored = self.server.store.ingest_batch(batch)
        answer: dict[str, Any] = {"success": True, "event_ids": stored}
        sessions = {event["session_id"] for event in events}
        if session_id is not None or len(sessions) == 1:  # the session made, or the one the events went to
            answer["session_id"] = session_id or sessions.pop()
        self._send_json(200, answer)

    def _post_otlp_traces(self) -> None:
        """OTLP/HTTP traces (protobuf or JSON), mapped by the exporter's own stages into the store; answered
        in the request's encoding."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        self._otlp_type = content_type if content_type in (_otlp.PROTOBUF, _otlp.JSON) else _otlp.JSON
        if content_type not in (_otlp.PROTOBUF, _otlp.JSON):
            raise HttpError(
                415, f"Content-Type {content_type or 'none'!r} is not supported ({_otlp.PROTOBUF} or {_otlp.JSON})"
            )
        raw = self._raw_body()
        try:
            request = _otlp.decode(raw, content_type)
        except _otlp.OtlpError as exc:
            raise HttpError(400, str(exc)) from None
        spans, rejected = _otlp.spans(request)
        reasons = [f"{rejected} spans with an invalid trace or span id"] if rejected else []
        if spans:
            if not self.server.inflight.acquire(blocking=False):
                raise HttpError(
                    503,
                    "the server is taking in as many requests as it can; retry shortly",
                    {"Retry-After": str(SATURATED_RETRY_AFTER_S)},
                )
            try:
                refused, why = self.server.ingest_spans(spans, len(raw))
            finally:
                self.server.inflight.release()
            if refused:
                rejected += refused
                reasons.append(why)
        self._send(200, _otlp.response(content_type, rejected, "; ".join(reasons)), content_type)

    def _post_event(self) -> None:
        self._create_event(_embedded(self._body(), "event"))

    def _create_event(self, event: Any) -> None:
        if not isinstance(event, dict):
            raise HttpError(400, "body: expected an event object")
        _validate(event, _schema.load("event.json"))
        if not isinstance(event.get("inputs"), dict):
            raise HttpError(400, "event.inputs: missing required field 'inputs'")
        event = _complete(event, None)
        self.server.store.ingest_batch({"events": [event], "single_session": False})
        self._send_json(200, {"success": True, "event_id": event["event_id"], "session_id": event["session_id"]})

    def _post_v1_event(self) -> None:
        """``POST /v1/events``: the event itself is the body (no ``event`` wrapper)."""
        self._create_event(self._body())

    def _put_event(self) -> None:
        """``PUT /events`` (what ``enrich_session`` and ``events.update`` send): the ``event_id`` in the body."""
        body = self._body()
        if not isinstance(body, dict) or not isinstance(body.get("event_id"), str):
            raise HttpError(400, "body: missing required field 'event_id'")
        self._update(body["event_id"], body)

    def _put_v1_event(self, event_id: str) -> None:
        self._update(event_id, self._body())

    def _update(self, event_id: str, body: Any) -> None:
        if not isinstance(body, dict):
            raise HttpError(400, "body: expected an object")
        _validate(body, _schema.load("update.json"))
        if not self.server.store.update_event(event_id, body):
            raise HttpError(404, f"no event or session {event_id!r}")
        self._send_json(200, {"success": True})

    def _get_event(self, event_id: str) -> None:
        event = self.server.store.get_event(event_id)
        if event is None:
            raise HttpError(404, f"no event {event_id!r}")
        self._send_json(200, {"event": event})

    def _post_export(self) -> None:
        """``POST /v1/events/export`` and ``/v1/events/search``: events (and sessions, as ``session`` events)
        by HoneyHive's filters, a page at a time."""
        body = self._body()
        if not isinstance(body, dict):
            raise HttpError(400, "body: expected an object")
        try:
            condition, params = _export.where(body.get("filters"), body.get("dateRange"))
            limit, offset = _export.page(body.get("limit"), body.get("page"))
            events, total = self.server.store.export(condition, params, limit, offset)
            events = _export.project(events, body.get("projections"))
        except _export.FilterError as exc:
            raise HttpError(400, str(exc)) from None
        self._send_json(200, {"events": events, "count": total})

    def _post_v1_session(self) -> None:
        """``POST /v1/sessions``: the session itself is the body (no ``session`` wrapper)."""
        body = self._body()
        if not isinstance(body, dict):
            raise HttpError(400, "body: expected an object")
        self._start_session(body)

    def _post_session_events(self, session_id: str) -> None:
        """``POST /v1/sessions/{id}/events/batch``: every event goes to that session."""
        body = self._body()
        _validate(body, self.server.batch_schema)
        events = [_complete({**event, "session_id": session_id}, session_id) for event in body["events"]]
        self.server.store.ingest_batch({"events": events, "single_session": False})
        self._send_json(200, {"success": True})

    def _post_session_start(self) -> None:
        self._start_session(_embedded(self._body(), "session"))

    def _start_session(self, session: dict[str, Any]) -> None:
        _validate(session, _schema.load("session_properties.json"))
        session_id = session.get("session_id") or str(uuid.uuid4())
        record = {**session, "session_id": session_id, "event_id": session_id, "event_type": "session"}
        record.setdefault("event_name", session.get("session_name") or "Session")
        self.server.store.ingest_batch({"events": [record], "single_session": False})
        # The session event, as HoneyHive's API answers (its SDK requires these ids; a local server has one
        # organisation and workspace, and names the project by what the client sent).
        answer = {**record, "success": True, "org_id": "local", "workspace_id": "local"}
        answer["project_id"] = str(session.get("project") or "default")
        self._send_json(200, answer)

    def _get_session(self, session_id: str) -> None:
        session = self.server.store.get_session(session_id)
        if session is None:
            raise HttpError(404, f"no session {session_id!r}")
        events = session.pop("events")
        self._send_json(200, {"session": session, "events": events, "tree": _viewer.tree(events, session_id)})

    def _get_events(self) -> None:
        session_id = parse_qs(urlsplit(self.path).query).get("session_id", [""])[0]
        if not session_id:
            raise HttpError(400, "the session_id query parameter is required")
        self._send_json(200, {"events": self.server.store.events(session_id)})

    def _get_health(self) -> None:
        self._send_json(200, {"ok": True, "version": __version__})

    # --- viewer ---------------------------------------------------------------------------------------

    def _get_index(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        text = query.get("q", [""])[0]
        if len(text) > MAX_QUERY_CHARS:
            raise HttpError(400, f"q: at most {MAX_QUERY_CHARS} characters")
        errors_only = query.get("errors", [""])[0] in ("1", "on", "true")
        project = query.get("project", [""])[0][:MAX_QUERY_CHARS]
        since = query.get("since", [""])[0]
        ranges = {value: seconds for value, _, seconds in _viewer.SINCE_CHOICES}
        if since not in ranges:
            raise HttpError(400, f"since: one of {', '.join(repr(v) for v in ranges if v)}")
        store = self.server.store
        sessions = store.list_sessions(
            limit=200,
            text=text or None,
            errors_only=errors_only,
            project=project or None,
            since_ms=int((time.time() - ranges[since]) * 1000) if since else None,
        )
        live = query.get("live", [""])[0] != "0"
        page = _viewer.session_list(
            sessions, text, errors_only, project=project, since=since, projects=store.projects(), live=live
        )
        self._send(200, page.encode(), "text/html; charset=utf-8", _viewer.PAGE_HEADERS)

    def _get_session_page(self, session_id: str) -> None:
        store = self.server.store
        try:
            found = store.find_session_id(unquote(session_id))  # a prefix of an id will do
        except StoreError as exc:
            raise HttpError(404, str(exc)) from None
        session = store.get_session(found) if found else None
        if session is None:
            raise HttpError(404, f"no session {unquote(session_id)!r}")
        if found != unquote(session_id):
            self._send(302, b"", "text/plain", {"Location": f"/sessions/{quote(str(found), safe='')}"})
            return
        ends = [e["end_time"] for e in session["events"] if isinstance(e.get("end_time"), (int, float))]
        live = bool(ends) and time.time() * 1000 - max(ends) < LIVE_FOR_MS
        page = _viewer.session_page(session, live=live)
        self._send(200, page.encode(), "text/html; charset=utf-8", _viewer.PAGE_HEADERS)

    def _get_static(self, name: str) -> None:
        if name not in _viewer.STATIC:
            raise HttpError(404, f"no static file {name!r}")
        data = resources.files("spanhive.server").joinpath("templates").joinpath(name).read_bytes()
        self._send(200, data, _viewer.STATIC[name], {"Cache-Control": "max-age=3600"})


Route = tuple[str, "re.Pattern[str]", Callable[..., None], bool]
_OTLP: Route = ("POST", re.compile(r"(?:/opentelemetry)?/v1/traces"), _Handler._post_otlp_traces, False)
_HEALTH: Route = ("GET", re.compile(r"/healthz"), _Handler._get_health, True)
RELAY_ROUTES: list[Route] = [_OTLP, _HEALTH]
"""What ``spanhive relay`` answers: OTLP in, and its health."""
_ROUTES: list[Route] = [
    ("POST", re.compile(r"(?:/v1)?/events/batch"), _Handler._post_batch, False),
    _OTLP,
    ("POST", re.compile(r"/events/model/batch"), _Handler._post_model_batch, False),
    ("POST", re.compile(r"/events"), _Handler._post_event, False),
    ("PUT", re.compile(r"/events"), _Handler._put_event, False),
    ("POST", re.compile(r"/v1/events"), _Handler._post_v1_event, False),
    ("POST", re.compile(r"/v1/events/(?:export|search)"), _Handler._post_export, False),
    ("GET", re.compile(r"/v1/events/([^/]+)"), _Handler._get_event, False),
    ("PUT", re.compile(r"/v1/events/([^/]+)"), _Handler._put_v1_event, False),
    ("POST", re.compile(r"/session/start"), _Handler._post_session_start, False),
    ("POST", re.compile(r"/v1/sessions"), _Handler._post_v1_session, False),
    ("POST", re.compile(r"/v1/sessions/([^/]+)/events/batch"), _Handler._post_session_events, False),
    ("GET", re.compile(r"/v1/sessions/([^/]+)"), _Handler._get_session, False),
    ("GET", re.compile(r"/v1/events"), _Handler._get_events, False),
    _HEALTH,
    ("GET", re.compile(r"/"), _Handler._get_index, False),
    ("GET", re.compile(r"/login"), _Handler._get_login, True),
    ("POST", re.compile(r"/login"), _Handler._post_login, True),
    ("GET", re.compile(r"/sessions/([^/]+)"), _Handler._get_session_page, False),
    ("GET", re.compile(r"/static/([\w.-]+)"), _Handler._get_static, True),
]


LIVE_FOR_MS = 60_000
"""A session whose last event ended less than this long ago may still grow: its page reloads itself."""
MAX_QUERY_CHARS = 1000
MAX_INTEGER = 2**53
"""The largest integer taken: JSON's exact range (and, summed by the thousand, still in SQLite's)."""
MAX_TIME_MS = 2**53
"""The latest time taken, in epoch milliseconds (the year 285,000): times past it cannot be shown."""
_TIMES = frozenset({"start_time", "end_time"})


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if number - number != 0:
        raise ValueError(f"{text} is out of range for a number")
    return number


_strict_json = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float).decode
"""JSON as the standard defines it: no ``NaN``, ``Infinity`` or numbers that overflow a float."""


def _unstorable(value: Any) -> Optional[str]:
    """Why ``value`` cannot be stored and shown (an integer past :data:`MAX_INTEGER`, a time out of range,
    text with a lone surrogate), naming where; ``None`` when it can. A walk without recursion."""
    stack: list[tuple[str, Any]] = [("body", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and not key.isascii() and _has_surrogate(key):
                    return f"{where}: a key holds a lone surrogate (invalid Unicode)"
                if key in _TIMES and child is not None and not _is_time(child):
                    return f"{where}.{key}: expected a time in epoch milliseconds, 0 to {MAX_TIME_MS}"
                stack.append((f"{where}.{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{n}]", child) for n, child in enumerate(item))
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INTEGER:
            return f"{where}: {item} is past the largest integer taken ({MAX_INTEGER})"
        elif isinstance(item, str) and not item.isascii() and _has_surrogate(item):
            return f"{where}: a lone surrogate (invalid Unicode)"
    return None


def _is_time(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= MAX_TIME_MS


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_FULL = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WRITE_TYPES = frozenset({_JSON, _otlp.PROTOBUF})
_FORM = frozenset({"application/x-www-form-urlencoded"})
_COOKIE = "spanhive_session"


def _host_name(host: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:8787`` → ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_page(path: str) -> bool:
    return path == "/" or path.startswith("/sessions/")


def _session_token(key: str) -> str:
    """What the sign-in cookie holds: derived from the key (so the cookie never carries it), and the same in
    every process that has the key."""
    return hmac.new(key.encode(), b"spanhive viewer session", "sha256").hexdigest()


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def _error_body(status: int, message: str) -> dict[str, Any]:
    """An error as HoneyHive's API words it (``message``, ``errorCode``, which its SDK shows), and as
    spanhive's earlier versions did (``error``)."""
    try:
        code = HTTPStatus(status).name
    except ValueError:
        code = "ERROR"
    return {"success": False, "message": message, "errorCode": code, "error": message}


def _validate(value: Any, schema: dict[str, Any]) -> None:
    try:
        _schema.validate(value, schema)
    except _schema.SchemaError as exc:
        raise HttpError(400, str(exc)) from None


def _gunzip(raw: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise HttpError(400, f"invalid gzip body: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise HttpError(413, f"decompressed body is over the limit of {limit} bytes")
    return data


def _embedded(body: Any, field: str) -> dict[str, Any]:
    """``{"event": "<JSON string>"}`` as HoneyHive's API takes it (an object is accepted too)."""
    if not isinstance(body, dict) or field not in body:
        raise HttpError(400, f"body: missing required field {field!r}")
    value = body[field]
    if isinstance(value, str):
        try:
            value = _strict_json(value)
        except (ValueError, RecursionError) as exc:
            raise HttpError(400, f"{field}: not valid JSON: {exc}") from None
        problem = _unstorable(value)
        if problem is not None:
            raise HttpError(400, problem.replace("body", field, 1))
    if not isinstance(value, dict):
        raise HttpError(400, f"{field}: expected an object (or a JSON string of one)")
    return value


def _complete(event: Mapping[str, Any], session_id: Optional[str]) -> dict[str, Any]:
    """The defaults HoneyHive's API fills in: ids, names, empty fields."""
    out = dict(event)
    out.setdefault("event_id", str(uuid.uuid4()))
    out["session_id"] = out.get("session_id") or session_id or str(uuid.uuid4())
    if out.get("event_type") != "session":
        out.setdefault("parent_id", out["session_id"])
    out.setdefault("event_name", "unknown")
    out.setdefault("source", "unknown")
    out.setdefault("project", "default")
    for field in DICT_FIELDS:
        if not isinstance(out.get(field), dict):
            out[field] = {}
    return out


def _model_event(model: Mapping[str, Any]) -> dict[str, Any]:
    """A ``/events/model`` record as the event it describes."""
    config = {
        k: model[k] for k in ("model", "provider", "template", "tools", "tool_choice", "response_format") if k in model
    }
    config.update(model.get("hyperparameters") or {})
    inputs: dict[str, Any] = dict(model.get("template_inputs") or {})
    if model.get("messages") is not None:
        inputs["chat_history"] = model["messages"]
    metadata = dict(model.get("metadata") or {})
    for key, value in (model.get("usage") or {}).items():
        metadata.setdefault(key, value)
    if model.get("cost") is not None:
        metadata.setdefault("cost", model["cost"])
    event = {
        k: model[k]
        for k in ("project", "source", "event_name", "event_id", "session_id", "parent_id", "error", "start_time",
                  "end_time", "duration", "feedback", "metrics", "user_properties")
        if k in model
    }  # fmt: skip
    event.update(event_type="model", config=config, inputs=inputs, outputs=dict(model.get("response") or {}))
    event["metadata"] = metadata
    event.setdefault("event_name", str(model.get("model") or "model"))
    return event
