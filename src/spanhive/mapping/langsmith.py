"""LangSmith's OpenTelemetry attributes.

Source: langchain-ai/langsmith-sdk ``python/langsmith/_internal/otel/_otel_exporter.py`` (conventions.md §6).
``langsmith.trace.session_id`` / ``session_name`` name the LangSmith *project*, not a conversation, so they are
never read as the session; conversations are the ``session_id`` / ``thread_id`` / ``conversation_id``
metadata keys, read by the session-id rule.
"""

from __future__ import annotations

from spanhive.mapping._attrs import SpanAttrs
from spanhive.mapping._draft import Draft
from spanhive.mapping._values import json_leaf

HEADS = frozenset({"langsmith"})
"""First segments of the attributes it reads: a span with none of them (and no span events) is skipped."""
METADATA_PREFIX = "langsmith.metadata"


def apply(attrs: SpanAttrs, draft: Draft) -> None:
    if "langsmith" not in attrs.namespaces:
        return
    for name, key in attrs.under(METADATA_PREFIX):
        if key not in attrs.used and draft.put("metadata", name, json_leaf(attrs.data[key])):
            attrs.used.add(key)
    tags = attrs.peek_str("langsmith.span.tags")
    if tags is not None and draft.put("metadata", "tags", [t.strip() for t in tags.split(",") if t.strip()]):
        attrs.used.add("langsmith.span.tags")
