"""Deterministic workloads of real ``ReadableSpan`` objects, made by a real ``TracerProvider``.

- ``agent``: sessions of about 20 spans (an agent run: chains, agent steps, LLM calls carrying OpenInference
  and OTel GenAI attributes with 2–4 messages of 200–2000 characters, tools with JSON input and output).
- ``small``: many sessions of 1–3 small spans, like web requests.
- ``big``: LLM spans whose prompts are 50–200 KB.
- ``oi-agent``, ``genai-agent``, ``traceloop-agent``: the ``agent`` runs, each span in one convention only
  (OpenInference; the OTel GenAI conventions; OpenLLMetry/Traceloop), as one instrumentation writes them, with
  no conversation copied under a second convention, and one word in eight non-ASCII.

The same seed gives the same spans, ids included, on every run. :func:`fresh` copies spans with every
attribute string made again, as a production exporter sees them: strings it has never seen.
"""

from __future__ import annotations

import copy as _copy
import json
import random
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

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


NON_ASCII = ["café", "naïve", "Straße", "déjà", "über", "привет", "日本語", "données", "ñandú", "façade", "🙂"]


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


def _text(rng: random.Random, chars: int, non_ascii: float = 0.0) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(NON_ASCII if non_ascii and rng.random() < non_ascii else WORDS)
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


_MIXED = 1 / 8  # non-ASCII words in the one-convention workloads


def _conversation(rng: random.Random) -> tuple[list[dict[str, str]], str]:
    messages = [{"role": "system", "content": _text(rng, rng.randint(200, 600), _MIXED)}]
    messages += [
        {"role": rng.choice(("user", "assistant")), "content": _text(rng, rng.randint(200, 2000), _MIXED)}
        for _ in range(rng.randint(1, 3))
    ]
    return messages, _text(rng, rng.randint(100, 600), _MIXED)


def _tool_call(rng: random.Random) -> tuple[str, str]:
    tool_input = {"query": _text(rng, 40, _MIXED), "limit": rng.randint(1, 10)}
    tool_output = {"results": [_text(rng, 60, _MIXED) for _ in range(3)]}
    return json.dumps(tool_input, ensure_ascii=False), json.dumps(tool_output, ensure_ascii=False)


class _Convention:
    """How one instrumentation writes each kind of span of an agent run (attributes by kind)."""

    def session(self, session: str, user: str) -> dict[str, Any]:
        raise NotImplementedError

    def agent(self, question: str) -> dict[str, Any]:
        raise NotImplementedError

    def chain(self, step: str) -> dict[str, Any]:
        raise NotImplementedError

    def llm(self, rng: random.Random, messages: list[dict[str, str]], answer: str) -> dict[str, Any]:
        raise NotImplementedError

    def tool(self, arguments: str, result: str) -> dict[str, Any]:
        raise NotImplementedError

    def output(self, text: str) -> dict[str, Any]:
        raise NotImplementedError


class _OpenInference(_Convention):
    def session(self, session: str, user: str) -> dict[str, Any]:
        return {"session.id": session, "user.id": user}

    def agent(self, question: str) -> dict[str, Any]:
        return {"openinference.span.kind": "AGENT", "input.value": question}

    def chain(self, step: str) -> dict[str, Any]:
        return {"openinference.span.kind": "CHAIN", "input.value": step}

    def llm(self, rng: random.Random, messages: list[dict[str, str]], answer: str) -> dict[str, Any]:
        prompt_tokens = sum(len(m["content"]) for m in messages) // 4
        attrs: dict[str, Any] = {
            "openinference.span.kind": "LLM",
            "llm.system": "openai",
            "llm.provider": "openai",
            "llm.model_name": "gpt-4o-mini-2024-07-18",
            "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini", "temperature": 0.2}),
            "llm.token_count.prompt": prompt_tokens,
            "llm.token_count.completion": len(answer) // 4,
            "llm.token_count.total": prompt_tokens + len(answer) // 4,
            "input.value": json.dumps({"messages": messages}, ensure_ascii=False),
            "input.mime_type": "application/json",
            "output.value": json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}),
            "output.mime_type": "application/json",
        }
        for i, message in enumerate(messages):
            attrs[f"llm.input_messages.{i}.message.role"] = message["role"]
            attrs[f"llm.input_messages.{i}.message.content"] = message["content"]
        attrs["llm.output_messages.0.message.role"] = "assistant"
        attrs["llm.output_messages.0.message.content"] = answer
        return attrs

    def tool(self, arguments: str, result: str) -> dict[str, Any]:
        return {
            "openinference.span.kind": "TOOL", "tool.name": "search_docs", "input.value": arguments,
            "input.mime_type": "application/json", "output.value": result, "output.mime_type": "application/json",
        }  # fmt: skip

    def output(self, text: str) -> dict[str, Any]:
        return {"output.value": text}


class _GenAI(_Convention):
    def session(self, session: str, user: str) -> dict[str, Any]:
        return {"gen_ai.conversation.id": session, "user.id": user}

    def agent(self, question: str) -> dict[str, Any]:
        return {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support",
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": question}]}], ensure_ascii=False
            ),
        }  # fmt: skip

    def chain(self, step: str) -> dict[str, Any]:
        return {"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": step[:20]}

    def llm(self, rng: random.Random, messages: list[dict[str, str]], answer: str) -> dict[str, Any]:
        prompt_tokens = sum(len(m["content"]) for m in messages) // 4
        return {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(40):x}",
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.usage.input_tokens": prompt_tokens,
            "gen_ai.usage.output_tokens": len(answer) // 4,
            "gen_ai.input.messages": json.dumps(
                [{"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]} for m in messages],
                ensure_ascii=False,
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}],
                ensure_ascii=False,
            ),
        }

    def tool(self, arguments: str, result: str) -> dict[str, Any]:
        return {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search_docs",
            "gen_ai.tool.call.id": "call_1", "gen_ai.tool.call.arguments": arguments, "gen_ai.tool.call.result": result,
        }  # fmt: skip

    def output(self, text: str) -> dict[str, Any]:
        return {
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": text}]}], ensure_ascii=False
            )
        }


class _Traceloop(_Convention):
    def session(self, session: str, user: str) -> dict[str, Any]:
        return {
            "traceloop.association.properties.session_id": session,
            "traceloop.association.properties.user_id": user,
        }

    def agent(self, question: str) -> dict[str, Any]:
        return {
            "traceloop.span.kind": "agent", "traceloop.entity.name": "support",
            "traceloop.entity.input": json.dumps({"args": [question], "kwargs": {}}, ensure_ascii=False),
        }  # fmt: skip

    def chain(self, step: str) -> dict[str, Any]:
        return {
            "traceloop.span.kind": "task", "traceloop.entity.name": "plan",
            "traceloop.entity.input": json.dumps({"args": [step], "kwargs": {}}, ensure_ascii=False),
        }  # fmt: skip

    def llm(self, rng: random.Random, messages: list[dict[str, str]], answer: str) -> dict[str, Any]:
        prompt_tokens = sum(len(m["content"]) for m in messages) // 4
        attrs: dict[str, Any] = {
            "llm.request.type": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(40):x}",
            "gen_ai.usage.prompt_tokens": prompt_tokens,
            "gen_ai.usage.completion_tokens": len(answer) // 4,
            "llm.usage.total_tokens": prompt_tokens + len(answer) // 4,
        }
        for i, message in enumerate(messages):
            attrs[f"gen_ai.prompt.{i}.role"] = message["role"]
            attrs[f"gen_ai.prompt.{i}.content"] = message["content"]
        attrs["gen_ai.completion.0.role"] = "assistant"
        attrs["gen_ai.completion.0.content"] = answer
        attrs["gen_ai.completion.0.finish_reason"] = "stop"
        return attrs

    def tool(self, arguments: str, result: str) -> dict[str, Any]:
        return {
            "traceloop.span.kind": "tool", "traceloop.entity.name": "search_docs",
            "traceloop.entity.input": arguments, "traceloop.entity.output": result,
        }  # fmt: skip

    def output(self, text: str) -> dict[str, Any]:
        return {"traceloop.entity.output": json.dumps(text, ensure_ascii=False)}


def _one_convention(convention: _Convention, sessions: int, seed: int) -> list[ReadableSpan]:
    """The ``agent`` runs, in one convention: the session on the spans as that instrumentation puts it."""
    provider, memory, rng = _provider(seed)
    tracer = provider.get_tracer("bench.agent")
    clock = _Clock()
    for s in range(sessions):
        common = convention.session(f"conversation-{seed}-{s}", f"user-{s % 97}")
        root = tracer.start_span(
            "agent_run", start_time=clock.tick(), attributes={**common, **convention.agent(_text(rng, 120, _MIXED))}
        )
        with trace_api.use_span(root):
            for step in range(3):
                chain = tracer.start_span(
                    f"plan_step_{step}",
                    start_time=clock.tick(),
                    attributes={**common, **convention.chain(_text(rng, 80, _MIXED))},
                )
                with trace_api.use_span(chain):
                    for _ in range(2):
                        messages, answer = _conversation(rng)
                        llm = tracer.start_span(
                            "chat gpt-4o-mini",
                            kind=SpanKind.CLIENT,
                            start_time=clock.tick(),
                            attributes={**common, **convention.llm(rng, messages, answer)},
                        )
                        llm.end(end_time=clock.tick(rng.randint(200, 2000)))
                        arguments, result = _tool_call(rng)
                        tool = tracer.start_span(
                            "search_docs",
                            start_time=clock.tick(),
                            attributes={**common, **convention.tool(arguments, result)},
                        )
                        if rng.random() < 0.05:
                            tool.set_status(Status(StatusCode.ERROR, "search backend timed out"))
                        tool.end(end_time=clock.tick(rng.randint(5, 50)))
                chain.set_attributes(convention.output(_text(rng, 100, _MIXED)))
                chain.end(end_time=clock.tick())
        root.set_attributes(convention.output(_text(rng, 200, _MIXED)))
        root.end(end_time=clock.tick())
    return list(memory.get_finished_spans())


def oi_agent(sessions: int, seed: int = 17) -> list[ReadableSpan]:
    """Agent runs as OpenInference's instrumentations write them."""
    return _one_convention(_OpenInference(), sessions, seed)


def genai_agent(sessions: int, seed: int = 19) -> list[ReadableSpan]:
    """Agent runs in the OpenTelemetry GenAI semantic conventions (messages as JSON attributes)."""
    return _one_convention(_GenAI(), sessions, seed)


def traceloop_agent(sessions: int, seed: int = 23) -> list[ReadableSpan]:
    """Agent runs as OpenLLMetry (Traceloop) writes them: indexed prompts, entity input and output."""
    return _one_convention(_Traceloop(), sessions, seed)


def _again(value: Any) -> Any:
    """``value`` with every string in it a new object of the same text, whose UTF-8 form is not cached."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")
    if isinstance(value, tuple):
        return tuple(_again(v) for v in value)
    return value


_SALTS = random.Random(20261207)


def id_salt() -> tuple[int, int]:
    """Two new numbers to XOR every trace id and every span id with (:func:`fresh`): the same trees under ids
    no export has seen, as in production, where no span is exported twice. Deterministic, run after run."""
    return _SALTS.getrandbits(128) | 1, _SALTS.getrandbits(64) | 1


def fresh(spans: Sequence[ReadableSpan], salt: tuple[int, int] = (0, 0)) -> list[ReadableSpan]:
    """Copies of ``spans`` whose attribute values (span and event) are strings made again: an exporter in
    production sees each span's strings once, so nothing it cached by a string's identity, nor the UTF-8 form
    CPython keeps with a string once encoded, carries over from one export to the next. With a ``salt``
    (:func:`id_salt`), their trace and span ids are new too (parents and links alike, so every tree stays
    whole), and nothing cached by an id carries over either: give every chunk of one pass the same salt, so
    that a trace split across two chunks stays one trace."""
    trace_salt, span_salt = salt
    copies = []
    for span in spans:
        copy = _copy.copy(span)
        attributes = {k: _again(v) for k, v in (span.attributes or {}).items()}
        copy._attributes = BoundedAttributes(attributes=attributes, immutable=True, max_value_len=None)
        copy._events = tuple(
            Event(e.name, {k: _again(v) for k, v in (e.attributes or {}).items()}, e.timestamp) for e in span.events
        )
        if trace_salt or span_salt:
            copy._context = _salted(span.context, trace_salt, span_salt)
            copy._parent = _salted(span.parent, trace_salt, span_salt) if span.parent is not None else None
            copy._links = tuple(
                Link(_salted(link.context, trace_salt, span_salt), link.attributes) for link in span.links
            )
        copies.append(copy)
    return copies


def _salted(context: Any, trace_salt: int, span_salt: int) -> trace_api.SpanContext:
    return trace_api.SpanContext(
        context.trace_id ^ trace_salt, context.span_id ^ span_salt, context.is_remote, context.trace_flags,
        context.trace_state,
    )  # fmt: skip


WORKLOADS: dict[str, tuple[Callable[[int], Sequence[ReadableSpan]], int]] = {
    # name: (generator, size argument giving a few thousand spans, or ~100 big ones)
    "agent": (agent, 150),
    "oi-agent": (oi_agent, 100),
    "genai-agent": (genai_agent, 100),
    "traceloop-agent": (traceloop_agent, 100),
    "small": (small, 2500),
    "big": (big, 120),
}
