"""``POST {endpoint}/events/batch`` over keep-alive connections: through urllib3 itself, or a ``requests``
session (the caller's own, or where the environment names a proxy)."""

from __future__ import annotations

import json
import os
import re
import threading
import time
import zlib
from collections.abc import Callable
from typing import Optional

import requests
import urllib3
from opentelemetry import context as otel_context
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH, select_proxy
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError, ReadTimeoutError, SSLError

from spanhive import _gzip
from spanhive._config import Settings, shown
from spanhive._internals import suppressed
from spanhive._log import logger
from spanhive._pipeline.sinks import BATCH_PATH, Request
from spanhive._retry import Attempt, Verdict, for_status
from spanhive._version import __version__

CONNECT_TIMEOUT_S = 5.0  # seconds; the read timeout is whatever the export deadline leaves
_RETRYABLE_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


POOL_SIZE = 4
"""Idle keep-alive sockets kept per exporter; more threads sending at once open more, closed after use."""


def _own_session(url: str) -> requests.Session:
    """A session of spanhive's own, which reads the environment's proxy and CA-bundle settings for ``url`` once,
    as ``requests`` would on every request, and then no more.

    Per request, that reading and a look for ``~/.netrc`` were about a seventh of a request's CPU; and a netrc
    entry for the host would have replaced the API key, since ``requests`` puts netrc credentials over an
    explicit ``Authorization`` header.
    """
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    settings = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    session.trust_env = False
    return session


def _own_pool(session: requests.Session, url: str) -> Optional[urllib3.PoolManager]:
    """The connection pool spanhive sends through itself, verifying TLS as ``session`` would (its CA bundle,
    read from the environment), or ``None`` where the environment sends ``url`` through a proxy: ``session``
    sends then.

    ``requests`` costs more CPU than the send itself: about 585 µs per request here, against 218 µs for
    urllib3 alone, which ``requests`` sends through (``python -m benchmarks.transport``).
    """
    if select_proxy(url, session.proxies):
        return None
    if not url.lower().startswith("https:"):
        return urllib3.PoolManager(num_pools=1, maxsize=POOL_SIZE)
    verify = session.verify
    if verify is False:
        return urllib3.PoolManager(num_pools=1, maxsize=POOL_SIZE, cert_reqs="CERT_NONE")
    bundle = DEFAULT_CA_BUNDLE_PATH if verify is True else str(verify)
    if os.path.isdir(bundle):
        return urllib3.PoolManager(num_pools=1, maxsize=POOL_SIZE, cert_reqs="CERT_REQUIRED", ca_cert_dir=bundle)
    return urllib3.PoolManager(num_pools=1, maxsize=POOL_SIZE, cert_reqs="CERT_REQUIRED", ca_certs=bundle)


REFUSES_GZIP = frozenset({400, 415})
"""What a server that cannot read a gzip body answers it (a JSON parser fed gzip bytes says ``400``)."""


class HttpSink:
    """One ``POST`` per attempt; the answer read as :func:`spanhive._retry.for_status` says.

    One connection pool per sink (and per process: a forked child makes its own), shared by every thread,
    keeping at most :data:`POOL_SIZE` idle sockets however many threads export."""

    retries = True
    takes_records = False

    def __init__(
        self,
        settings: Settings,
        session: Optional[requests.Session] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``session``: the caller's own, used as it is; by default, :func:`_own_session`."""
        self.endpoint = settings.endpoint
        self.url = settings.endpoint + BATCH_PATH
        self.target = shown(self.url)
        """The URL as logs and answers show it: no credentials of the endpoint's own."""
        self.encoding = "gzip" if settings.compression == "gzip" else "identity"
        headers = {"Content-Type": "application/json", "User-Agent": f"spanhive/{__version__}"}
        if self.encoding == "gzip":
            headers["Content-Encoding"] = "gzip"
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        headers.update(settings.headers)
        self.headers = headers
        self.clock = clock
        self._reads_gzip = False
        """A gzip body was taken: from then on a ``400`` is about the data, not the encoding."""
        self._given = session
        self._session: Optional[requests.Session] = None
        self._pool: Optional[urllib3.PoolManager] = None
        self._pid = 0
        self._lock = threading.Lock()

    def _transport(self) -> tuple[Optional[urllib3.PoolManager], requests.Session]:
        """Our own pool (``None``: the caller's session, or a proxy) and the session that sends otherwise."""
        if self._given is not None:
            return None, self._given
        session = self._session
        if session is None or self._pid != os.getpid():  # never share sockets across fork
            with self._lock:
                if self._session is None or self._pid != os.getpid():
                    own = _own_session(self.url)
                    self._pool, self._session, self._pid = _own_pool(own, self.url), own, os.getpid()
                session = self._session
        return self._pool, session

    def send(self, request: Request, timeout_s: float) -> Attempt:
        if timeout_s <= 0.001:
            return Attempt(Verdict.RETRY, "no time left before the export deadline")
        started = self.clock()
        url = self.url if request.path == BATCH_PATH else self.endpoint + request.path
        attempt = self._post(url, request.wire, request.encoding, timeout_s)
        if request.encoding == "gzip" and attempt.verdict is Verdict.SUCCESS:
            self._reads_gzip = True
        elif request.encoding == "gzip" and attempt.status in REFUSES_GZIP and not self._reads_gzip:
            # Nothing HoneyHive publishes says whether its API reads gzip bodies: one that refuses them gets
            # the same JSON uncompressed at once, and from then on if that is taken.
            try:
                payload = _gzip.decompress(request.wire)
            except (OSError, EOFError, zlib.error):  # not gzip after all: the server's answer stands
                return attempt
            plain = self._post(url, payload, "identity", timeout_s - (self.clock() - started))
            if plain.status != attempt.status and self.encoding == "gzip":
                self.encoding = "identity"
                self.headers.pop("Content-Encoding", None)
                logger.warning(
                    "spanhive: %s refused a gzip body (HTTP %d) and took it uncompressed; sending bodies "
                    "uncompressed from now on (set SPANHIVE_COMPRESSION=none to start that way)",
                    shown(url),
                    attempt.status,
                )
            attempt = plain
        return attempt

    def _post(self, url: str, data: bytes, encoding: str, timeout_s: float) -> Attempt:
        headers = self.headers
        where = self.target if url == self.url else shown(url)
        if ("Content-Encoding" in headers) != (encoding == "gzip"):  # a spooled request keeps its encoding
            headers = {k: v for k, v in headers.items() if k != "Content-Encoding"}
            if encoding == "gzip":
                headers["Content-Encoding"] = "gzip"
        pool, session = self._transport()
        token = suppressed()
        try:
            if pool is not None:
                answer = pool.urlopen(
                    "POST",
                    url,
                    body=data,
                    headers=headers,
                    timeout=urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, timeout_s), read=timeout_s),
                    retries=False,
                    redirect=False,
                )
                status = answer.status
                retry_after = answer.headers.get("Retry-After")
                text = answer.data.decode("utf-8", "replace") if not 200 <= status < 300 else ""
            else:
                with session.post(
                    url,
                    data=data,
                    headers=headers,
                    timeout=(min(CONNECT_TIMEOUT_S, timeout_s), timeout_s),
                    allow_redirects=False,
                ) as response:
                    status = response.status_code
                    retry_after = response.headers.get("Retry-After")
                    text = response.text if not 200 <= status < 300 else ""
        except urllib3.exceptions.HTTPError as exc:
            return _failed(exc, where)
        except requests.Timeout as exc:
            return Attempt(Verdict.RETRY, f"{type(exc).__name__} from {where}: {reason(exc)}")
        except _RETRYABLE_ERRORS as exc:
            detail = f"{type(exc).__name__} from {where}: {reason(exc)}"
            return Attempt(Verdict.RETRY, detail, stale_connection=_broke_before_answer(exc))
        except requests.RequestException as exc:
            return Attempt(Verdict.PERMANENT, f"{type(exc).__name__}: {exc}")
        finally:
            otel_context.detach(token)
        attempt = for_status(status, f"HTTP {status} from {where}: {' '.join(text.split())[:200]}", retry_after)
        partial = _partial_success(status, text)
        if partial is not None:
            return Attempt(attempt.verdict, attempt.detail, status=status, partial=partial)
        return attempt

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
            pool, self._pool = self._pool, None
        if self._pid == os.getpid():
            if session is not None:
                session.close()
            if pool is not None:
                pool.clear()


def _failed(exc: urllib3.exceptions.HTTPError, where: str) -> Attempt:
    """What an error from our own pool means, named as ``requests`` names it, so that logs and ``spanhive
    doctor`` read the same whichever sent."""
    if isinstance(exc, NewConnectionError):  # first: urllib3 1.26 makes it a ConnectTimeoutError too
        name = "ConnectionError"
    elif isinstance(exc, ConnectTimeoutError):
        name = "ConnectTimeout"
    elif isinstance(exc, ReadTimeoutError):
        name = "ReadTimeout"
    elif isinstance(exc, SSLError):
        name = "SSLError"
    elif isinstance(exc, ProtocolError):  # the connection broke before any answer: a stale keep-alive socket
        return Attempt(Verdict.RETRY, f"ConnectionError from {where}: {reason(exc)}", stale_connection=True)
    else:
        return Attempt(Verdict.PERMANENT, f"{type(exc).__name__}: {exc}")
    return Attempt(Verdict.RETRY, f"{name} from {where}: {reason(exc)}")


def _broke_before_answer(exc: Exception) -> bool:
    """The connection broke after the request went out and before any answer (urllib3's ``ProtocolError``,
    "Connection aborted"), as a pooled keep-alive socket the server had closed does; a refused or unreachable
    host is a ``NewConnectionError`` inside a ``MaxRetryError`` instead."""
    return isinstance(exc, requests.ConnectionError) and any(isinstance(arg, ProtocolError) for arg in exc.args)


def reason(exc: Exception) -> str:
    """The useful end of a network error (``[Errno 111] Connection refused``, ``[SSL:
    CERTIFICATE_VERIFY_FAILED] …``), not urllib3's whole chain."""
    text = str(exc)
    match = re.search(
        r"\[SSL[^\]]*\][^'\")]*|\[Errno -?\d+\][^'\")]*|Read timed out|Connection aborted|timed out", text
    )
    return match.group(0).strip() if match else text[:120]


def _partial_success(status: int, text: str) -> Optional[tuple[frozenset[str], int]]:
    """``(ids stored, errors listed)`` from a ``500`` whose body lists ``event_ids`` and ``errors`` (HoneyHive's
    "events partially created": ``event_ids`` are the events created, ``errors`` one message per event that
    could not be), else ``None``."""
    if status != 500:
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("event_ids"), list) and isinstance(body.get("errors"), list):
        return frozenset(i for i in body["event_ids"] if isinstance(i, str)), len(body["errors"])
    return None
