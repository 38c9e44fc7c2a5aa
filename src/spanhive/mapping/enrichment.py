"""spanhive's own session-level attributes: ``spanhive.session.<field>``, a JSON object each, written by
``spanhive.enrich_session()`` and ``spanhive.session(inputs=…, metadata=…)``.

They describe the session, not the span: they go to the session's SessionProperties record (inputs and
outputs replace what the root span implies; the other fields merge), never into the event.
"""

from __future__ import annotations

from spanhive.mapping._attrs import SpanAttrs
from spanhive.mapping._draft import Draft

PREFIX = "spanhive.session"
HEADS = frozenset({"spanhive"})
"""First segments of the attributes it reads: a span with none of them (and no span events) is skipped."""
FIELDS = ("inputs", "outputs", "config", "metadata", "metrics", "feedback", "user_properties")


def apply(attrs: SpanAttrs, draft: Draft) -> None:
    if "spanhive" not in attrs.namespaces:
        return
    for field in FIELDS:
        value = attrs.take_json(f"{PREFIX}.{field}", dict)
        if value:
            existing = draft.session.get(field)
            if isinstance(existing, dict):
                existing.update(value)
            else:
                draft.session[field] = value
