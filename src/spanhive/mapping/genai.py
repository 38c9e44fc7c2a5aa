"""OpenTelemetry GenAI semantic conventions, current and deprecated forms.

Source: open-telemetry/semantic-conventions ``model/gen-ai/registry.yaml``, ``events.yaml``,
``deprecated/*.yaml`` and ``docs/gen-ai/gen-ai-{input,output}-messages.json`` (conventions.md §4). Also what
OpenLLMetry ≥ 0.55 writes (the same JSON message attributes, conventions.md §3.2).
"""

from __future__ import annotations

from typing import Any

from spanhive.mapping import _messages
from spanhive.mapping._attrs import SpanAttrs, as_count
from spanhive.mapping._draft import Draft
from spanhive.mapping._values import is_absent, json_leaf, json_value, string_list

HEADS = frozenset({"gen_ai", "anthropic"})
"""First segments of the attributes it reads: a span with none of them (and no span events) is skipped."""
REQUEST_PREFIX = "gen_ai.request"
ANTHROPIC_STOP = "anthropic.message.stop_reason"
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system")
_REQUEST_NAMES = {"choice.count": "n", "max_tokens": "max_tokens"}
_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def apply(attrs: SpanAttrs, draft: Draft) -> None:
    if "gen_ai" in attrs.namespaces or "anthropic" in attrs.namespaces:
        _messages_from_attributes(attrs, draft)
        _request(attrs, draft)
        _response(attrs, draft)
        for prefix, rule in _OPTIONAL:
            if attrs.under(prefix):
                rule(attrs, draft)
    if draft.events:
        _span_events(draft)


def _messages_from_attributes(attrs: SpanAttrs, draft: Draft) -> None:
    if draft.empty("inputs") and "gen_ai.input.messages" in attrs.data:
        history = _messages.genai_messages(json_leaf(attrs.data["gen_ai.input.messages"]))
        if history is not None:
            attrs.used.add("gen_ai.input.messages")
            draft.fill("inputs", {"chat_history": _messages.with_instructions(history, attrs)})
    if draft.empty("outputs") and "gen_ai.output.messages" in attrs.data:
        choices = _messages.genai_messages(json_leaf(attrs.data["gen_ai.output.messages"]))
        if choices is not None:
            attrs.used.add("gen_ai.output.messages")
            draft.fill("outputs", _messages.model_outputs(choices))


def _request(attrs: SpanAttrs, draft: Draft) -> None:
    config = draft.event["config"]
    draft.copy(attrs, "config", "model", "gen_ai.request.model")
    draft.copy(attrs, "config", "provider", *PROVIDER_KEYS)
    for rest, key in attrs.under(REQUEST_PREFIX):
        if rest == "model":
            continue
        name = _REQUEST_NAMES.get(rest, rest.replace(".", "_"))
        value = attrs.data[key]
        if name not in config and not is_absent(value):
            config[name] = list(value) if isinstance(value, tuple) else json_leaf(value)
            attrs.used.add(key)
    tools = attrs.take_json("gen_ai.tool.definitions", list)
    if tools is not None:
        draft.put("config", "tools", tools)
    draft.copy(attrs, "config", "prompt_name", "gen_ai.prompt.name")


def _response(attrs: SpanAttrs, draft: Draft) -> None:
    draft.answered(attrs, "gen_ai.response.model")
    draft.copy(attrs, "metadata", "response_id", "gen_ai.response.id")
    reasons = string_list(attrs.data.get("gen_ai.response.finish_reasons"))
    if reasons is not None and draft.put("metadata", "finish_reasons", reasons):
        attrs.used.add("gen_ai.response.finish_reasons")
    first = as_count(attrs.data.get("gen_ai.response.time_to_first_chunk"))
    if first is not None and draft.put("metadata", "time_to_first_chunk", first):  # seconds, as sent
        attrs.used.add("gen_ai.response.time_to_first_chunk")
    stop = attrs.data.get(ANTHROPIC_STOP)  # the anthropic SDK's own spans say why the reply ended only here
    outputs = draft.event["outputs"]
    if isinstance(stop, str) and stop and outputs.get("role") == "assistant" and "finish_reason" not in outputs:
        outputs["finish_reason"] = stop
        attrs.used.add(ANTHROPIC_STOP)


def _tool(attrs: SpanAttrs, draft: Draft) -> None:
    draft.copy(attrs, "config", "tool_name", "gen_ai.tool.name")
    draft.copy(attrs, "config", "tool_description", "gen_ai.tool.description")
    draft.copy(attrs, "metadata", "tool_call_id", "gen_ai.tool.call.id")
    if draft.empty("inputs") and "gen_ai.tool.call.arguments" in attrs.data:
        arguments = json_value(attrs.data["gen_ai.tool.call.arguments"])
        if draft.fill("inputs", arguments if isinstance(arguments, dict) else {"arguments": arguments}):
            attrs.used.add("gen_ai.tool.call.arguments")
    if draft.empty("outputs") and "gen_ai.tool.call.result" in attrs.data:
        result = json_value(attrs.data["gen_ai.tool.call.result"])
        if draft.fill("outputs", result if isinstance(result, dict) else {"result": result}):
            attrs.used.add("gen_ai.tool.call.result")


def _retrieval(attrs: SpanAttrs, draft: Draft) -> None:
    query = attrs.peek_str("gen_ai.retrieval.query.text")
    if query is not None and draft.put("inputs", "query", query):
        attrs.used.add("gen_ai.retrieval.query.text")
    if draft.empty("outputs"):
        documents = attrs.take_json("gen_ai.retrieval.documents", list)
        if isinstance(documents, list):
            draft.fill("outputs", {"documents": documents})


def _evaluation(attrs: SpanAttrs, draft: Draft) -> None:
    name = attrs.peek_str("gen_ai.evaluation.name")
    if name is not None:
        keys = ("gen_ai.evaluation.name", "gen_ai.evaluation.score.value", "gen_ai.evaluation.score.label")
        if record_evaluation(draft, {k: attrs.data.get(k) for k in (*keys, "gen_ai.evaluation.explanation")}):
            attrs.used.update(k for k in (*keys, "gen_ai.evaluation.explanation") if k in attrs.data)


def record_evaluation(draft: Draft, values: dict[str, Any]) -> bool:
    """A ``gen_ai.evaluation.*`` result as ``metrics[name]`` (+ ``metrics[name + "_explanation"]``)."""
    name = values.get("gen_ai.evaluation.name")
    score = values.get("gen_ai.evaluation.score.value")
    if score is None:
        score = values.get("gen_ai.evaluation.score.label")
    if not isinstance(name, str) or not name or score is None:
        return False
    draft.put("metrics", name, score)
    explanation = values.get("gen_ai.evaluation.explanation")
    if explanation is not None:
        draft.put("metrics", name + "_explanation", explanation)
    return True


_OPTIONAL = (("gen_ai.tool", _tool), ("gen_ai.retrieval", _retrieval), ("gen_ai.evaluation", _evaluation))
"""Rules that read only keys under their prefix, skipped for a span that has none."""


# --- span events: evaluation results, and the deprecated message events --------------------------------


def _span_events(draft: Draft) -> None:
    history: list[dict[str, Any]] = []
    history_events: list[int] = []
    choices: list[tuple[int, dict[str, Any]]] = []
    choice_events: list[int] = []
    for index, event in enumerate(draft.events):
        name = event.name
        values = dict(event.attributes or {})
        if name == "gen_ai.evaluation.result":
            if record_evaluation(draft, values):
                draft.events_used.add(index)
        elif name in _MESSAGE_EVENTS:
            history.append(_event_message(values, _MESSAGE_EVENTS[name]))
            history_events.append(index)
        elif name == "gen_ai.choice":
            message = json_leaf(values.get("message"))
            choice = _messages.openai_message(message if isinstance(message, dict) else {"content": message})
            choice["role"] = choice["role"] if choice["role"] != "unknown" else "assistant"
            if values.get("finish_reason") is not None:
                choice["finish_reason"] = values["finish_reason"]
            choices.append((_index(values.get("index"), len(choices)), choice))
            choice_events.append(index)
        elif name == "gen_ai.content.prompt":
            prompt = json_leaf(values.get("gen_ai.prompt"))
            messages = _messages.openai_messages(prompt)
            if messages is not None:
                history.extend(messages)
                history_events.append(index)
        elif name == "gen_ai.content.completion":
            completion = json_leaf(values.get("gen_ai.completion"))
            messages = _messages.openai_messages(completion)
            if messages is None and isinstance(completion, str):
                messages = [{"role": "assistant", "content": completion}]
            if messages is not None:
                choices.extend(enumerate(messages, start=len(choices)))
                choice_events.append(index)
    if history and draft.fill("inputs", {"chat_history": history}):
        draft.events_used.update(history_events)
    if choices and draft.fill("outputs", _messages.model_outputs([c for _, c in sorted(choices, key=_first)])):
        draft.events_used.update(choice_events)


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]


def _event_message(values: dict[str, Any], role: str) -> dict[str, Any]:
    raw = {key: json_leaf(value) for key, value in values.items()}
    raw.setdefault("role", role)
    if "id" in raw and role == "tool":
        raw.setdefault("tool_call_id", raw.pop("id"))
    raw.pop("gen_ai.system", None)
    return _messages.openai_message(raw)


def _index(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
