"""Span → event record mapping: pure functions, one module per span convention (the pipeline's first stage)."""

from spanhive.mapping._span import Defaults, Mapped, SpanFacts, map_span, map_span_safely

__all__ = ["Defaults", "Mapped", "SpanFacts", "map_span", "map_span_safely"]
