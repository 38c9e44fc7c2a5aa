"""Stage 7, drain: what delivery's answers lead to. A body too large for the server is sent again as smaller
ones (packing makes them), and the spool is replayed: by a background :class:`Drainer`, by ``force_flush()``
and by ``spanhive spool replay``, all through :func:`replay`."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Optional

from opentelemetry import context as otel_context

from spanhive._internals import suppressed
from spanhive._log import limited
from spanhive._pipeline.deliver import Delivery, Result
from spanhive._pipeline.pack import Body, decode, smaller
from spanhive._spool import Claim, Spool


def send_bodies(delivery: Delivery, bodies: list[Body], deadline: float) -> list[Result]:
    """Deliver every body (each one, even after a failure); what became of each, a body the server found too
    large standing for the smaller ones sent instead."""
    results: list[Result] = []
    pending = bodies[::-1]
    while pending:
        body = pending.pop()
        result = delivery.send(body, deadline)
        if result is Result.TOO_LARGE:  # the server's limit is below ours: halve, or cut a lone event
            instead = smaller(body)
            if instead is None:
                results.append(delivery.drop(body.events, "HTTP 413 for a single small event"))
            else:
                pending += instead[::-1]
        else:
            results.append(result)
    return results


def replay(delivery: Delivery, claim: Claim, deadline: float, *, retry: bool = False) -> Result:
    """Send one spooled request; what delivery made of it (:attr:`Result.FAILED` and :attr:`Result.BOUNCED`:
    it is back in the queue; anything else: it has left it, delivered or counted). A request too large for
    the server is sent again as smaller ones (spooled in turn if those fail) before its file is let go; one
    that failed goes back to the queue, behind the others, an attempt counted against it if the server
    answered (:data:`~spanhive._spool.MAX_ATTEMPTS` of those and it is quarantined).
    ``retry``: see :meth:`Delivery.replay`."""
    entry = claim.entry
    result = delivery.replay(entry, deadline, retry=retry)
    if result is Result.TOO_LARGE:
        try:
            instead = smaller(decode(entry.body, entry.encoding))
        except (OSError, ValueError) as exc:  # not gzip, not JSON: no way to cut it
            claim.quarantine(f"refused as too large (HTTP 413) and unreadable ({exc})")
        else:
            if instead is None:
                claim.quarantine("refused as too large (HTTP 413), and a single small event")
            else:
                send_bodies(delivery, instead, deadline)
                claim.done()
    elif result is Result.REFUSED:
        claim.quarantine("refused by the server for good")
    elif result in (Result.FAILED, Result.BOUNCED):
        claim.release(count_attempt=result is Result.BOUNCED)
    else:
        claim.done()
    return result


class Drainer:
    """Replays the spool in a background thread: immediately after a success, with doubling pauses (1 s up
    to half a minute, or a 429's pause) while the sink keeps failing, and every few seconds when idle
    (another process may have spooled). Stops when told to; restarts lazily in a forked child."""

    IDLE_S = 5.0
    MAX_BACKOFF_S = 30.0

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
        self.max_backoff_s = self.MAX_BACKOFF_S
        """The longest pause between probes of a sink that keeps failing."""

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

    def _run(self) -> None:
        token = suppressed()
        try:
            pause = self._step_safely(recover=True)
            while not self._stopped:
                self._pause(pause)
                pause = self._step_safely()
        finally:
            otel_context.detach(token)

    def _step_safely(self, recover: bool = False) -> float:
        """:meth:`_step` (after taking back what dead processes left, the first time), logged once in a while
        and survived if it raises: the drainer must outlive a full disk or a bug, or nothing would be replayed
        until the process restarts."""
        try:
            if recover:
                self.spool.recover()
            return self._step()
        except Exception:  # noqa: BLE001 - a background thread must log, never die
            limited.log(logging.ERROR, "drainer", "spanhive: the spool drainer hit an error; going on", exc_info=True)
            return self.max_backoff_s

    def _pause(self, seconds: float) -> None:
        """Wait before the next step, or until :meth:`stop`."""
        end = time.monotonic() + seconds
        while not self._stopped:
            left = end - time.monotonic()
            if left <= 0:
                return
            self._wake.wait(left)

    def _step(self) -> float:
        """Replay one request; returns how long to wait before the next."""
        claim = self.spool.claim()
        if claim is None:
            self.spool.recover()
            return max(self.IDLE_S, self._backoff)
        if replay(self.delivery, claim, time.monotonic() + self.timeout_s) not in (Result.FAILED, Result.BOUNCED):
            self._backoff = 0.0
            return 0.0
        self._backoff = min(self.max_backoff_s, max(1.0, self._backoff * 2))
        paused = self.delivery.paused_until - self.delivery.clock()  # a 429's Retry-After, capped
        return max(self._backoff, paused)

    def stop(self, timeout_s: float) -> None:
        with self._lock:
            self._stopped = True
            thread = self._thread if self._pid == os.getpid() else None
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, timeout_s))
