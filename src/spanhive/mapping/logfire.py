"""Pydantic Logfire's span attributes.

Source: pydantic/logfire ``logfire/_internal/constants.py`` (conventions.md §6): ``logfire.msg`` is the span's
human name (read by the event-name rule), ``logfire.tags`` its tags, and ``logfire.span_type = pending_span``
marks an in-flight duplicate of a span that is exported again when it ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spanhive.mapping._attrs import SpanAttrs
from spanhive.mapping._draft import Draft
from spanhive.mapping._values import string_list

HEADS = frozenset({"logfire"})
"""First segments of the attributes it reads: a span with none of them (and no span events) is skipped."""


def is_pending(attributes: Mapping[str, Any]) -> bool:
    """A pending-span placeholder: mapping it would duplicate the real span."""
    return attributes.get("logfire.span_type") == "pending_span"


def apply(attrs: SpanAttrs, draft: Draft) -> None:
    if "logfire" not in attrs.namespaces:
        return
    tags = string_list(attrs.data.get("logfire.tags"))
    if tags is not None and draft.put("metadata", "tags", tags):
        attrs.used.add("logfire.tags")
