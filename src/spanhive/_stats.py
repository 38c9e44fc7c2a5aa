"""Counters of what the exporter did, readable from Python (``exporter.stats.snapshot()``)."""

from __future__ import annotations

import threading


class Stats:
    """Thread-safe named counters: exported, failed, retried, spooled, replayed, dropped, truncated, redacted…"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        if amount:
            with self._lock:
                self._counts[name] = self._counts.get(name, 0) + amount

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
