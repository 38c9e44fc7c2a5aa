"""A loopback fake of the OpenAI chat-completions and the Anthropic Messages APIs, deterministic, for driving
real instrumentations.

The real ``openai`` and ``anthropic`` clients talk to it over HTTP (``POST …/messages`` is Anthropic's, any
other path OpenAI's); what it answers depends on the request: a ``tools`` list gets a tool call,
``stream: true`` gets server-sent events (each API's own), anything else a plain reply. Ids and timestamps
are fixed so that golden files stay byte-stable.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_ANSWERED = "gpt-4o-mini-2024-07-18"
CREATED = 1_764_000_000
USAGE = {
    "prompt_tokens": 23,
    "completion_tokens": 9,
    "total_tokens": 32,
    "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
PLAIN_ANSWER = "Paris is the capital of France."
TOOL_CALL = {
    "id": "call_weather_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def completion(request: dict[str, Any]) -> dict[str, Any]:
    """A chat completion: a tool call when tools are offered and no tool has answered yet (an agent's first
    turn), else the plain answer."""
    messages = request.get("messages") or [{}]
    if request.get("tools") and messages[-1].get("role") != "tool":
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}
        finish = "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": PLAIN_ANSWER}, "stop"
    return {
        "id": "chatcmpl-fake-1",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL_ANSWERED,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": USAGE,
    }


def stream_chunks(request: dict[str, Any]) -> list[dict[str, Any]]:
    base = {
        "id": "chatcmpl-fake-2",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL_ANSWERED,
    }
    words = ["Paris ", "is ", "the ", "capital ", "of ", "France."]
    chunks = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if (request.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": USAGE})
    return chunks


CLAUDE_ANSWERED = "claude-sonnet-4-5-20250929"
ANTHROPIC_USAGE = {
    "input_tokens": 23,
    "output_tokens": 9,
    "cache_creation_input_tokens": 6,
    "cache_read_input_tokens": 4,
}
TOOL_USE = {"type": "tool_use", "id": "toolu_weather_1", "name": "get_weather", "input": {"city": "Paris"}}


def message(request: dict[str, Any]) -> dict[str, Any]:
    """A Messages API reply: text, or (with ``tools``) a sentence and a ``tool_use`` block."""
    if request.get("tools"):
        content: list[dict[str, Any]] = [{"type": "text", "text": "Let me check."}, TOOL_USE]
        stop = "tool_use"
    else:
        content, stop = [{"type": "text", "text": PLAIN_ANSWER}], "end_turn"
    return {
        "id": "msg_fake_1", "type": "message", "role": "assistant", "model": CLAUDE_ANSWERED, "content": content,
        "stop_reason": stop, "stop_sequence": None, "usage": ANTHROPIC_USAGE,
    }  # fmt: skip


def message_events() -> list[tuple[str, dict[str, Any]]]:
    """A streamed Messages API reply, as ``(event, data)`` pairs in the order the API sends them."""
    start = {**message({}), "id": "msg_fake_2", "content": [], "stop_reason": None}
    start["usage"] = {**ANTHROPIC_USAGE, "output_tokens": 1}
    words = ["Paris ", "is ", "the ", "capital ", "of ", "France."]
    events = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start",
         {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
    ]  # fmt: skip
    events += [
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}})
        for w in words
    ]  # fmt: skip
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": ANTHROPIC_USAGE["output_tokens"]}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return events


class FakeLLM:
    """``with FakeLLM() as api: OpenAI(base_url=api.base_url, …)`` or ``Anthropic(base_url=api.anthropic_url, …)``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per keep-alive request

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                owner.requests.append(body)
                if self.path.rstrip("/").endswith("/messages"):
                    if body.get("stream"):
                        events = "".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in message_events())
                        self._send(events.encode(), "text/event-stream")
                    else:
                        self._send(json.dumps(message(body)).encode(), "application/json")
                elif body.get("stream"):
                    payload = "".join(f"data: {json.dumps(c)}\n\n" for c in stream_chunks(body)) + "data: [DONE]\n\n"
                    self._send(payload.encode(), "text/event-stream")
                else:
                    self._send(json.dumps(completion(body)).encode(), "application/json")

            def _send(self, data: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-request-id", "req_fake")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        """OpenAI's base URL (the client appends ``/chat/completions``)."""
        return self.anthropic_url + "/v1"

    @property
    def anthropic_url(self) -> str:
        """Anthropic's base URL (the client appends ``/v1/messages``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
