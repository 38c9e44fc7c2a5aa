"""OpenInference (Arize) span attributes.

Source: Arize-ai/openinference ``python/openinference-semantic-conventions/.../trace/__init__.py`` and
``spec/semantic_conventions.md`` / ``spec/annotations.md`` (conventions.md §2). Lists are flattened as
``<prefix>.<i>.<suffix>``.
"""

from __future__ import annotations

from typing import Any, Optional

from spanhive.mapping import _messages
from spanhive.mapping._attrs import SpanAttrs
from spanhive.mapping._draft import Draft
from spanhive.mapping._values import json_leaf, string_list, unflatten

NAMESPACES = ("llm", "input", "output", "retrieval", "reranker", "embedding", "tool", "metadata", "tag")
FEEDBACK_PREFIXES = ("annotations", "evaluations")
SESSION_FEEDBACK_PREFIXES = tuple("session." + prefix for prefix in FEEDBACK_PREFIXES)
HEADS = frozenset({*NAMESPACES, *FEEDBACK_PREFIXES, "session"})
"""First segments of the attributes it reads: a span with none of them (and no span events) is skipped."""
_HUMAN = "HUMAN"
_MESSAGE_FIELDS = frozenset({"message.role", "message.content"})


def apply(attrs: SpanAttrs, draft: Draft) -> None:
    ns = attrs.namespaces
    if "llm" in ns:
        _llm(attrs, draft)
    if "retrieval" in ns or "reranker" in ns:
        _documents(attrs, draft)
    if "embedding" in ns:
        _embedding(attrs, draft)
    if "tool" in ns:
        _tool(attrs, draft)
    if "metadata" in ns:
        extra = attrs.take_json("metadata", dict)
        if isinstance(extra, dict):
            draft.merge("metadata", extra)
    tags = string_list(attrs.data.get("tag.tags"))
    if tags is not None and draft.put("metadata", "tags", tags):
        attrs.used.add("tag.tags")
    for prefix in FEEDBACK_PREFIXES:
        if prefix in ns:
            _feedback(attrs, prefix, draft.event)  # type: ignore[arg-type]
    if "session" in ns:
        for prefix in SESSION_FEEDBACK_PREFIXES:
            _feedback(attrs, prefix, draft.session)


def indexed(attrs: SpanAttrs, prefix: str) -> Optional[list[Any]]:
    """Rebuild ``prefix.<i>.…`` into a list (non-index keys under the prefix are left alone), consuming it."""
    entries = attrs.numbered(prefix)
    if not entries:
        return None
    data = attrs.data
    rebuilt, conflicts = unflatten([(rest, data[key]) for _, _, rest, key in entries])
    if not isinstance(rebuilt, list):
        return None
    if conflicts:
        bad = set(conflicts)
        attrs.used.update(key for _, _, rest, key in entries if rest not in bad)
    else:
        attrs.used.update(key for _, _, _, key in entries)
    return rebuilt


def _message(item: Any) -> Optional[dict[str, Any]]:
    raw = item.get("message") if isinstance(item, dict) else None
    if not isinstance(raw, dict):
        return None
    message: dict[str, Any] = {"role": raw.get("role") or "unknown"}
    contents = raw.get("contents")
    calls = raw.get("tool_calls")
    if isinstance(contents, list) and contents:
        items = [c for c in contents if isinstance(c, dict)]
        if not (isinstance(calls, list) and calls):  # Anthropic's tool_use blocks carry their call beside the part
            calls = [c["tool_call"] for c in items if isinstance(c.get("tool_call"), dict)]
        parts = [c.get("message_content", c) for c in items]
        if calls:  # a tool_use block's part is only its type: the call is the tool call
            parts = [p for p in parts if not (isinstance(p, dict) and p.get("type") == "tool_use")]
        if all(p.get("type") == "text" for p in parts):
            message["content"] = "\n".join(str(p.get("text", "")) for p in parts)
        else:
            message["content"] = parts
    else:
        message["content"] = raw.get("content") if raw.get("content") is not None else ""
    if isinstance(calls, list) and calls:
        message["tool_calls"] = [
            _messages.tool_call(
                c.get("id"), (c.get("function") or {}).get("name"), (c.get("function") or {}).get("arguments")
            )
            for c in (call.get("tool_call", call) for call in calls if isinstance(call, dict))
        ]
    elif raw.get("function_call_name") is not None:
        message["tool_calls"] = [
            _messages.tool_call(None, raw["function_call_name"], raw.get("function_call_arguments_json"))
        ]
    for key in ("tool_call_id", "name"):
        if raw.get(key) is not None:
            message[key] = raw[key]
    return message


def _messages_at(attrs: SpanAttrs, prefix: str) -> Optional[list[dict[str, Any]]]:
    if not attrs.under(prefix):
        return None
    items = indexed(attrs, prefix)
    if items is None:
        return None
    messages = []
    skipped = []
    for position, item in enumerate(items):
        message = _message(item)
        if message is None:
            skipped.append(position)
        else:
            messages.append(message)
    if messages and all(_is_empty(message) for message in messages):  # a role alone is no conversation
        skipped, messages = list(range(len(items))), []
    _release(attrs, prefix, skipped)
    return messages or None


def _is_empty(message: dict[str, Any]) -> bool:
    """A message with nothing said in it: LangGraph's root under OpenInference names a user message with no
    content beside the question in ``input.value``, which must win over it."""
    return message.get("content") in ("", None) and len(message) == 2  # role and content only


def _release(attrs: SpanAttrs, prefix: str, positions: list[int]) -> None:
    """Give back the keys of the items of ``indexed(attrs, prefix)`` at ``positions`` that the caller could not
    use, so that they stay in metadata as sent instead of vanishing."""
    if not positions:
        return
    entries = attrs.numbered(prefix)
    order = sorted({index for index, _, _, _ in entries})  # item ``p`` of the rebuilt list is index ``order[p]``
    unused = {order[p] for p in positions}
    attrs.used.difference_update(key for index, _, _, key in entries if index in unused)


def _llm(attrs: SpanAttrs, draft: Draft) -> None:
    if not draft.empty("inputs"):
        _absorb_copies(attrs, "llm.input_messages", draft.event["inputs"].get("chat_history"))
    if not draft.empty("outputs"):
        outputs = draft.event["outputs"]
        _absorb_copies(attrs, "llm.output_messages", outputs.get("choices") or [outputs])
    if draft.empty("inputs"):
        history = _messages_at(attrs, "llm.input_messages")
        if history is not None:
            draft.fill("inputs", {"chat_history": history})
            _absorb_raw_io(attrs, "input.value")
        else:
            prompts = indexed(attrs, "llm.prompts") if attrs.under("llm.prompts") else None
            texts = [p.get("prompt", {}).get("text") if isinstance(p, dict) else p for p in prompts or ()]
            if texts:
                draft.fill("inputs", {"prompt": texts[0] if len(texts) == 1 else texts})
    if draft.empty("outputs"):
        choices = _messages_at(attrs, "llm.output_messages")
        if choices is None and attrs.under("llm.choices"):
            items = indexed(attrs, "llm.choices") or []
            texts = [c.get("completion", {}).get("text") if isinstance(c, dict) else c for c in items]
            choices = [{"role": "assistant", "content": t} for t in texts if t is not None] or None
        if choices is not None:
            draft.fill("outputs", _messages.model_outputs(choices))
            _absorb_raw_io(attrs, "output.value")
            finish = attrs.take_str("llm.finish_reason")
            if finish is not None:
                draft.event["outputs"].setdefault("finish_reason", finish)
    draft.copy(attrs, "config", "model", "llm.request.model_name")
    params = attrs.take_json("llm.invocation_parameters", dict)
    if isinstance(params, dict):
        draft.merge("config", params)
    draft.copy(attrs, "config", "provider", "llm.provider", "llm.system")
    draft.answered(attrs, "llm.response.model_name", "llm.model_name")
    if attrs.under("llm.tools"):
        tools = indexed(attrs, "llm.tools")
        if tools:
            draft.put(
                "config",
                "tools",
                [json_leaf((t.get("tool") or {}).get("json_schema")) for t in tools if isinstance(t, dict)],
            )
    if attrs.under("llm.prompt_template"):
        _template(attrs, draft)


def _absorb_copies(attrs: SpanAttrs, prefix: str, messages: Any) -> None:
    """A double-instrumented call: the same conversation, already mapped from a higher convention. Each
    ``<prefix>.<i>.message.role`` / ``.content`` equal to message ``i`` of it is the same data, so it is
    consumed rather than repeated in metadata; anything that differs (or anything else) stays."""
    if not isinstance(messages, list) or not messages:
        return
    matched = False
    data = attrs.data
    count = len(messages)
    for position, field, _, key in attrs.numbered(prefix):
        if field not in _MESSAGE_FIELDS:
            continue
        message = messages[position] if 0 <= position < count else None
        if isinstance(message, dict) and message.get(field[8:]) == data[key]:
            attrs.used.add(key)
            matched = True
    if matched and _is_llm(attrs):
        _absorb_raw_io(attrs, "input.value" if prefix == "llm.input_messages" else "output.value")


def _is_llm(attrs: SpanAttrs) -> bool:
    return attrs.data.get("openinference.span.kind") == "LLM"


def _absorb_raw_io(attrs: SpanAttrs, key: str) -> None:
    """An LLM span's ``input.value``/``output.value`` is the whole request/response whose messages, parameters
    and usage were just mapped; repeating it in metadata would double the event for nothing."""
    if key in attrs.data:
        attrs.used.update((key, key.replace(".value", ".mime_type")))


def _template(attrs: SpanAttrs, draft: Draft) -> None:
    draft.copy(attrs, "config", "template", "llm.prompt_template.template")
    draft.copy(attrs, "config", "prompt_version", "llm.prompt_template.version")
    variables = attrs.take_json("llm.prompt_template.variables", dict)
    if isinstance(variables, dict):
        draft.merge("inputs", variables)


def _documents(attrs: SpanAttrs, draft: Draft) -> None:
    query = attrs.peek_str("reranker.query")
    if query is not None and draft.put("inputs", "query", query):
        attrs.used.add("reranker.query")
    draft.copy(attrs, "config", "model", "reranker.model_name")
    top_k = attrs.take("reranker.top_k")
    if top_k is not None:
        draft.put("config", "top_k", top_k)
    for prefix, field in (
        ("reranker.input_documents", "inputs"),
        ("retrieval.documents", "outputs"),
        ("reranker.output_documents", "outputs"),
    ):
        if attrs.under(prefix) and "documents" not in draft.event[field]:  # type: ignore[literal-required]
            items = indexed(attrs, prefix) or []
            documents = [_document(i) for i in items if isinstance(i, dict)]
            draft.put(field, "documents", documents)


def _document(item: dict[str, Any]) -> dict[str, Any]:
    document = item.get("document", item)
    if isinstance(document, dict) and "metadata" in document:
        document = {**document, "metadata": json_leaf(document["metadata"])}
    return document if isinstance(document, dict) else {"content": document}


def _embedding(attrs: SpanAttrs, draft: Draft) -> None:
    draft.copy(attrs, "config", "model", "embedding.model_name")
    params = attrs.take_json("embedding.invocation_parameters", dict)
    if isinstance(params, dict):
        draft.merge("config", params)
    entries = attrs.under("embedding.embeddings")
    if not entries:
        return
    texts: dict[str, Any] = {}
    dimensions = 0
    for rest, key in entries:
        index, _, field = rest.partition(".")
        value = attrs.data[key]
        if field == "embedding.vector":  # vectors are never copied into records: only their size is kept
            attrs.used.add(key)
            dimensions = max(dimensions, len(value) if isinstance(value, (list, tuple)) else 0)
        elif field == "embedding.text":
            attrs.used.add(key)
            texts[index] = value
    if texts:
        draft.put("inputs", "texts", [texts[i] for i in sorted(texts, key=_as_int)])
    draft.put("metadata", "embedding_count", len({rest.split(".", 1)[0] for rest, _ in entries}))
    if dimensions:
        draft.put("metadata", "embedding_dimensions", dimensions)


def _as_int(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _tool(attrs: SpanAttrs, draft: Draft) -> None:
    draft.copy(attrs, "config", "tool_name", "tool.name")
    draft.copy(attrs, "config", "tool_description", "tool.description")
    schema = attrs.take_json("tool.parameters")  # a JSON schema, not the call's arguments (those are input.value)
    if schema is not None:
        draft.put("config", "tool_parameters", schema)


def _feedback(attrs: SpanAttrs, prefix: str, target: dict[str, Any]) -> None:
    """``annotations.<i>.annotation.*`` → ``metrics`` (LLM/CODE annotators) or ``feedback`` (HUMAN)."""
    items = indexed(attrs, prefix) if attrs.under(prefix) else None
    skipped = []
    for position, item in enumerate(items or ()):
        entry = next(iter(item.values())) if isinstance(item, dict) and len(item) == 1 else None
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            skipped.append(position)
            continue
        field = "feedback" if str(entry.get("annotator_kind", "")).upper() == _HUMAN else "metrics"
        bucket = target.setdefault(field, {})
        value = entry.get("score", entry.get("label"))
        bucket.setdefault(entry["name"], value)
        if entry.get("explanation") is not None:
            bucket.setdefault(entry["name"] + "_explanation", entry["explanation"])
    _release(attrs, prefix, skipped)
