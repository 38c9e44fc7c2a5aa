"""Generic ``input.value`` / ``output.value`` (OpenInference's I/O pair, used by many producers): the lowest
precedence source of ``inputs`` and ``outputs``, for spans no richer convention described.

Source: Arize-ai/openinference ``spec/semantic_conventions.md`` (``input.value``, ``input.mime_type``).
A JSON object becomes the field itself; any other value is wrapped as ``{"input": …}`` / ``{"output": …}``.
LangChain messages in either (OpenInference's LangChain instrumentation serializes them) become chat messages.
"""

from __future__ import annotations

from spanhive.mapping import _messages
from spanhive.mapping._attrs import SpanAttrs
from spanhive.mapping._draft import Draft
from spanhive.mapping._values import is_absent, json_leaf

HEADS = frozenset({"input", "output"})
"""First segments of the attributes it reads: a span with none of them (and no span events) is skipped."""
_JSON = "application/json"


def apply(attrs: SpanAttrs, draft: Draft) -> None:
    ns = attrs.namespaces
    if "input" in ns:
        _one(attrs, draft, "input", "inputs")
    if "output" in ns:
        _one(attrs, draft, "output", "outputs")


def _one(attrs: SpanAttrs, draft: Draft, name: str, field: str) -> None:
    key = name + ".value"
    raw = attrs.data.get(key)
    if raw is None or key in attrs.used or not draft.empty(field):
        return
    if is_absent(raw):
        attrs.used.add(key)
        return
    mime = attrs.data.get(name + ".mime_type")
    value = _messages.with_messages(json_leaf(raw), field) if mime in (None, _JSON) else raw
    if field == "outputs" and draft.is_model and not isinstance(value, dict):
        draft.fill(field, {"role": "assistant", "content": value})
    else:
        draft.fill(field, value if isinstance(value, dict) else {name: value})
    attrs.used.add(key)
    if mime is not None:
        attrs.used.add(name + ".mime_type")
