"""Library logging manners: one ``spanhive`` logger, and repeated warnings rate-limited with counts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("spanhive")

LOG_INTERVAL_S = 60.0  # one line per kind of problem per minute at most


class RateLimiter:
    """Lets a message through once per interval per key; the next one says how many were held back."""

    def __init__(self, interval_s: float = LOG_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, level: int, key: str, msg: str, *args: Any, exc_info: bool = False) -> bool:
        """Log ``msg % args`` under ``key`` unless one was logged within the interval; ``True`` if logged."""
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
        if held:
            msg += " (%d similar messages suppressed)"
            args = (*args, held)
        logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def reset(self) -> None:
        """Forget what was logged (a fresh process, as far as rate limits go)."""
        with self._lock:
            self._last.clear()
            self._held.clear()


limited = RateLimiter()
