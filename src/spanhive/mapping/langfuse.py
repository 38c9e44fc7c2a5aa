"""Langfuse SDK (v3+) span attributes.

Source: langfuse/langfuse-python ``langfuse/_client/attributes.py`` (``LangfuseOtelSpanAttributes``) and
``langfuse/_client/constants.py`` (observation types), conventions.md §5.
"""

from __future__ import annotations

from typing import Any

from spanhive.mapping import _messages
from spanhive.mapping._attrs import SpanAttrs, as_count
from spanhive.mapping._draft import Draft
from spanhive.mapping._values import call_arguments, is_absent, json_value, string_list

OBSERVATION = "langfuse.observation"
TRACE = "langfuse.trace"
HEADS = frozenset({"langfuse"})
"""First segments of the attributes it reads: a span with none of them (and no span events) is skipped."""


def apply(attrs: SpanAttrs, draft: Draft) -> None:
    if "langfuse" not in attrs.namespaces:
        return
    _io(attrs, draft, OBSERVATION + ".input", "inputs", "input")
    _io(attrs, draft, OBSERVATION + ".output", "outputs", "output")
    draft.copy(attrs, "config", "model", OBSERVATION + ".model.name")
    params = attrs.take_json(OBSERVATION + ".model.parameters", dict)
    if isinstance(params, dict):
        draft.merge("config", params)
    _usage(attrs, draft)
    for key, name in (
        (OBSERVATION + ".prompt.name", "prompt_name"),
        (OBSERVATION + ".prompt.version", "prompt_version"),
    ):
        value = attrs.take(key)
        if value is not None:
            draft.put("config", name, value)
    for prefix in (OBSERVATION + ".metadata", TRACE + ".metadata"):
        for name, key in attrs.under(prefix):  # Langfuse's SDK writes each value as JSON: '"acme"' is acme
            if draft.put("metadata", name, json_value(attrs.data[key])):
                attrs.used.add(key)
    tags = string_list(attrs.data.get(TRACE + ".tags"))
    if tags is not None and draft.put("metadata", "tags", tags):
        attrs.used.add(TRACE + ".tags")
    for key, field in ((TRACE + ".input", "inputs"), (TRACE + ".output", "outputs")):
        value = attrs.data.get(key)
        if value is not None and not is_absent(value):
            attrs.used.add(key)
            parsed = json_value(value)
            draft.session.setdefault(field, parsed if isinstance(parsed, dict) else {field[:-1]: parsed})


def _io(attrs: SpanAttrs, draft: Draft, key: str, field: str, label: str) -> None:
    if key not in attrs.data or not draft.empty(field):
        return
    value = json_value(attrs.data[key])
    if is_absent(value):
        return
    attrs.used.add(key)
    if field == "inputs":
        history = _messages.openai_messages(value.get("messages") if isinstance(value, dict) else value)
        if history is not None and all(m["role"] != "unknown" for m in history):
            draft.fill(field, {"chat_history": history})
            return
        called = call_arguments(value)  # what @observe records of the decorated function's call
        if called is not None:
            draft.fill(field, called)
            return
    elif draft.is_model and isinstance(value, dict) and "content" in value:
        draft.fill(field, {"role": "assistant", **value})
        return
    elif draft.is_model and isinstance(value, str):
        draft.fill(field, {"role": "assistant", "content": value})
        return
    draft.fill(field, value if isinstance(value, dict) else {label: value})


def _usage(attrs: SpanAttrs, draft: Draft) -> None:
    usage = attrs.take_json(OBSERVATION + ".usage_details", dict)
    if isinstance(usage, dict):
        for source, name in (
            ("input", "prompt_tokens"),
            ("output", "completion_tokens"),
            ("total", "total_tokens"),
        ):
            draft.put("metadata", name, as_count(usage.get(source)))
    cost = attrs.take_json(OBSERVATION + ".cost_details", dict)
    if isinstance(cost, dict):
        draft.put("metadata", "cost", as_count(cost.get("total")))


def error(attrs: SpanAttrs) -> Any:
    """``status_message`` of an observation whose level is ``ERROR``."""
    if attrs.data.get(OBSERVATION + ".level") == "ERROR":
        message = attrs.take_str(OBSERVATION + ".status_message")
        attrs.used.add(OBSERVATION + ".level")
        return message or "error"
    return None
