"""Getting request bodies to their destination, and keeping the ones that could not get there.

- A *sink* delivers one encoded body: :class:`HttpSink` (``POST {endpoint}/events/batch`` with retries
  inside one deadline, a global pause on ``429``, a cool-off after ``401``/``403``) or :class:`StoreSink`
  (the embedded SQLite store).
- :class:`Delivery` fits bodies under the size limit, splits on ``413``, spools what failed for a reason
  that may pass, and drops (counted, logged) what the server rejects for good.
- :class:`Drainer` is the background thread that replays the spool, backing off while the sink fails and
  speeding up as soon as it succeeds.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import threading
import time
from contextvars import Token
from typing import Callable, Optional, Protocol

import requests
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from spanhive._config import Settings
from spanhive._encode import Body, compress
from spanhive._log import limited, logger
from spanhive._retry import RETRYABLE_STATUSES, Attempt, Outcome, Retrier, Verdict, parse_retry_after
from spanhive._spool import Claim, Spool
from spanhive._stats import Stats
from spanhive._version import __version__
from spanhive.store import Store

BATCH_PATH = "/events/batch"
CONNECT_TIMEOUT_S = 5.0  # seconds; the read timeout is whatever the export deadline leaves
AUTH_COOLOFF_S = 300.0  # seconds without sending after the API rejects the key
DROP_STATUSES = frozenset({400, 404, 405, 409, 410, 422})
"""The server understood and refused: sending the same bytes again cannot succeed."""
AUTH_STATUSES = frozenset({401, 403})
_RETRYABLE_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

_SUPPRESS_KEYS = tuple(
    key
    for key in (
        getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None),
        getattr(otel_context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None),
    )
    if key is not None
)


def suppressed() -> Token[Context]:
    """Attach a context in which instrumentations (``requests``, ``urllib3``…) do not trace our own calls."""
    ctx = otel_context.get_current()
    for key in _SUPPRESS_KEYS:
        ctx = otel_context.set_value(key, True, ctx)
    return otel_context.attach(ctx)


class Sink(Protocol):
    encoding: str
    """``gzip`` or ``identity``: how bodies are encoded for this sink."""

    def deliver(self, wire: bytes, deadline: float) -> Outcome:
        """Deliver one encoded body before ``deadline`` (``time.monotonic()``)."""
        ...

    def close(self) -> None: ...


def _own_session(url: str) -> requests.Session:
    """A session of spanhive's own, which reads the environment's proxy and CA-bundle settings for ``url`` once,
    as ``requests`` would on every request, and then no more.

    Per request, that reading and a look for ``~/.netrc`` were about a seventh of a request's CPU; and a netrc
    entry for the host would have replaced the API key, since ``requests`` puts netrc credentials over an
    explicit ``Authorization`` header.
    """
    session = requests.Session()
    settings = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    session.trust_env = False
    return session


class HttpSink:
    """``POST {endpoint}/events/batch`` over keep-alive ``requests`` sessions (one per thread and process)."""

    def __init__(
        self,
        settings: Settings,
        retrier: Retrier,
        session_factory: Optional[Callable[[], requests.Session]] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``session_factory``: the caller's own sessions, used as they are; by default, :func:`_own_session`."""
        self.url = settings.endpoint + BATCH_PATH
        self.encoding = "gzip" if settings.compression == "gzip" else "identity"
        headers = {"Content-Type": "application/json", "User-Agent": f"spanhive/{__version__}"}
        if self.encoding == "gzip":
            headers["Content-Encoding"] = "gzip"
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        headers.update(settings.headers)
        self.headers = headers
        self.retrier = retrier
        self.clock = clock
        self._session_factory = session_factory or (lambda: _own_session(self.url))
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self.paused_until = 0.0
        """``time.monotonic()`` before which nothing is sent: the server asked everyone to wait (429)."""
        self.auth_blocked_until = 0.0
        """``time.monotonic()`` before which nothing is sent: the server rejected the key (401/403)."""

    def _http(self) -> requests.Session:
        local = self._local
        session: Optional[requests.Session] = getattr(local, "session", None)
        if session is None or getattr(local, "pid", None) != os.getpid():  # never share sockets across fork
            session = local.session = self._session_factory()
            local.pid = os.getpid()
            with self._lock:
                self._sessions.append(session)
        return session

    def deliver(self, wire: bytes, deadline: float) -> Outcome:
        now = self.clock()
        if now < self.auth_blocked_until:
            return Outcome(False, 0, Attempt(Verdict.RETRY, "the API rejected the key; cooling off"), "auth")
        if now < self.paused_until and (self.paused_until > deadline or self.retrier.sleep(self.paused_until - now)):
            return Outcome(False, 0, Attempt(Verdict.RETRY, "paused by the server (429)"), "paused")
        outcome = self.retrier.run(lambda left: self._post(wire, left), deadline)
        status = outcome.last.status
        if status in AUTH_STATUSES:
            self.auth_blocked_until = self.clock() + AUTH_COOLOFF_S
            logger.error(
                "spanhive: %s rejected the API key (HTTP %d); not sending for %d s. Batches are kept in the "
                "spool meanwhile. Check SPANHIVE_API_KEY / HH_API_KEY.",
                self.url,
                status,
                AUTH_COOLOFF_S,
            )
        return outcome

    def _post(self, wire: bytes, left_s: float) -> Attempt:
        started = self.clock()
        attempt = self._post_once(wire, left_s)
        if attempt.stale_connection:  # a pooled keep-alive socket the server had closed: retry at once
            attempt = self._post_once(wire, left_s - (self.clock() - started))
        return attempt

    def _post_once(self, wire: bytes, left_s: float) -> Attempt:
        if left_s <= 0.001:
            return Attempt(Verdict.RETRY, "no time left before the export deadline")
        token = suppressed()
        try:
            with self._http().post(
                self.url,
                data=wire,
                headers=self.headers,
                timeout=(min(CONNECT_TIMEOUT_S, left_s), left_s),
                allow_redirects=False,
            ) as response:
                status = response.status_code
                retry_after = response.headers.get("Retry-After")
                text = response.text if not 200 <= status < 300 else ""
        except requests.Timeout as exc:
            return Attempt(Verdict.RETRY, f"{type(exc).__name__} from {self.url}: {_reason(exc)}")
        except _RETRYABLE_ERRORS as exc:
            stale = isinstance(exc, requests.ConnectionError) and "aborted" in str(exc).lower()
            detail = f"{type(exc).__name__} from {self.url}: {_reason(exc)}"
            return Attempt(Verdict.RETRY, detail, stale_connection=stale)
        except requests.RequestException as exc:
            return Attempt(Verdict.PERMANENT, f"{type(exc).__name__}: {exc}")
        finally:
            otel_context.detach(token)
        if 200 <= status < 300:
            return Attempt(Verdict.SUCCESS, status=status)
        detail = f"HTTP {status} from {self.url}: {' '.join(text.split())[:200]}"
        if status in RETRYABLE_STATUSES:
            delay = parse_retry_after(retry_after)
            if status == 429 and delay is not None:
                self.paused_until = max(self.paused_until, self.clock() + delay)
            return Attempt(Verdict.RETRY, detail, delay, status)
        return Attempt(Verdict.PERMANENT, detail, status=status, partial=_partial_success(status, text))

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def _reason(exc: Exception) -> str:
    """The useful end of a network error (``[Errno 111] Connection refused``), not urllib3's whole chain."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\][^'\")]*|Read timed out|Connection aborted|timed out", text)
    return match.group(0).strip() if match else text[:120]


def _partial_success(status: int, text: str) -> Optional[tuple[int, int]]:
    """``(stored, rejected)`` from a ``500`` whose body lists ``event_ids`` and ``errors``, else ``None``."""
    if status != 500:
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("event_ids"), list) and isinstance(body.get("errors"), list):
        return len(body["event_ids"]), len(body["errors"])
    return None


class StoreSink:
    """Writes bodies into the embedded SQLite store, opened on first use."""

    encoding = "identity"

    def __init__(self, settings: Settings) -> None:
        path = settings.store_path
        assert path is not None
        self.path = path
        self._store: Optional[Store] = None
        self._lock = threading.Lock()
        self._pid = 0

    def deliver(self, wire: bytes, deadline: float) -> Outcome:
        try:
            body = json.loads(_plain(wire, "gzip" if wire[:2] == b"\x1f\x8b" else "identity"))
            with self._lock:
                if self._store is None or self._pid != os.getpid():  # SQLite connections must not cross fork
                    self._store, self._pid = Store(self.path), os.getpid()
                self._store.ingest_batch(body)
        except Exception as exc:  # noqa: BLE001 - a store failure must never reach the application
            limited.log(logging.WARNING, "store", "spanhive: could not write to %s: %s", self.path, exc)
            return Outcome(False, 1, Attempt(Verdict.RETRY, str(exc)), "store")
        return Outcome(True, 1, Attempt(Verdict.SUCCESS))

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self._pid == os.getpid():
                self._store.close()
            self._store = None


class Delivery:
    """Sends request bodies through a sink; what cannot be delivered now is spooled or, if refused, dropped."""

    def __init__(self, sink: Sink, spool: Optional[Spool], stats: Stats, max_bytes: int) -> None:
        self.sink = sink
        self.spool = spool
        self.stats = stats
        self.max_bytes = max_bytes

    def send(self, body: Body, deadline: float) -> bool:
        """Deliver ``body``; ``True`` only if every event of it was delivered now."""
        if body.size > self.max_bytes:
            parts = body.split(self.max_bytes)  # as many parts as the size needs, at once
            if parts is not None:
                return self._send_all(parts, deadline)
            body, cut = body.shrunk(self.max_bytes)
            self._report_cut(cut)
        payload = body.payload
        wire = compress(payload) if self.sink.encoding == "gzip" else payload
        outcome = self.sink.deliver(wire, deadline)
        if outcome.delivered:
            self.stats.add("exported", body.events)
            return True
        if outcome.last.status == 413:
            return self._too_large(body, deadline)
        self._not_delivered(outcome, wire, body.events)
        return False

    def keep(self, body: Body, why: str) -> None:
        """Spool a body without trying to send it (after shutdown)."""
        wire = compress(body.payload) if self.sink.encoding == "gzip" else body.payload
        outcome = Outcome(False, 0, Attempt(Verdict.RETRY, why), "shutdown")
        self._not_delivered(outcome, wire, body.events)

    def _send_all(self, bodies: list[Body], deadline: float) -> bool:
        results = [self.send(part, deadline) for part in bodies]  # every part, even after a failure
        return all(results)

    def _too_large(self, body: Body, deadline: float) -> bool:
        """The server's limit is below ours: halve until it accepts, cutting a lone event's largest values."""
        halves = body.halves()
        if halves is not None:
            return self._send_all(halves, deadline)
        payload = body.payload
        if len(payload) <= 1024:
            self._drop(body.events, "HTTP 413 for a single small event")
            return False
        smaller, cut = body.shrunk(len(payload) // 2)
        self._report_cut(cut)
        return self.send(smaller, deadline)

    def _not_delivered(self, outcome: Outcome, wire: bytes, events: int) -> None:
        last = outcome.last
        if last.status in DROP_STATUSES:
            self._drop(events, last.detail)
            return
        if last.status == 500 and last.partial is not None:
            stored, rejected = last.partial
            self.stats.add("exported", stored)
            self.stats.add("rejected", rejected)
            limited.log(
                logging.WARNING,
                "partial",
                "spanhive: server stored %d events and rejected %d (HTTP 500 partial success): %s",
                stored,
                rejected,
                last.detail,
            )
            return
        self.stats.add("failed", events)
        if outcome.attempts > 1:
            self.stats.add("retried", outcome.attempts - 1)
        if self.spool is not None and self.spool.put(wire, self.sink.encoding, events):
            limited.log(
                logging.WARNING,
                f"spooled-{outcome.reason}",
                "spanhive: %d events not delivered yet (%s); kept in the spool for replay: %s",
                events,
                outcome.reason,
                last.detail,
            )
        else:
            self._drop(events, f"{outcome.reason}: {last.detail} (and no spool to keep them)")

    def _drop(self, events: int, why: str) -> None:
        self.stats.add("dropped", events)
        limited.log(logging.WARNING, "dropped", "spanhive: dropped %d events: %s", events, why)

    def _report_cut(self, cut: int) -> None:
        if cut:
            self.stats.add("truncated", cut)
            limited.log(
                logging.WARNING,
                "oversized",
                "spanhive: an event was larger than the request limit; cut %d of its values to fit",
                cut,
            )

    def replay(self, claim: Claim, deadline: float) -> bool:
        """Send one spooled request; ``True`` when the sink took it (or refused it for good)."""
        entry = claim.entry
        events = entry.event_count
        outcome = self.sink.deliver(entry.body, deadline)
        if outcome.delivered:
            claim.done()
            self.stats.add("replayed", events)
            return True
        status = outcome.last.status
        if status == 413 or status in DROP_STATUSES or (status == 500 and outcome.last.partial is not None):
            claim.done()
            if status == 413:
                return self._too_large(Body.decode(_plain(entry.body, entry.encoding)), deadline)
            self._not_delivered(outcome, entry.body, events)
            return True
        claim.release()
        return False

    def close(self) -> None:
        self.sink.close()


def _plain(wire: bytes, encoding: str) -> bytes:
    return gzip.decompress(wire) if encoding == "gzip" else wire


class Drainer:
    """Replays the spool in a background thread: immediately after a success, with doubling pauses (1 s up
    to a minute) while the sink keeps failing, and every few seconds when idle (another process may have
    spooled). Stops when told to; restarts lazily in a forked child."""

    IDLE_S = 5.0
    MAX_BACKOFF_S = 60.0

    def __init__(self, delivery: Delivery, spool: Spool, timeout_s: float) -> None:
        self.delivery = delivery
        self.spool = spool
        self.timeout_s = timeout_s
        self._wake = threading.Event()
        self._stopped = False
        self._thread: Optional[threading.Thread] = None
        self._pid = 0
        self._lock = threading.Lock()
        self._backoff = 0.0

    def ensure_running(self) -> None:
        with self._lock:
            if self._stopped:
                return
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._wake = threading.Event()
            self._thread = threading.Thread(target=self._run, name="spanhive-spool-drainer", daemon=True)
            self._pid = os.getpid()
            self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        token = suppressed()
        try:
            self.spool.recover()
            while not self._stopped:
                self._pause(self._step())
        except Exception:  # noqa: BLE001 - a background thread must log, not die silently
            logger.exception("spanhive: the spool drainer stopped unexpectedly")
        finally:
            otel_context.detach(token)

    def _pause(self, seconds: float) -> None:
        """Wait before the next step: a kick (new spool entry) ends an idle wait, never a failure backoff."""
        end = time.monotonic() + seconds
        while not self._stopped:
            left = end - time.monotonic()
            if left <= 0:
                return
            self._wake.wait(left)
            self._wake.clear()
            if not self._backoff:
                return

    def _step(self) -> float:
        """Replay one request; returns how long to wait before the next."""
        claim = self.spool.claim()
        if claim is None:
            self.spool.recover()
            return max(self.IDLE_S, self._backoff)
        if self.delivery.replay(claim, time.monotonic() + self.timeout_s):
            self._backoff = 0.0
            return 0.0
        self._backoff = min(self.MAX_BACKOFF_S, max(1.0, self._backoff * 2))
        return self._backoff

    def stop(self, timeout_s: float) -> None:
        with self._lock:
            self._stopped = True
            thread = self._thread if self._pid == os.getpid() else None
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, timeout_s))
