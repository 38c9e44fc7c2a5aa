"""``spanhive.flush()``: push everything out and say whether it really arrived."""

from __future__ import annotations

import time

from opentelemetry import trace

from spanhive import _registry


def flush(timeout_s: float = 30.0) -> bool:
    """Flush the global tracer provider's span processors, then replay every spanhive exporter's spool.

    Returns ``True`` only if everything was delivered within ``timeout_s``: nothing dropped, nothing left in
    a spool. (``TracerProvider.force_flush`` alone returns ``True`` even when the export failed.) Call it
    before a serverless function returns.
    """
    deadline = time.monotonic() + timeout_s
    exporters = _registry.live()
    dropped_before = sum(exporter.stats.get("dropped") for exporter in exporters)
    ok = True
    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if callable(force_flush):
        ok = bool(force_flush(_left_ms(deadline)))
    for exporter in exporters:
        ok = exporter.force_flush(_left_ms(deadline)) and ok
    dropped_after = sum(exporter.stats.get("dropped") for exporter in exporters)
    return ok and dropped_after == dropped_before and time.monotonic() <= deadline


def _left_ms(deadline: float) -> int:
    return max(0, int((deadline - time.monotonic()) * 1000))
