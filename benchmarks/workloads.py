"""Deterministic workloads of real ``ReadableSpan`` objects, made by a real ``TracerProvider``.

- ``agent``: sessions of about 20 spans (an agent run: chains, agent steps, LLM calls carrying OpenInference
  and OTel GenAI attributes with 2–4 messages of 200–2000 characters, tools with JSON input and output).
- ``small``: many sessions of 1–3 small spans, like web requests.
- ``big``: LLM spans whose prompts are 50–200 KB.

The same seed gives the same spans, ids included, on every run.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "agents",
    "plan",
    "tools",
    "retrieve",
    "documents",
    "and",
    "models",
    "answer",
    "questions",
    "about",
    "refunds",
    "shipping",
    "invoices",
    "accounts",
    "latency",
    "tokens",
    "budgets",
    "and",
    "deadlines",
]


class SeededIds(IdGenerator):
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def generate_span_id(self) -> int:
        return self.rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self.rng.getrandbits(128) or 1


class _Clock:
    """Span times that advance deterministically (1 ms per step from a fixed epoch)."""

    def __init__(self) -> None:
        self.now = 1_764_000_000_000_000_000

    def tick(self, ms: int = 1) -> int:
        self.now += ms * 1_000_000
        return self.now


def _text(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


def _provider(seed: int) -> tuple[TracerProvider, InMemorySpanExporter, random.Random]:
    rng = random.Random(seed)
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "bench-app", "deployment.environment": "bench"}),
        id_generator=SeededIds(rng),
        span_limits=SpanLimits(max_attributes=10_000, max_attribute_length=None),
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory, rng


def _llm_attributes(rng: random.Random, messages: list[dict[str, str]], answer: str) -> dict[str, Any]:
    """An LLM span as OpenInference and the OTel GenAI conventions (both) describe it."""
    prompt_tokens = sum(len(m["content"]) for m in messages) // 4
    attrs: dict[str, Any] = {
        "openinference.span.kind": "LLM",
        "llm.system": "openai",
        "llm.model_name": "gpt-4o-mini-2024-07-18",
        "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 512}),
        "llm.token_count.prompt": prompt_tokens,
        "llm.token_count.completion": len(answer) // 4,
        "llm.token_count.total": prompt_tokens + len(answer) // 4,
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(40):x}",
        "gen_ai.usage.input_tokens": prompt_tokens,
        "gen_ai.usage.output_tokens": len(answer) // 4,
        "gen_ai.input.messages": json.dumps(
            [{"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]} for m in messages]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
        ),
    }
    for i, message in enumerate(messages):
        attrs[f"llm.input_messages.{i}.message.role"] = message["role"]
        attrs[f"llm.input_messages.{i}.message.content"] = message["content"]
    attrs["llm.output_messages.0.message.role"] = "assistant"
    attrs["llm.output_messages.0.message.content"] = answer
    return attrs


def agent(sessions: int, seed: int = 7) -> list[ReadableSpan]:
    """Agent runs of ~20 spans each."""
    provider, memory, rng = _provider(seed)
    tracer = provider.get_tracer("bench.agent")
    clock = _Clock()
    for s in range(sessions):
        session = f"conversation-{seed}-{s}"
        common = {"session.id": session, "user.id": f"user-{s % 97}"}
        with tracer.start_as_current_span(
            end_on_exit=False,
            name="agent_run",
            start_time=clock.tick(),
            attributes={**common, "openinference.span.kind": "AGENT", "input.value": _text(rng, 120)},
        ) as root:
            for step in range(3):
                with tracer.start_as_current_span(
                    end_on_exit=False,
                    name=f"plan_step_{step}",
                    start_time=clock.tick(),
                    attributes={**common, "openinference.span.kind": "CHAIN", "input.value": _text(rng, 80)},
                ) as chain:
                    for _ in range(2):
                        messages = [{"role": "system", "content": _text(rng, rng.randint(200, 600))}]
                        messages += [
                            {"role": rng.choice(("user", "assistant")), "content": _text(rng, rng.randint(200, 2000))}
                            for _ in range(rng.randint(1, 3))
                        ]
                        answer = _text(rng, rng.randint(100, 600))
                        with tracer.start_as_current_span(
                            end_on_exit=False,
                            name="ChatCompletion",
                            kind=SpanKind.CLIENT,
                            start_time=clock.tick(),
                            attributes={**common, **_llm_attributes(rng, messages, answer)},
                        ) as llm:
                            llm.end(end_time=clock.tick(rng.randint(200, 2000)))
                        tool_input = {"query": _text(rng, 40), "limit": rng.randint(1, 10)}
                        tool_output = {"results": [_text(rng, 60) for _ in range(3)]}
                        with tracer.start_as_current_span(
                            end_on_exit=False,
                            name="search_docs",
                            start_time=clock.tick(),
                            attributes={
                                **common,
                                "openinference.span.kind": "TOOL",
                                "tool.name": "search_docs",
                                "input.value": json.dumps(tool_input),
                                "input.mime_type": "application/json",
                                "output.value": json.dumps(tool_output),
                                "output.mime_type": "application/json",
                            },
                        ) as tool:
                            if rng.random() < 0.05:
                                tool.set_status(Status(StatusCode.ERROR, "search backend timed out"))
                            tool.end(end_time=clock.tick(rng.randint(5, 50)))
                    chain.set_attribute("output.value", _text(rng, 100))
                    chain.end(end_time=clock.tick())
            root.set_attribute("output.value", _text(rng, 200))
            root.end(end_time=clock.tick())
    return list(memory.get_finished_spans())


def small(sessions: int, seed: int = 11) -> list[ReadableSpan]:
    """Web requests: sessions of 1–3 small spans (a server span, maybe a database or HTTP client call)."""
    provider, memory, rng = _provider(seed)
    tracer = provider.get_tracer("bench.web")
    clock = _Clock()
    routes = ["/api/items", "/api/items/{id}", "/api/cart", "/healthz", "/api/login"]
    for _ in range(sessions):
        route = rng.choice(routes)
        with tracer.start_as_current_span(
            end_on_exit=False,
            name=f"GET {route}",
            kind=SpanKind.SERVER,
            start_time=clock.tick(),
            attributes={
                "http.request.method": "GET",
                "http.route": route,
                "url.path": route.replace("{id}", str(rng.randint(1, 999))),
                "http.response.status_code": rng.choice((200, 200, 200, 404, 500)),
                "server.address": "api.internal",
                "user_agent.original": "bench/1.0",
            },
        ) as server:
            for _ in range(rng.randint(0, 2)):
                with tracer.start_as_current_span(
                    end_on_exit=False,
                    name="SELECT items",
                    kind=SpanKind.CLIENT,
                    start_time=clock.tick(),
                    attributes={"db.system": "postgresql", "db.namespace": "shop", "db.operation.name": "SELECT"},
                ) as db:
                    db.end(end_time=clock.tick(rng.randint(1, 5)))
            server.end(end_time=clock.tick(rng.randint(1, 20)))
    return list(memory.get_finished_spans())


def big(spans: int, seed: int = 13) -> list[ReadableSpan]:
    """LLM calls whose prompts are 50–200 KB (long documents pasted into the context)."""
    provider, memory, rng = _provider(seed)
    tracer = provider.get_tracer("bench.big")
    clock = _Clock()
    for s in range(spans):
        document = _text(rng, rng.randint(50_000, 200_000))
        messages = [
            {"role": "system", "content": "Summarise the document."},
            {"role": "user", "content": document},
        ]
        answer = _text(rng, 800)
        with tracer.start_as_current_span(
            end_on_exit=False,
            name="ChatCompletion",
            kind=SpanKind.CLIENT,
            start_time=clock.tick(),
            attributes={"session.id": f"doc-{s}", **_llm_attributes(rng, messages, answer)},
        ) as llm:
            llm.end(end_time=clock.tick(rng.randint(1000, 9000)))
    return list(memory.get_finished_spans())


WORKLOADS: dict[str, tuple[Callable[[int], Sequence[ReadableSpan]], int]] = {
    # name: (generator, size argument giving a few thousand spans, or ~100 big ones)
    "agent": (agent, 150),
    "small": (small, 2500),
    "big": (big, 120),
}
