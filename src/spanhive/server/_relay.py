"""``spanhive relay``: OTLP/HTTP in, HoneyHive sessions out, through the exporter's own stages and delivery.

A relay keeps no state between requests: each request's spans are mapped as they arrive (ids are
deterministic, so any relay maps any span the same), which is what lets N of them sit behind a load balancer
(``docs/scale.md``). A trace split over several requests joins one session only if the span that states the
session comes in the same request as the others; put the Collector's ``groupbytrace`` in front when it may not.

A request is acknowledged only once each of its bodies is delivered or written to the durable spool, so a relay
killed mid-stream loses nothing it answered ``200`` for. When it cannot keep what it would accept (the spool is
full, or the backend asked everyone to wait, or rejects the relay's key), it answers ``429``/``503`` with
``Retry-After`` and keeps nothing: the sender's own retry queue holds the data meanwhile.
"""

from __future__ import annotations

import math
from typing import Optional

from opentelemetry.sdk.trace import ReadableSpan

from spanhive._exporter import SessionExporter
from spanhive._pipeline.deliver import Result
from spanhive.server._app import (
    DEFAULT_MAX_INFLIGHT,
    RELAY_ROUTES,
    Accepted,
    HttpError,
    Receiver,
)
from spanhive.server._defaults import DEFAULT_HOST, DEFAULT_MAX_BODY_BYTES, DEFAULT_RELAY_PORT

FULL_RETRY_AFTER_S = 5
"""What a relay whose spool is full asks senders to wait: about one probe of the backend."""
AUTH_RETRY_AFTER_S = 60


class RelayServer(Receiver):
    """Receives OTLP and forwards it with ``exporter``, which must send to an endpoint (not to a local store)
    and have a usable spool: what the relay acknowledges must survive it."""

    def __init__(
        self,
        exporter: SessionExporter,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_RELAY_PORT,
        api_key: Optional[str] = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        *,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        reuse_port: bool = False,
    ) -> None:
        self.exporter = exporter
        self.routes = RELAY_ROUTES
        self._reuse_port = reuse_port
        exporter._as_relay()
        super().__init__(host, port, api_key, max_body_bytes, max_inflight=max_inflight)

    def server_bind(self) -> None:
        if self._reuse_port:  # several relay processes on one port, the kernel spreading connections
            import socket  # noqa: PLC0415 - only where SO_REUSEPORT is asked for

            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def ingest_spans(self, spans: list[ReadableSpan], size: int) -> Accepted:
        self._refuse_if_it_cannot_keep(size)
        results = self.exporter._relay(spans)
        if results is None or Result.HELD in results:
            raise HttpError(
                503,
                "the relay could not keep this request durably; see its log",
                {"Retry-After": str(FULL_RETRY_AFTER_S)},
            )
        dropped = results.count(Result.DROPPED)
        if not dropped:
            return 0, ""
        delivery = self.exporter._delivery
        detail = delivery.last_detail if delivery is not None else ""
        # The backend refused some bodies for good (sending them again cannot help): those spans are rejected.
        return max(1, round(len(spans) * dropped / len(results))), f"the backend refused them: {detail}"

    def _refuse_if_it_cannot_keep(self, size: int) -> None:
        delivery, spool = self.exporter._delivery, self.exporter.spool
        if delivery is None or spool is None:
            raise HttpError(503, "the relay is shutting down", {"Retry-After": str(FULL_RETRY_AFTER_S)})
        now = delivery.clock()
        if delivery.paused_until > now:
            wait = math.ceil(delivery.paused_until - now)
            raise HttpError(429, "the backend asked to wait (429)", {"Retry-After": str(wait)})
        if delivery.auth_blocked_until > now:  # the key was rejected, or the endpoint has no such route
            why = f"the relay cannot send: {delivery.blocked_because}"
            raise HttpError(503, why, {"Retry-After": str(AUTH_RETRY_AFTER_S)})
        if not spool.has_room(size):
            raise HttpError(
                503,
                f"the relay's spool is full ({spool.max_bytes} bytes, SPANHIVE_SPOOL_MAX_BYTES) while the backend "
                "catches up",
                {"Retry-After": str(FULL_RETRY_AFTER_S)},
            )

    def server_close(self) -> None:
        super().server_close()
        self.exporter.shutdown()

    def __enter__(self) -> RelayServer:
        super().__enter__()
        return self


__all__ = ["RelayServer"]
