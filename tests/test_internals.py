"""Each fast path into SDK or stdlib internals is active on the versions installed, and each fallback gives
the same answer as the fast path, on real SDK objects."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

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
    assert _internals.span_links(span) is span._links._dq  # type: ignore[attr-defined]  # empty: still no copy
    bare = ReadableSpan(name="s", events=(), links=())
    assert _internals.span_events(bare) is bare._events  # an empty tuple is taken as it is, too


def test_other_span_objects_go_through_the_public_accessors() -> None:
    """A ``ReadableSpan`` built by hand holds plain containers: the fallbacks read them as they are."""
    event = Event("e", {"k": 1}, timestamp=5)
    span = ReadableSpan(name="s", attributes={"a": "1"}, events=(event,), links=())
    assert _internals.span_attributes(span) == {"a": "1"}
    assert list(_internals.span_events(span)) == [event]
    assert list(_internals.span_links(span)) == []


def _public_fields(span: ReadableSpan) -> tuple[Any, ...]:
    """:func:`span_fields` as the public properties give it (its attributes a dict, its events and links
    lists)."""
    context, parent, status = span.context, span.parent, span.status
    return (
        span.name, context.trace_id if context else 0, context.span_id if context else 0,
        parent.span_id if parent else None, bool(parent and parent.is_remote), span.kind, span.start_time or 0,
        span.end_time or span.start_time or 0, status.status_code, status.description, span.resource,
        span.instrumentation_scope.name if span.instrumentation_scope else None, span.dropped_attributes,
        dict(span.attributes or {}), list(span.events), list(span.links),
    )  # fmt: skip


def _read(span: ReadableSpan) -> tuple[Any, ...]:
    """:func:`span_fields`, its attributes as a dict, its events and links as lists, to compare."""
    fields = _internals.span_fields(span)
    return (*fields[:13], dict(fields[13]), list(fields[14]), list(fields[15]))


class _OwnSpan(ReadableSpan):
    """Not the SDK's exact class: read through the public properties."""


def test_span_fields_read_in_place_equal_the_public_properties() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=2))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("scope-name")
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("child", kind=trace.SpanKind.CLIENT, attributes={"a": 1, "b": 2}) as span:
            span.set_attribute("c", 3)  # one past the limit: dropped
            span.set_status(trace.Status(trace.StatusCode.ERROR, "it broke"))
    child, root = memory.get_finished_spans()
    fields = _internals.span_fields(child)
    assert _read(child) == _public_fields(child)
    assert fields[0] == "child"
    assert fields[3] == root.context.span_id  # type: ignore[union-attr]
    assert fields[8:10] == (trace.StatusCode.ERROR, "it broke")
    assert fields[11:13] == ("scope-name", 1)
    assert fields[13] is _internals.span_attributes(child)  # read in place, not copied
    assert dict(fields[13]) == {"b": 2, "c": 3}  # the oldest went to the limit
    assert _read(root) == _public_fields(root)
    assert _internals.span_fields(root)[3] is None
    assert _internals.span_trace(child) == (child.context.trace_id, False)  # type: ignore[union-attr]
    assert _internals.span_trace(root) == (root.context.trace_id, True)  # type: ignore[union-attr]
    remote = trace.SpanContext(7, 8, is_remote=True)
    own = _OwnSpan(name="own", context=trace.SpanContext(7, 9, False), parent=remote, kind=trace.SpanKind.SERVER)
    assert _read(own) == _public_fields(own)
    assert _internals.span_fields(own)[1:5] == (7, 9, 8, True)
    assert _internals.span_trace(own) == (7, True)
    bare = ReadableSpan(name="bare")  # no context, no times: what a hand-built span may be
    assert _read(bare) == _public_fields(bare) == ("bare", 0, 0, None, False, trace.SpanKind.INTERNAL, 0, 0,
                                                   trace.StatusCode.UNSET, None, bare.resource, None, 0, {}, [],
                                                   [])  # fmt: skip


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
