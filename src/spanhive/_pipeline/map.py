"""Stage 1, map: each finished span becomes one event record, purely and on its own.

The rules live in :mod:`spanhive.mapping` (one module per convention); this stage runs them over a batch,
one span at a time, so that each record can be passed on before the next span is mapped. A span the rules
cannot handle still becomes a minimal record that keeps every attribute (``map_span_safely``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from opentelemetry.sdk.trace import ReadableSpan

from spanhive.mapping import Defaults, Mapped, SpanFacts, map_span_safely

__all__ = ["Defaults", "Mapped", "SpanFacts", "map_span_safely", "map_spans"]


def map_spans(spans: Iterable[ReadableSpan], defaults: Defaults) -> Iterator[Mapped]:
    """The records of ``spans``, lazily, in order (spans that only duplicate another are skipped)."""
    for span in spans:
        mapped = map_span_safely(span, defaults)
        if mapped is not None:
            yield mapped
