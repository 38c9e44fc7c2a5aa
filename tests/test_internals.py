"""Each fast path into SDK or stdlib internals is active on the versions installed, and each fallback gives
the same answer as the fast path, on real SDK objects."""

from __future__ import annotations

import json
from collections import deque

from opentelemetry import baggage, context, trace
from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled, is_instrumentation_enabled
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanhive import _internals

VALUES = [{"a": [1, 2.5, "ü", None, True]}, "x\u2028y", 10**20, [], {}]


def test_every_fast_path_is_active_here() -> None:
    """A new SDK or Python release that moved one of these fields fails here first."""
    assert dict(_internals.FAST_PATHS) == dict.fromkeys(_internals.FAST_PATHS, True)


def _finished(**attributes: object) -> ReadableSpan:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("s", attributes=attributes) as span:  # type: ignore[arg-type]
        span.add_event("e", {"k": 1})
    (finished,) = memory.get_finished_spans()
    return finished


def test_span_attributes_and_events_are_read_in_place_on_sdk_spans() -> None:
    span = _finished(a="1", b=(1, 2))
    attributes = _internals.span_attributes(span)
    assert attributes is span._attributes._dict  # type: ignore[union-attr]
    assert dict(attributes) == dict(span.attributes or {})
    events = _internals.span_events(span)
    assert isinstance(events, deque)
    assert list(events) == list(span.events)
    assert list(_internals.span_links(span)) == list(span.links) == []


def test_other_span_objects_go_through_the_public_accessors() -> None:
    """A ``ReadableSpan`` built by hand holds plain containers: the fallbacks read them as they are."""
    event = Event("e", {"k": 1}, timestamp=5)
    span = ReadableSpan(name="s", attributes={"a": "1"}, events=(event,), links=())
    assert _internals.span_attributes(span) == {"a": "1"}
    assert list(_internals.span_events(span)) == [event]
    assert list(_internals.span_links(span)) == []


def test_stamping_writes_into_the_attributes_or_falls_back_to_set_attributes() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("fast") as span:
        _internals.stamp_attributes(span, {"honeyhive.session_id": "s-1"})
    limited = TracerProvider(span_limits=SpanLimits(max_span_attribute_length=3))
    limited.add_span_processor(SimpleSpanProcessor(memory))
    with limited.get_tracer("t").start_as_current_span("public") as span:
        _internals.stamp_attributes(span, {"honeyhive.session_id": "s-123456"})
    fast, public = memory.get_finished_spans()
    assert fast.attributes == {"honeyhive.session_id": "s-1"}
    assert public.attributes == {"honeyhive.session_id": "s-1"}  # the SDK's own length limit applied


def test_baggage_is_read_without_a_copy_and_equals_the_public_read() -> None:
    ctx = baggage.set_baggage("spanhive.session_id", "s-1", baggage.set_baggage("other", "x"))
    entries = _internals.baggage_entries(ctx)
    assert dict(entries) == dict(baggage.get_all(ctx)) == {"other": "x", "spanhive.session_id": "s-1"}
    token = context.attach(ctx)
    try:
        assert dict(_internals.baggage_entries(None)) == dict(entries)
    finally:
        context.detach(token)
    assert dict(_internals.baggage_entries(context.Context())) == {}


def test_suppression_sets_the_keys_instrumentations_read() -> None:
    """What the instrumentations themselves ask before tracing a call says no inside, yes after."""
    token = _internals.suppressed()
    try:
        assert not is_instrumentation_enabled()
        assert not is_http_instrumentation_enabled()
    finally:
        context.detach(token)
    assert is_instrumentation_enabled()
    assert is_http_instrumentation_enabled()


def test_the_processors_and_their_exporters_are_found() -> None:
    provider = TracerProvider()
    simple, batch = InMemorySpanExporter(), InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(simple))
    provider.add_span_processor(BatchSpanProcessor(batch))
    processors = _internals.span_processors(provider)
    assert [_internals.processor_exporter(p) for p in processors] == [simple, batch]
    assert _internals.span_processors(trace.NoOpTracerProvider()) == []
    assert _internals.processor_exporter(object()) is None
    provider.shutdown()


def test_the_c_json_encoder_writes_what_the_public_encoder_writes() -> None:
    fast, public = _internals.json_text_encoder(), _internals.json_text_encoder_public()
    for value in VALUES:
        assert fast(value) == public(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for encode in (fast, public):
        assert encode({"o": object}).startswith('{"o":"<class')
