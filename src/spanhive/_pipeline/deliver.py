"""Stage 6, deliver: the policy that gets one packed body to its sink, or keeps it.

- Attempts go through the sink one at a time; retryable failures are retried with backoff and
  ``Retry-After`` inside the export deadline (for sinks worth retrying), a connection that broke before any
  answer (a stale keep-alive socket) once at once. Every retry is counted in ``retried``.
- A ``429`` pauses every sender of this exporter until its ``Retry-After``; a ``401``/``403`` stops sending
  for :data:`AUTH_COOLOFF_S`, the batches kept in the spool meanwhile.
- What failed for a reason that may pass is spooled; what the server refused for good is dropped (counted,
  logged). A ``413`` is answered with :attr:`Result.TOO_LARGE`: making the body smaller is packing's job.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from typing import Optional

from spanhive._log import limited, logger
from spanhive._pipeline.pack import Body
from spanhive._pipeline.sinks import Request, Sink
from spanhive._retry import Attempt, Outcome, Retrier, Verdict
from spanhive._spool import Spool
from spanhive._spool_envelope_pb2 import SpoolEntry
from spanhive._stats import Stats

AUTH_COOLOFF_S = 300.0  # seconds without sending after the API rejects the key
DROP_STATUSES = frozenset({400, 404, 405, 409, 410, 422})
"""The server understood and refused: sending the same bytes again cannot succeed."""
AUTH_STATUSES = frozenset({401, 403})


class Result(enum.Enum):
    """How one body or spooled request ended."""

    DELIVERED = "delivered"
    TOO_LARGE = "too large"
    """The server refused its size (``413``): send smaller ones instead."""
    SPOOLED = "spooled"
    """Not delivered now; kept in the spool for replay."""
    DROPPED = "dropped"
    """Refused for good, or not deliverable and nowhere to keep it: counted and logged."""
    FAILED = "failed"
    """A spooled request that failed again for a reason that may pass: it stays in the spool."""


class Delivery:
    """Sends bodies through a sink; what cannot be delivered now is spooled or, if refused, dropped."""

    def __init__(
        self,
        sink: Sink,
        spool: Optional[Spool],
        stats: Stats,
        retrier: Optional[Retrier] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.spool = spool
        self.stats = stats
        self.retrier = retrier if retrier is not None else Retrier()
        self.clock = clock
        self.paused_until = 0.0
        """``clock()`` before which nothing is sent: the server asked everyone to wait (429)."""
        self.auth_blocked_until = 0.0
        """``clock()`` before which nothing is sent: the server rejected the key (401/403)."""

    def send(self, body: Body, deadline: float) -> Result:
        """Deliver ``body`` before ``deadline`` (``clock()``), or keep it."""
        self._report_cut(body.cut)
        request = Request(self.sink.encoding, body=body)
        outcome = self._attempts(request, deadline)
        if outcome.delivered:
            self.stats.add("exported", request.events)
            return Result.DELIVERED
        if outcome.last.status == 413:
            return Result.TOO_LARGE
        return self._not_delivered(outcome, request)

    def replay(self, entry: SpoolEntry, deadline: float) -> Result:
        """Send one spooled request as it was written (its encoding kept); never spools it again."""
        request = Request(entry.encoding, wire=entry.body, events=entry.event_count)
        outcome = self._attempts(request, deadline)
        if outcome.delivered:
            self.stats.add("replayed", request.events)
            return Result.DELIVERED
        status = outcome.last.status
        if status == 413:
            return Result.TOO_LARGE
        if status in DROP_STATUSES or (status == 500 and outcome.last.partial is not None):
            return self._not_delivered(outcome, request)
        return Result.FAILED

    def keep(self, body: Body, why: str) -> Result:
        """Spool a body without trying to send it (after shutdown)."""
        outcome = Outcome(False, 0, Attempt(Verdict.RETRY, why), "shutdown")
        return self._not_delivered(outcome, Request(self.sink.encoding, body=body))

    def drop(self, events: int, why: str) -> Result:
        self.stats.add("dropped", events)
        limited.log(logging.WARNING, "dropped", "spanhive: dropped %d events: %s", events, why)
        return Result.DROPPED

    def _attempts(self, request: Request, deadline: float) -> Outcome:
        """Attempts until success, a permanent answer, the deadline or shutdown."""
        now = self.clock()
        if now < self.auth_blocked_until:
            return Outcome(False, 0, Attempt(Verdict.RETRY, "the API rejected the key; cooling off"), "auth")
        paused = self.paused_until
        if now < paused and (paused > deadline or self.retrier.sleep(paused - now)):
            return Outcome(False, 0, Attempt(Verdict.RETRY, "paused by the server (429)"), "paused")
        if self.sink.retries:
            outcome = self.retrier.run(lambda left: self._attempt(request, left), deadline)
        else:
            attempt = self._attempt(request, max(0.0, deadline - self.clock()))
            reason = "" if attempt.verdict is Verdict.SUCCESS else attempt.verdict.value
            outcome = Outcome(attempt.verdict is Verdict.SUCCESS, 1, attempt, reason)
        if outcome.attempts > 1:
            self.stats.add("retried", outcome.attempts - 1)
        status = outcome.last.status
        if status in AUTH_STATUSES:
            self.auth_blocked_until = self.clock() + AUTH_COOLOFF_S
            logger.error(
                "spanhive: %s rejected the API key (HTTP %d); not sending for %d s. Batches are kept in the "
                "spool meanwhile. Check SPANHIVE_API_KEY / HH_API_KEY.",
                self.sink.target,
                status,
                AUTH_COOLOFF_S,
            )
        return outcome

    def _attempt(self, request: Request, left_s: float) -> Attempt:
        """One attempt; a connection that broke before any answer is tried once more at once."""
        started = self.clock()
        attempt = self.sink.send(request, left_s)
        if attempt.stale_connection and self.sink.retries:
            self.stats.add("retried")
            attempt = self.sink.send(request, left_s - (self.clock() - started))
        if attempt.status == 429 and attempt.retry_after_s is not None:
            self.paused_until = max(self.paused_until, self.clock() + attempt.retry_after_s)
        return attempt

    def _not_delivered(self, outcome: Outcome, request: Request) -> Result:
        last = outcome.last
        events = request.events
        if last.status in DROP_STATUSES:
            return self.drop(events, last.detail)
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
            return Result.DROPPED
        self.stats.add("failed", events)
        if self.spool is not None and self.spool.put(request.wire, request.encoding, events):
            limited.log(
                logging.WARNING,
                f"spooled-{outcome.reason}",
                "spanhive: %d events not delivered yet (%s); kept in the spool for replay: %s",
                events,
                outcome.reason,
                last.detail,
            )
            return Result.SPOOLED
        return self.drop(events, f"{outcome.reason}: {last.detail} (and no spool to keep them)")

    def _report_cut(self, cut: int) -> None:
        if cut:
            self.stats.add("truncated", cut)
            limited.log(
                logging.WARNING,
                "oversized",
                "spanhive: an event was larger than the request limit; cut %d of its values to fit",
                cut,
            )

    def close(self) -> None:
        self.sink.close()
