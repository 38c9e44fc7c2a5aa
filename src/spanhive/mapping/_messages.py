"""Chat messages from every convention, normalised to one shape.

A message is ``{role, content, ...}`` with ``tool_calls`` (OpenAI shape: ``{id, type: "function",
function: {name, arguments}}`` with ``arguments`` a JSON string), ``tool_call_id`` and ``name`` when present.
``content`` is a string, or a list of parts when the message carries more than text (images, files…).
Every function returns ``None`` when the data is not recognisably messages, so the caller keeps it raw.
"""

from __future__ import annotations

import json
from typing import Any, Optional

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
