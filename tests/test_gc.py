"""The export path keeps the garbage collector out of the host application's way.

What lives for a whole batch (what grouping keeps of each event, each session's share, each released trace,
the encoded parts and bodies, a span's mapping facts) is, compiled, not tracked by the garbage collector:
tracked, each survives two young collections and counts towards the next full one, which walks the whole
heap of the application. That is only safe for objects that never sit on a reference cycle, which the
second test checks: a cycle through an untracked object would never be freed."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from spanhive import _build, _ids
from spanhive._pipeline import Hold, prepare, prepare_traces
from spanhive._pipeline.assemble import Assembly
from spanhive.mapping import Defaults, map_span


def _batch(traces: int) -> Sequence[ReadableSpan]:
    """Traces of every shape the stages treat apart: a flat web request with a database call, and an agent
    run naming its session and user, with an LLM call (OpenInference) that fails."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "-".join(("gc", "app"))}))  # made, not a constant
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("gc")
    for number in range(traces):
        with tracer.start_as_current_span("GET /items", kind=SpanKind.SERVER, attributes={"http.route": "/items"}):
            with tracer.start_as_current_span("SELECT", attributes={"db.system": "postgresql"}):
                pass
        with tracer.start_as_current_span(
            "agent",
            attributes={
                "session.id": f"chat-{number % 3}",
                "spanhive.session.name": "chat",
                "user.id": "u-1",
                "input.value": "hello",
            },
        ):
            with tracer.start_as_current_span(
                "llm",
                attributes={
                    "openinference.span.kind": "LLM",
                    "llm.input_messages.0.message.role": "user",
                    "llm.input_messages.0.message.content": "hello",
                    "llm.invocation_parameters": json.dumps({"temperature": 0.2}),
                },
            ) as llm:
                llm.set_status(Status(StatusCode.ERROR, "rate limited"))
    provider.shutdown()
    return memory.get_finished_spans()


@pytest.fixture
def no_collections() -> Iterator[None]:
    """Only reference counts free anything here: what a cycle would keep stays kept."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_what_a_batch_keeps_is_not_tracked_when_compiled() -> None:
    spans = _batch(2)
    defaults = Defaults()
    hold = Hold()
    released = hold.add(spans)
    mapped = [map_span(span, defaults) for span in spans]
    assembly = Assembly(defaults)
    entries = [assembly.add(*pair) for pair in mapped if pair is not None]
    sessions = assembly.finish()
    (body,) = prepare_traces(released, defaults, 1 << 30).bodies
    waiting = Hold()
    assert waiting.add(spans[:1]) == []  # a child alone: held for its root
    kept = {
        "_Held": next(iter(waiting._held.values())),
        "Released": released[0],
        "SpanFacts": mapped[0][1],
        "Entry": entries[0],
        "Session": sessions[0],
        "_Root": (sessions[0].roots or [])[0],
        "Part": body.parts[0],
        "Body": body,
    }
    for name, obj in kept.items():
        assert type(obj).__name__ == name
        assert gc.is_tracked(obj) is not _build.COMPILED, f"{name} is tracked: {gc.is_tracked(obj)}"


def test_a_batch_leaves_no_reference_cycle_behind(no_collections: None) -> None:
    """The same batch prepared again and again, held and released, with no garbage collection: a cycle it made
    would be found by the collector (tracked objects), or would keep references to what every batch shares
    (untracked ones): the spans themselves, the project's name, the session's name, the event ids."""
    spans = _batch(40)
    defaults = Defaults()
    hold = Hold()
    span = spans[-1]
    project = span.resource.attributes["service.name"]
    session_name = next(
        s.attributes["spanhive.session.name"] for s in spans if "spanhive.session.name" in (s.attributes or {})
    )
    event_id = _ids.event_id(span.context.trace_id, span.context.span_id)
    shared = (span, project, session_name, event_id)

    def once() -> None:
        for body in prepare(spans, defaults, 1 << 20, hold=hold).bodies:
            body.wire("gzip")

    for _ in range(3):  # what is remembered across batches (their names, their ids) is remembered by now
        once()
    before = [sys.getrefcount(obj) for obj in shared]
    for _ in range(20):
        once()
    assert [sys.getrefcount(obj) for obj in shared] == before
    assert gc.collect() == 0
