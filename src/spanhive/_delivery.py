"""Sinks: where a batch body goes. HTTP to the API (with retries), or the embedded SQLite store.

Both take the same request body the wire format defines, so the exporter does not care which it has.
"""

from __future__ import annotations

import logging
import os
import threading
from contextvars import Token
from typing import Any, Callable, Optional, Protocol

import requests
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from spanhive._config import Settings
from spanhive._encode import Batch, compress
from spanhive._log import limited
from spanhive._retry import RETRYABLE_STATUSES, Attempt, Outcome, Retrier, Verdict, parse_retry_after
from spanhive._version import __version__
from spanhive.store import Store

BATCH_PATH = "/events/batch"
CONNECT_TIMEOUT_S = 5.0  # seconds; the read timeout is whatever the export deadline leaves
_RETRYABLE_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

_SUPPRESS_KEYS = tuple(
    key
    for key in (
        getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None),
        getattr(otel_context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None),
    )
    if key is not None
)


class Sink(Protocol):
    """Delivers one request body before ``deadline`` (a ``time.monotonic()`` value)."""

    def send(self, batch: Batch, deadline: float) -> Outcome: ...

    def close(self) -> None: ...


def suppressed() -> Token[Context]:
    """Attach a context in which instrumentations (``requests``, ``urllib3``…) do not trace our own calls."""
    ctx = otel_context.get_current()
    for key in _SUPPRESS_KEYS:
        ctx = otel_context.set_value(key, True, ctx)
    return otel_context.attach(ctx)


class HttpSink:
    """``POST {endpoint}/events/batch`` over one keep-alive ``requests.Session`` per process."""

    def __init__(
        self,
        settings: Settings,
        retrier: Retrier,
        session_factory: Callable[[], requests.Session] = requests.Session,
    ) -> None:
        self.url = settings.endpoint + BATCH_PATH
        self.gzip = settings.compression == "gzip"
        headers = {"Content-Type": "application/json", "User-Agent": f"spanhive/{__version__}"}
        if self.gzip:
            headers["Content-Encoding"] = "gzip"
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        headers.update(settings.headers)
        self.headers = headers
        self.retrier = retrier
        self._session_factory = session_factory
        self._session: Optional[requests.Session] = None
        self._pid = 0
        self._lock = threading.Lock()

    def _http(self) -> requests.Session:
        with self._lock:
            if self._session is None or self._pid != os.getpid():  # never share pooled sockets across fork
                self._session = self._session_factory()
                self._pid = os.getpid()
            return self._session

    def send(self, batch: Batch, deadline: float) -> Outcome:
        payload = batch.payload
        if self.gzip:
            payload = compress(payload)
        return self.retrier.run(lambda left: self._post(payload, left), deadline)

    def _post(self, payload: bytes, left_s: float) -> Attempt:
        if left_s <= 0.001:
            return Attempt(Verdict.RETRY, "no time left before the export deadline")
        token = suppressed()
        try:
            with self._http().post(
                self.url,
                data=payload,
                headers=self.headers,
                timeout=(min(CONNECT_TIMEOUT_S, left_s), left_s),
                allow_redirects=False,
            ) as response:
                status = response.status_code
                retry_after = response.headers.get("Retry-After")
                text = response.text[:200] if not 200 <= status < 300 else ""
        except _RETRYABLE_ERRORS as exc:
            return Attempt(Verdict.RETRY, f"{type(exc).__name__} from {self.url}")
        except requests.RequestException as exc:
            return Attempt(Verdict.PERMANENT, f"{type(exc).__name__}: {exc}")
        finally:
            otel_context.detach(token)
        if 200 <= status < 300:
            return Attempt(Verdict.SUCCESS, status=status)
        detail = f"HTTP {status} from {self.url}: {text.strip()}"
        if status in RETRYABLE_STATUSES:
            return Attempt(Verdict.RETRY, detail, parse_retry_after(retry_after), status)
        return Attempt(Verdict.PERMANENT, detail, status=status)

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None


class StoreSink:
    """Writes bodies straight into the embedded SQLite store, opened on first use."""

    def __init__(self, settings: Settings) -> None:
        path = settings.store_path
        assert path is not None
        self.path = path
        self._store: Any = None
        self._lock = threading.Lock()

    def send(self, batch: Batch, deadline: float) -> Outcome:
        try:
            with self._lock:
                if self._store is None:
                    self._store = Store(self.path)
                self._store.ingest_batch(batch.body)
        except Exception as exc:  # noqa: BLE001 - a store failure must never reach the application
            limited.log(logging.WARNING, "store", "spanhive: could not write to %s: %s", self.path, exc)
            return Outcome(False, 1, Attempt(Verdict.RETRY, str(exc)), "store")
        return Outcome(True, 1, Attempt(Verdict.SUCCESS))

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
