"""Stage 6, deliver: the policy that gets one packed body to its sink, or keeps it.

- **Spool first.** With a durable spool, an export makes one attempt (retried briefly only while the sink
  is known to be healthy); what fails is spooled at once and the drainer owns retries, backoff and
  ``Retry-After``. After a failure a *breaker* opens: exports go straight to the spool, costing the app
  thread a file write instead of a timeout, until a replay gets through. Without a durable spool an export
  retries with backoff inside its deadline, as there is nowhere else to keep the batch.
- A connection that broke before any answer (a stale keep-alive socket) is tried once more at once. Every
  retry is counted in ``retried``.
- A ``429`` pauses every sender of this exporter until its ``Retry-After`` (capped); a ``401``/``403``
  stops sending for :data:`AUTH_COOLOFF_S`, the batches kept in the spool meanwhile. So does a ``404`` or
  ``405``: the endpoint is wrong (no such route there), which says nothing about the data.
- A ``500`` naming the events it stored (HoneyHive's partial success) counts those as delivered; the rest
  are rejected for good when the server listed an error for each, else kept to be sent again.
- What the server refused for good is dropped on export, quarantined on replay. A ``413`` is answered with
  :attr:`Result.TOO_LARGE`: making the body smaller is packing's job.

Every event handed to :meth:`Delivery.send` ends in exactly one of ``exported``, ``replayed``, ``dropped``,
``rejected`` and ``quarantined``, or is still in the spool (``spooled`` counts what went in).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Optional

from spanhive._log import limited, logger
from spanhive._pipeline.pack import Body, remainder
from spanhive._pipeline.sinks import Request, Sink
from spanhive._retry import Attempt, Outcome, Retrier, Verdict
from spanhive._spool import Spool
from spanhive._spool_envelope_pb2 import SpoolEntry
from spanhive._stats import Stats

AUTH_COOLOFF_S = 300.0  # seconds without sending after the API rejects the key
HEALTHY_RETRY_S = 1.0  # how long an export may retry while the sink is known healthy (spool first): a held
# export holds the SDK's queue, which a busy service fills in a few seconds
DROP_STATUSES = frozenset({400, 409, 410, 422})
"""The server understood and refused: sending the same bytes again cannot succeed."""
AUTH_STATUSES = frozenset({401, 403})
MISROUTED_STATUSES = frozenset({404, 405})
"""No such route at the endpoint: a wrong ``SPANHIVE_ENDPOINT``, not bad data. The batches wait in the spool
for the setting to be fixed."""
BLOCKING_STATUSES = AUTH_STATUSES | MISROUTED_STATUSES
LOST = ("dropped", "rejected", "quarantined")
"""The counters of events that will never arrive."""


class Result(enum.Enum):
    """How one body or spooled request ended."""

    DELIVERED = "delivered"
    TOO_LARGE = "too large"
    """The server refused its size (``413``): send smaller ones instead."""
    SPOOLED = "spooled"
    """Not delivered now; kept in the spool for replay."""
    HELD = "held"
    """Not delivered now; kept in the in-memory queue only (the spool's disk is unusable): lost on exit."""
    DROPPED = "dropped"
    """Refused for good, or not deliverable and nowhere to keep it: counted and logged."""
    FAILED = "failed"
    """A spooled request that failed again because the sink is down or busy: it stays in the spool."""
    BOUNCED = "bounced"
    """A spooled request the server answered with an error of its own: an attempt counted against it."""
    REFUSED = "refused"
    """A spooled request the server refused for good: it goes to quarantine."""


class Delivery:
    """Sends bodies through a sink; what cannot be delivered now is spooled or, if refused, dropped."""

    def __init__(
        self,
        sink: Sink,
        spool: Optional[Spool],
        stats: Stats,
        retrier: Optional[Retrier] = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_retry_after_s: float = 300.0,
    ) -> None:
        self.sink = sink
        self.spool = spool
        self.stats = stats
        self.retrier = retrier if retrier is not None else Retrier()
        self.clock = clock
        self.max_retry_after_s = max_retry_after_s
        self.paused_until = 0.0
        """``clock()`` before which nothing is sent: the server asked everyone to wait (429)."""
        self.auth_blocked_until = 0.0
        """``clock()`` before which nothing is sent: the server rejected the key (401/403), or has no such
        route (404/405)."""
        self.blocked_because = ""
        self.broken = False
        """The breaker: the last attempt failed for a reason that may pass; exports spool until a replay works."""
        self.healthy = False
        """The last attempt was delivered."""
        self.last_detail = ""
        """What the last attempt ended with, for a person reading a summary."""
        self._lock = threading.Lock()

    @property
    def spool_first(self) -> bool:
        """Whether a failed export can be kept durably, so that export need not wait for the sink."""
        return self.spool is not None and self.spool.usable

    def send(self, body: Body, deadline: float) -> Result:
        """Deliver ``body`` before ``deadline`` (``clock()``), or keep it."""
        self._report_cut(body.cut)
        request = Request(self.sink.encoding, body=body)
        spool_first = self.spool_first
        if spool_first and self.broken:
            self.stats.add("short_circuited", request.events)
            why = "the sink failed a moment ago; the spool drainer is probing it"
            return self._not_delivered(Outcome(False, 0, Attempt(Verdict.RETRY, why), "breaker open"), request)
        retry_until = None
        if spool_first:  # the drainer retries; an export only rides out a blip of a sink that was fine
            retry_until = min(deadline, self.clock() + HEALTHY_RETRY_S) if self.healthy else self.clock()
        outcome = self._attempts(request, deadline, wait=not spool_first, retry_until=retry_until)
        if outcome.delivered:
            self.stats.add("exported", request.events)
            return Result.DELIVERED
        if outcome.last.status == 413:
            return Result.TOO_LARGE
        return self._not_delivered(outcome, request)

    def replay(self, entry: SpoolEntry, deadline: float, *, retry: bool = False) -> Result:
        """Send one spooled request as it was written (its encoding and path kept); never spools it again
        unless the server stored only part of it. ``retry``: retry within ``deadline`` (a flush), rather than
        leave the pacing to the drainer."""
        request = Request(entry.encoding, wire=entry.body, events=entry.event_count, path=entry.path or None)
        if retry:
            outcome = self._attempts(request, deadline, wait=True)
        else:
            outcome = self._attempts(request, deadline, wait=False, once=True)
        if outcome.delivered:
            self.stats.add("replayed", request.events)
            return Result.DELIVERED
        last = outcome.last
        if last.status == 413:
            return Result.TOO_LARGE
        if last.partial is not None:
            return self._partial(last, request, replayed=True)
        if last.status in DROP_STATUSES:
            return Result.REFUSED
        if last.status is not None and last.verdict is Verdict.PERMANENT and last.status not in BLOCKING_STATUSES:
            return Result.BOUNCED
        return Result.FAILED

    def keep(self, body: Body, why: str) -> Result:
        """Spool a body without trying to send it (after shutdown)."""
        outcome = Outcome(False, 0, Attempt(Verdict.RETRY, why), "shutdown")
        return self._not_delivered(outcome, Request(self.sink.encoding, body=body))

    def drop(self, events: int, why: str) -> Result:
        self.stats.add("dropped", events)
        limited.log(logging.WARNING, "dropped", "spanhive: dropped %d events: %s", events, why)
        return Result.DROPPED

    def lost(self) -> int:
        """Events that will never arrive, counted since this delivery began."""
        return sum(self.stats.get(name) for name in LOST)

    def _attempts(
        self, request: Request, deadline: float, *, wait: bool, once: bool = False, retry_until: Optional[float] = None
    ) -> Outcome:
        """Attempts until success, a permanent answer, the deadline or shutdown. ``wait``: a ``429`` pause
        that ends before the deadline is waited out rather than taken as a failure; ``once``: no retries;
        ``retry_until``: no retry starts after it (each attempt still has until ``deadline``)."""
        now = self.clock()
        if now < self.auth_blocked_until:
            return Outcome(False, 0, Attempt(Verdict.RETRY, self.blocked_because), "blocked")
        paused = self.paused_until
        if now < paused and (not wait or paused > deadline or self.retrier.sleep(paused - now)):
            return Outcome(False, 0, Attempt(Verdict.RETRY, "paused by the server (429)"), "paused")
        if self.sink.retries and not once:
            outcome = self.retrier.run(lambda left: self._attempt(request, left), deadline, retry_until)
        else:
            attempt = self._attempt(request, max(0.0, deadline - self.clock()))
            reason = "" if attempt.verdict is Verdict.SUCCESS else attempt.verdict.value
            outcome = Outcome(attempt.verdict is Verdict.SUCCESS, 1, attempt, reason)
        if outcome.attempts > 1:
            self.stats.add("retried", outcome.attempts - 1)
        self._learn(outcome)
        return outcome

    def _learn(self, outcome: Outcome) -> None:
        """What this outcome says about the sink: healthy, broken (the breaker opens), or rejecting the key."""
        status = outcome.last.status
        self.last_detail = outcome.last.detail
        with self._lock:
            self.healthy = outcome.delivered
            if outcome.delivered or outcome.last.verdict is Verdict.PERMANENT:
                self.broken = False  # it answered: up, whatever it thought of this request
            elif self.spool_first:
                self.broken = True
        if status in AUTH_STATUSES:
            self.auth_blocked_until = self.clock() + AUTH_COOLOFF_S
            self.blocked_because = "the API rejected the key; cooling off"
            logger.error(
                "spanhive: %s rejected the API key (HTTP %d); not sending for %d s. Batches are kept in the "
                "spool meanwhile. Check SPANHIVE_API_KEY / HH_API_KEY.",
                self.sink.target,
                status,
                AUTH_COOLOFF_S,
            )
        elif status in MISROUTED_STATUSES:
            self.auth_blocked_until = self.clock() + AUTH_COOLOFF_S
            self.blocked_because = f"HTTP {status} from {self.sink.target}: the endpoint is wrong"
            logger.error(
                "spanhive: %s answered HTTP %d: there is no such route, so the endpoint is wrong. "
                "SPANHIVE_ENDPOINT (or HH_API_URL) is the API's base URL, e.g. https://api.honeyhive.ai, "
                "without /events/batch. Not sending for %d s; batches are kept in the spool meanwhile "
                "(`spanhive doctor` checks the setting).",
                self.sink.target,
                status,
                AUTH_COOLOFF_S,
            )

    def _attempt(self, request: Request, left_s: float) -> Attempt:
        """One attempt; a connection that broke before any answer is tried once more at once."""
        started = self.clock()
        attempt = self.sink.send(request, left_s)
        if attempt.stale_connection and self.sink.retries:
            self.stats.add("retried")
            attempt = self.sink.send(request, left_s - (self.clock() - started))
        if attempt.retry_after_s is not None and attempt.retry_after_s > self.max_retry_after_s:
            limited.log(
                logging.WARNING,
                "retry-after-cap",
                "spanhive: %s asked to wait %.0f s (Retry-After); waiting %.0f s at most "
                "(SPANHIVE_MAX_RETRY_AFTER_SECONDS)",
                self.sink.target,
                attempt.retry_after_s,
                self.max_retry_after_s,
            )
            attempt = dataclasses.replace(attempt, retry_after_s=self.max_retry_after_s)
        if attempt.status == 429 and attempt.retry_after_s is not None:
            self.paused_until = max(self.paused_until, self.clock() + attempt.retry_after_s)
        return attempt

    def _not_delivered(self, outcome: Outcome, request: Request) -> Result:
        last = outcome.last
        events = request.events
        if last.status in DROP_STATUSES:
            return self.drop(events, last.detail)
        if last.partial is not None:
            return self._partial(last, request, replayed=False)
        return self._keep(request, outcome.reason, last.detail)

    def _keep(self, request: Request, reason: str, detail: str) -> Result:
        if self.spool is not None:
            durable = self.spool.put(request.wire, request.encoding, request.events, request.path)
            limited.log(
                logging.WARNING,
                f"spooled-{reason}",
                "spanhive: %d events not delivered yet (%s); kept in the spool for replay: %s",
                request.events,
                reason,
                detail,
            )
            return Result.SPOOLED if durable else Result.HELD
        return self.drop(request.events, f"{reason}: {detail} (and no spool to keep them)")

    def _partial(self, last: Attempt, request: Request, *, replayed: bool) -> Result:
        """A ``500`` listing the events the server stored and an error per event it could not create: the
        stored ones count as delivered; the rest are rejected if an error accounts for each, else kept to be
        sent again (a request that made no progress is an ordinary failure)."""
        assert last.partial is not None
        stored_ids, errors = last.partial
        rest = remainder(request.wire, request.encoding, stored_ids)
        left = rest.events if rest is not None else 0
        stored = request.events - left
        self.stats.add("replayed" if replayed else "exported", stored)
        if rest is None or errors >= left:
            self.stats.add("rejected", left)
            limited.log(
                logging.WARNING,
                "partial",
                "spanhive: server stored %d events and rejected %d (HTTP 500 partial success): %s",
                stored,
                left,
                last.detail,
            )
            return Result.DELIVERED if replayed else Result.DROPPED
        if replayed and stored == 0:
            return Result.BOUNCED
        kept = Request(request.encoding, wire=rest.wire(request.encoding), events=left, path=request.path)
        result = self._keep(kept, "partial success", f"{stored} stored, {left} to send again: {last.detail}")
        return Result.DELIVERED if replayed else result

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
