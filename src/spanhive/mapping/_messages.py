"""Chat messages from every convention, normalised to one shape.

A message is ``{role, content, ...}`` with ``tool_calls`` (OpenAI shape: ``{id, type: "function",
function: {name, arguments}}`` with ``arguments`` a JSON string), ``tool_call_id`` and ``name`` when present.
``content`` is a string, or a list of parts when the message carries more than text (images, files…).
Every function returns ``None`` when the data is not recognisably messages, so the caller keeps it raw.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from spanhive.mapping._attrs import SpanAttrs
from spanhive.mapping._values import json_leaf

Message = dict[str, Any]

_TEXT_PART_KEYS = ("content", "text")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": _args(arguments)}}
    if call_id is not None:
        call = {"id": call_id, **call}
    return call


def _args(arguments: Any) -> Any:
    if arguments is None or isinstance(arguments, str):
        return arguments
    return _as_text(arguments)


# --- OpenTelemetry GenAI: {role, parts: [{type, ...}], name?, finish_reason?} ---------------------------


def genai_messages(value: Any) -> Optional[list[Message]]:
    if not isinstance(value, list) or not value:
        return None
    messages = [genai_message(m) for m in value if isinstance(m, dict)]
    return messages or None


def genai_message(raw: dict[str, Any]) -> Message:
    message: Message = {"role": raw.get("role") or "unknown"}
    parts = raw.get("parts")
    if not isinstance(parts, list):  # tolerate {role, content} written by hand
        parts = [{"type": "text", "content": raw["content"]}] if "content" in raw else []
    texts: list[str] = []
    structured: list[Any] = []
    calls: list[dict[str, Any]] = []
    reasoning: list[str] = []
    for part in parts:
        if not isinstance(part, dict):
            texts.append(_as_text(part))
            continue
        kind = part.get("type")
        if kind == "text":
            texts.append(_as_text(part.get("content", "")))
        elif kind == "tool_call":
            calls.append(tool_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif kind == "tool_call_response":
            if part.get("id") is not None:
                message["tool_call_id"] = part["id"]
            result = part["response"] if "response" in part else part.get("result")
            texts.append(_as_text(result))
        elif kind == "reasoning":
            reasoning.append(_as_text(part.get("content", "")))
        else:  # blob, uri, file, server tool calls, anything newer: kept as sent
            structured.append(part)
    if structured:
        message["content"] = [{"type": "text", "content": text} for text in texts] + structured
    else:
        message["content"] = "\n".join(texts)
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning"] = "\n".join(reasoning)
    for key in ("name", "finish_reason"):
        if raw.get(key) is not None:
            message[key] = raw[key]
    return message


def with_instructions(history: list[Message], attrs: SpanAttrs) -> list[Message]:
    """``history`` with ``gen_ai.system_instructions``, when a span has them, as its first ``system`` turn
    (the attribute consumed)."""
    system = attrs.data.get(SYSTEM_INSTRUCTIONS)
    text = genai_parts_text(json_leaf(system)) if system is not None else None
    if text is not None:
        attrs.used.add(SYSTEM_INSTRUCTIONS)
        history.insert(0, {"role": "system", "content": text})
    return history


SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"


def genai_parts_text(value: Any) -> Optional[str]:
    """``gen_ai.system_instructions``: a list of parts (or a string) as one text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = [_as_text(p.get("content", "")) if isinstance(p, dict) else _as_text(p) for p in value]
        return "\n".join(texts) if texts else None
    return None


# --- OpenAI-shaped messages: {role, content, tool_calls, tool_call_id, name} -------------------------------


def openai_messages(value: Any) -> Optional[list[Message]]:
    if not isinstance(value, list) or not value:
        return None
    messages = [openai_message(m) for m in value if isinstance(m, dict)]
    return messages or None


def openai_message(raw: dict[str, Any]) -> Message:
    message: Message = {"role": raw.get("role") or "unknown"}
    content = raw.get("content")
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        content = "\n".join(_as_text(next((p[k] for k in _TEXT_PART_KEYS if k in p), "")) for p in content)
    message["content"] = content if content is not None else ""
    calls = raw.get("tool_calls")
    if isinstance(calls, list) and calls:
        message["tool_calls"] = [_openai_call(c) for c in calls if isinstance(c, dict)]
    elif isinstance(raw.get("function_call"), dict):
        fn = raw["function_call"]
        message["tool_calls"] = [tool_call(None, fn.get("name"), fn.get("arguments"))]
    for key in ("tool_call_id", "name", "finish_reason"):
        if raw.get(key) is not None:
            message[key] = raw[key]
    return message


def _openai_call(raw: dict[str, Any]) -> dict[str, Any]:
    fn = raw.get("function")
    if isinstance(fn, dict):
        return tool_call(raw.get("id"), fn.get("name"), fn.get("arguments"))
    return tool_call(raw.get("id"), raw.get("name"), raw.get("arguments"))  # flat form (OpenLLMetry)


_LANGCHAIN_ROLES = {
    "human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool",
    "HumanMessage": "user", "AIMessage": "assistant", "SystemMessage": "system", "ToolMessage": "tool",
    "FunctionMessage": "tool", "HumanMessageChunk": "user", "AIMessageChunk": "assistant",
    "SystemMessageChunk": "system", "ToolMessageChunk": "tool",
}  # fmt: skip
"""LangChain message types (``type`` values and class names) as chat roles."""


def langchain_message(raw: Any) -> Optional[Message]:
    """A LangChain message as instrumentations serialize it, as a chat message; ``None`` for anything else.

    Three forms: ``{"lc": 1, "type": "constructor", "id": [..., "AIMessage"], "kwargs": {...}}`` (``dumpd``,
    Traceloop), ``{"type": "ai", "data": {...}}`` (``message_to_dict``, OpenInference), and the message's own
    fields ``{"type": "ai", "content": ...}``.
    """
    if not isinstance(raw, dict):
        return None
    if raw.get("lc") == 1 and isinstance(raw.get("id"), list) and isinstance(raw.get("kwargs"), dict):
        kind, fields = raw["id"][-1] if raw["id"] else None, raw["kwargs"]
    elif isinstance(raw.get("data"), dict) and isinstance(raw.get("type"), str):
        kind, fields = raw["type"], raw["data"]
    elif isinstance(raw.get("type"), str) and "content" in raw:
        kind, fields = raw["type"], raw
    else:
        return None
    role = _LANGCHAIN_ROLES.get(kind) if isinstance(kind, str) else None
    if role is None:
        role = fields.get("role") if kind in ("chat", "ChatMessage") and isinstance(fields.get("role"), str) else None
    if role is None:
        return None
    message = openai_message({**fields, "role": role, "tool_calls": None})
    calls = fields.get("tool_calls")
    if isinstance(calls, list) and calls:
        message["tool_calls"] = [
            tool_call(c.get("id"), c.get("name"), c.get("args")) for c in calls if isinstance(c, dict)
        ]
    return message


def langchain_messages(value: Any) -> Optional[list[Message]]:
    """A list of LangChain messages (or ``{role, content}`` dicts, which LangGraph takes as input) as chat
    messages; ``None`` unless every item is one."""
    if not isinstance(value, list) or not value:
        return None
    messages = []
    for item in value:
        message = langchain_message(item)
        if message is None and isinstance(item, dict) and isinstance(item.get("role"), str) and "content" in item:
            message = openai_message(item)
        if message is None:
            return None
        messages.append(message)
    return messages


def with_messages(value: Any, field: str) -> Any:
    """A chain's input or output value with the LangChain messages in it made chat messages (``value``
    itself when it holds none): a message list under ``messages`` becomes ``chat_history`` in ``inputs``; in
    ``outputs`` it stays under ``messages``, with the last message, when it is the assistant's, at the top
    (the answer); a lone message (a tool's or a node's output) becomes that message."""
    single = langchain_message(value)
    if single is not None:
        return single
    if not isinstance(value, dict):
        return value
    converted = langchain_messages(value.get("messages"))
    if converted is None:
        return value
    others = {key: item for key, item in value.items() if key != "messages"}
    if field == "inputs":
        return {**others, "chat_history": converted}
    last = converted[-1]
    answer = {key: last[key] for key in ("role", "content", "tool_calls") if key in last}
    return {**(answer if last["role"] == "assistant" else {}), **others, "messages": converted}


# --- outputs ------------------------------------------------------------------------------------------------


def model_outputs(choices: list[Message]) -> dict[str, Any]:
    """A model span's outputs: the first choice as ``{role: "assistant", content, ...}``, all under ``choices``
    when there are several."""
    first = dict(choices[0])
    if first.get("role") in (None, "unknown"):
        first["role"] = "assistant"
    if len(choices) > 1:
        first["choices"] = choices
    return first
