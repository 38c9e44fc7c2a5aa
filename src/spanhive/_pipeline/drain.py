"""Stage 7, drain: what delivery's answers lead to. A body too large for the server is sent again as smaller
ones (packing makes them), and the spool is replayed: by a background :class:`Drainer`, by ``force_flush()``
and by ``spanhive spool replay``, all through :func:`replay`."""

from __future__ import annotations

import os
import threading
import time
from typing import Optional

from opentelemetry import context as otel_context

from spanhive._internals import suppressed
from spanhive._log import logger
from spanhive._pipeline.deliver import Delivery, Result
from spanhive._pipeline.pack import Body, decode, smaller
from spanhive._spool import Claim, Spool


def send_bodies(delivery: Delivery, bodies: list[Body], deadline: float) -> bool:
    """Deliver every body (each one, even after a failure); ``True`` only if every event was delivered now."""
    ok = True
    pending = bodies[::-1]
    while pending:
        body = pending.pop()
        result = delivery.send(body, deadline)
        if result is Result.TOO_LARGE:  # the server's limit is below ours: halve, or cut a lone event
            instead = smaller(body)
            if instead is None:
                delivery.drop(body.events, "HTTP 413 for a single small event")
                ok = False
            else:
                pending += instead[::-1]
        elif result is not Result.DELIVERED:
            ok = False
    return ok


def replay(delivery: Delivery, claim: Claim, deadline: float) -> bool:
    """Send one spooled request; ``True`` when the sink took it (or refused it for good, counted). A request
    too large for the server is sent again as smaller ones (spooled in turn if those fail) before its file is
    let go; one that failed for a reason that may pass goes back to the spool."""
    entry = claim.entry
    result = delivery.replay(entry, deadline)
    if result is Result.TOO_LARGE:
        try:
            instead = smaller(decode(entry.body, entry.encoding))
        except (OSError, ValueError) as exc:  # not gzip, not JSON: no way to cut it
            delivery.drop(entry.event_count, f"HTTP 413 for a spooled request that cannot be read: {exc}")
            claim.done()
            return True
        if instead is None:
            delivery.drop(entry.event_count, "HTTP 413 for a single small event")
            claim.done()
            return True
        delivered = send_bodies(delivery, instead, deadline)
        claim.done()
        return delivered
    if result is Result.FAILED:
        claim.release()
        return False
    claim.done()
    return True


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
        if replay(self.delivery, claim, time.monotonic() + self.timeout_s):
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
