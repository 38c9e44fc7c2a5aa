"""OpenLLMetry / Traceloop attributes: the SDK's entity and association keys, and the LLM span formats from
before 0.55 (indexed ``gen_ai.prompt.<i>.*`` / ``gen_ai.completion.<i>.*``, ``llm.*`` parameters).

Source: traceloop/openllmetry ``packages/opentelemetry-semantic-conventions-ai/.../semconv_ai/__init__.py``,
``packages/traceloop-sdk/traceloop/sdk/decorators/base.py`` and ``tracing/tracing.py``, and
``packages/opentelemetry-instrumentation-openai/.../shared/chat_wrappers.py`` at 0b30e2de6^ for the old
format (conventions.md §3). The post-0.55 JSON messages are read by :mod:`spanhive.mapping.genai`.
"""

from __future__ import annotations

from typing import Any

from spanhive.mapping import _messages
from spanhive.mapping._attrs import SpanAttrs
from spanhive.mapping._draft import Draft
from spanhive.mapping._values import call_arguments, is_absent, json_leaf, json_value
from spanhive.mapping.openinference import indexed

HEADS = frozenset({"gen_ai", "llm", "traceloop"})
"""First segments of the attributes it reads: a span with none of them (and no span events) is skipped."""
ASSOCIATION_PREFIX = "traceloop.association.properties"
_USER_KEYS = {"customer_id": "customer_id"}  # user_id is resolved with the other user-id sources
_OLD_PARAMS = {
    "llm.frequency_penalty": "frequency_penalty",
    "llm.presence_penalty": "presence_penalty",
    "llm.top_k": "top_k",
    "llm.chat.stop_sequences": "stop_sequences",
    "llm.is_streaming": "stream",
    "gen_ai.is_streaming": "stream",  # Traceloop's current name for it
}


def apply(attrs: SpanAttrs, draft: Draft) -> None:
    ns = attrs.namespaces
    if "gen_ai" in ns:
        _old_messages(attrs, draft)
    if "llm" in ns or "gen_ai.is_streaming" in attrs.data:
        _old_llm(attrs, draft)
    if "traceloop" in ns:
        _entity(attrs, draft)
        _associations(attrs, draft)
        _prompt(attrs, draft)


def _old_message(item: Any) -> Any:
    if not isinstance(item, dict):
        return None
    message = _messages.openai_message(item)
    content = message.get("content")
    if isinstance(content, str) and content[:1] in "[{":  # list content is JSON-dumped by the old wrapper
        message["content"] = json_leaf(content)
    return message


def _old_messages(attrs: SpanAttrs, draft: Draft) -> None:
    if draft.empty("inputs"):
        if attrs.under("gen_ai.prompt"):
            items = indexed(attrs, "gen_ai.prompt") or []
            old = [m for m in map(_old_message, items) if m is not None]
            if old:
                draft.fill("inputs", {"chat_history": old})
        elif "gen_ai.prompt" in attrs.data:  # LangSmith and old events: the whole prompt as one JSON string
            value = json_leaf(attrs.data["gen_ai.prompt"])
            history = _messages.openai_messages(value.get("messages") if isinstance(value, dict) else value)
            if history is not None:
                attrs.used.add("gen_ai.prompt")
                draft.fill("inputs", {"chat_history": history})
            elif isinstance(value, dict) and value:
                attrs.used.add("gen_ai.prompt")
                draft.fill("inputs", value)
    if draft.empty("outputs"):
        if attrs.under("gen_ai.completion"):
            items = indexed(attrs, "gen_ai.completion") or []
            choices = [m for m in map(_old_message, items) if m is not None]
            if choices:
                draft.fill("outputs", _messages.model_outputs(choices))
        elif "gen_ai.completion" in attrs.data:
            value = json_leaf(attrs.data["gen_ai.completion"])
            if isinstance(value, dict) and value:
                attrs.used.add("gen_ai.completion")
                choices_raw = value.get("choices")
                if isinstance(choices_raw, list) and choices_raw:
                    choices = [
                        _messages.openai_message(c.get("message", c)) for c in choices_raw if isinstance(c, dict)
                    ]
                    draft.fill("outputs", _messages.model_outputs(choices) if choices else value)
                else:
                    draft.fill("outputs", value)
            elif isinstance(value, str) and value:
                attrs.used.add("gen_ai.completion")
                draft.fill("outputs", {"role": "assistant", "content": value})


def _old_llm(attrs: SpanAttrs, draft: Draft) -> None:
    draft.copy(attrs, "config", "model", "llm.request.model")
    for key, name in _OLD_PARAMS.items():
        value = attrs.data.get(key)
        if value is not None and not is_absent(value) and draft.put("config", name, json_leaf(value)):
            attrs.used.add(key)
    draft.answered(attrs, "llm.response.model")
    if attrs.under("llm.request.functions"):
        functions = indexed(attrs, "llm.request.functions")
        if functions:
            draft.put("config", "tools", [_json_leaf_dict(f) for f in functions])


def _json_leaf_dict(item: Any) -> Any:
    if isinstance(item, dict):
        return {k: json_leaf(v) for k, v in item.items()}
    return item


def _entity(attrs: SpanAttrs, draft: Draft) -> None:
    if draft.empty("inputs") and "traceloop.entity.input" in attrs.data:
        value = _unwrapped(json_value(attrs.data["traceloop.entity.input"]), "inputs", draft)
        inputs = call_arguments(value)
        if inputs is None:
            value = _messages.with_messages(value, "inputs")
            inputs = value if isinstance(value, dict) else {"input": value}
        attrs.used.add("traceloop.entity.input")
        draft.fill("inputs", inputs)
    if draft.empty("outputs") and "traceloop.entity.output" in attrs.data:
        value = _messages.with_messages(
            _unwrapped(json_value(attrs.data["traceloop.entity.output"]), "outputs", draft), "outputs"
        )
        attrs.used.add("traceloop.entity.output")
        draft.fill("outputs", value if isinstance(value, dict) else {"result": value})
    kind = attrs.data.get("traceloop.span.kind")
    if kind == "tool":
        draft.copy(attrs, "config", "tool_name", "traceloop.entity.name")


_LANGCHAIN_WRAPPER = frozenset({"inputs", "outputs", "tags", "metadata", "kwargs"})


def _unwrapped(value: Any, name: str, draft: Draft) -> Any:
    """Traceloop's LangChain instrumentation wraps a run's value with its callback arguments, ``{"inputs": …,
    "tags": […], "metadata": {…}, "kwargs": {…}}``: the value, the rest kept in ``metadata.langchain``."""
    if not (isinstance(value, dict) and name in value and set(value) <= _LANGCHAIN_WRAPPER):
        return value
    rest = {key: item for key, item in value.items() if key != name and item not in (None, [], {})}
    if rest:
        draft.put("metadata", "langchain", rest)
    return value[name]


def _associations(attrs: SpanAttrs, draft: Draft) -> None:
    for name, key in attrs.under(ASSOCIATION_PREFIX):
        value = attrs.data[key]
        if key in attrs.used or is_absent(value):
            continue
        if name in _USER_KEYS:
            draft.put("user_properties", _USER_KEYS[name], value)
        else:
            draft.put("metadata", name, json_leaf(value))
        attrs.used.add(key)


def _prompt(attrs: SpanAttrs, draft: Draft) -> None:
    for key, name in (
        ("traceloop.prompt.template", "template"),
        ("traceloop.prompt.key", "prompt_name"),
        ("traceloop.prompt.version", "prompt_version"),
    ):
        value = attrs.take(key)
        if value is not None:
            draft.put("config", name, value)
    for name, key in attrs.under("traceloop.prompt.template_variables"):
        if draft.put("inputs", name, json_leaf(attrs.data[key])):
            attrs.used.add(key)
