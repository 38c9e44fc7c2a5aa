"""The retry loop: one deadline, exponential backoff with jitter, ``Retry-After``, interruptible sleeps.

Clock, sleep and randomness are injected so the policy can be tested without patching and without waiting.
"""

from __future__ import annotations

import enum
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Optional

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
"""The server or a proxy is overloaded or restarting: the same request may succeed later."""


class Verdict(enum.Enum):
    SUCCESS = "success"
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Attempt:
    """What one try produced: a verdict, an optional server-requested delay, and a short description."""

    verdict: Verdict
    detail: str = ""
    retry_after_s: Optional[float] = None
    status: Optional[int] = None
    partial: Optional[tuple[frozenset[str], int]] = None
    """``(ids of the events stored, errors listed)`` when the server reported a partial success."""
    stale_connection: bool = False
    """The connection broke before any answer, as a reused keep-alive socket does: worth one immediate retry."""


def for_status(status: int, detail: str = "", retry_after: Optional[str] = None) -> Attempt:
    """What an HTTP answer means for the request that got it: success, worth retrying (after ``Retry-After``
    when the server says so), or permanent."""
    if 200 <= status < 300:
        return Attempt(Verdict.SUCCESS, status=status)
    if status in RETRYABLE_STATUSES:
        return Attempt(Verdict.RETRY, detail, parse_retry_after(retry_after), status)
    return Attempt(Verdict.PERMANENT, detail, status=status)


@dataclass(frozen=True)
class Outcome:
    """How the whole loop ended."""

    delivered: bool
    attempts: int
    last: Attempt
    reason: str = ""
    """Why it stopped without delivering: ``permanent``, ``deadline`` or ``shutdown``."""


@dataclass(frozen=True)
class Backoff:
    """Delay before retry ``n`` (0-based): ``initial_s * multiplier**n``, capped, times ``1 ± jitter``."""

    initial_s: float = 0.5
    multiplier: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.2

    def delay(self, retry: int, rand: Callable[[], float]) -> float:
        base = min(self.max_s, self.initial_s * self.multiplier**retry)
        return base * (1 + self.jitter * (2 * rand() - 1))


class Retrier:
    """Runs an attempt function until success, a permanent failure, the deadline or shutdown."""

    def __init__(
        self,
        backoff: Backoff = Backoff(),
        *,
        clock: Callable[[], float] = time.monotonic,
        stop: Optional[threading.Event] = None,
        rand: Optional[Callable[[], float]] = None,
        wait: Optional[Callable[[float], bool]] = None,
    ) -> None:
        """``wait(seconds)`` sleeps and says whether it was interrupted: by default, ``stop.wait``."""
        self.backoff = backoff
        self.clock = clock
        self.stop = stop if stop is not None else threading.Event()
        self.rand = rand if rand is not None else random.Random().random  # noqa: S311 - jitter, not a secret
        """Jitter from a generator of our own: the application's ``random`` state (maybe seeded) is left alone."""
        self._wait = wait if wait is not None else self.stop.wait

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless shutdown comes first; ``True`` when interrupted."""
        return self._wait(seconds)

    def run(self, attempt: Callable[[float], Attempt], deadline: float, retry_until: Optional[float] = None) -> Outcome:
        """Call ``attempt(seconds_left)`` until it succeeds or it is pointless to go on; no retry starts after
        ``retry_until`` (by default, the ``deadline``)."""
        last_start = deadline if retry_until is None else min(deadline, retry_until)
        retry = 0
        while True:
            result = attempt(max(0.0, deadline - self.clock()))
            if result.verdict is Verdict.SUCCESS:
                return Outcome(True, retry + 1, result)
            if result.verdict is Verdict.PERMANENT:
                return Outcome(False, retry + 1, result, "permanent")
            if self.stop.is_set():
                return Outcome(False, retry + 1, result, "shutdown")
            wait = result.retry_after_s
            if wait is None:
                wait = self.backoff.delay(retry, self.rand)
            if self.clock() + wait > last_start:
                return Outcome(False, retry + 1, result, "deadline")
            if self.sleep(wait):
                return Outcome(False, retry + 1, result, "shutdown")
            retry += 1


def parse_retry_after(value: Optional[str], now: Callable[[], float] = time.time) -> Optional[float]:
    """``Retry-After`` as seconds from now: delay-seconds or an HTTP date; ``None`` when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now())
