"""The first mapping: HoneyHive buckets, ids, times, errors, sessions, and nothing lost to metadata."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from spanhive import _ids
from spanhive._pipeline.assemble import whole_sessions
from spanhive._pipeline.encode import to_json
from spanhive.mapping import Defaults, _attrs, map_span, map_span_safely
from spanhive.mapping._values import unflatten

Recorded = tuple[TracerProvider, InMemorySpanExporter]
DEFAULTS = Defaults()


def one_span(recorded: Recorded, name: str = "step", **attributes: Any) -> ReadableSpan:
    provider, memory = recorded
    memory.clear()
    with provider.get_tracer("t").start_as_current_span(name, attributes=attributes):
        pass
    (span,) = memory.get_finished_spans()
    return span


def test_honeyhive_buckets_are_rebuilt_into_nested_records(recorded: Recorded) -> None:
    """``honeyhive_<bucket>.a.0.b`` leaves become nested dicts and lists; JSON-string leaves are parsed."""
    span = one_span(
        recorded,
        **{
            "honeyhive_inputs.chat_history.0.role": "user",
            "honeyhive_inputs.chat_history.0.content": "Hi",
            "honeyhive_inputs.chat_history.1.role": "assistant",
            "honeyhive_inputs.chat_history.1.content": "Hello",
            "honeyhive_inputs.options": '{"k": [1, 2]}',
            "honeyhive_outputs.content": "Done",
            "honeyhive_config.model": "gpt-4o",
            "honeyhive_config.temperature": 0.2,
            "honeyhive_metadata.prompt_tokens": 12,
            "honeyhive_metrics.accuracy": 0.9,
            "honeyhive_feedback.rating": 5,
            "honeyhive_user_properties.plan": "pro",
        },
    )
    event, _ = map_span(span, DEFAULTS)
    assert event["inputs"] == {
        "chat_history": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        "options": {"k": [1, 2]},
    }
    assert event["outputs"] == {"content": "Done"}
    assert event["config"] == {"model": "gpt-4o", "temperature": 0.2}
    assert event["metadata"]["prompt_tokens"] == 12
    assert (event["metrics"], event["feedback"]) == ({"accuracy": 0.9}, {"rating": 5})
    assert event["user_properties"] == {"plan": "pro"}
    assert not any(key.startswith("honeyhive_") for key in event["metadata"])


def test_unconsumed_attributes_land_in_metadata_under_their_own_keys(recorded: Recorded) -> None:
    """Nothing is lost: attributes no rule reads are kept flat, sequences as lists."""
    span = one_span(recorded, **{"http.route": "/ask", "retry.count": 2, "tags": ("a", "b"), "flag": True})
    metadata = map_span(span, DEFAULTS)[0]["metadata"]
    assert {k: metadata[k] for k in ("http.route", "retry.count", "tags", "flag")} == {
        "http.route": "/ask",
        "retry.count": 2,
        "tags": ["a", "b"],
        "flag": True,
    }
    assert metadata["trace_id"] == format(span.context.trace_id, "032x")
    assert metadata["span_id"] == format(span.context.span_id, "016x")
    assert metadata["service.name"] == "test-app"


def test_a_leaf_and_a_subtree_at_the_same_path_keep_both(recorded: Recorded) -> None:
    """``honeyhive_inputs.q = 1`` next to ``honeyhive_inputs.q.x = 2``: one is nested, the other kept raw."""
    span = one_span(recorded, **{"honeyhive_inputs.q": "whole", "honeyhive_inputs.q.x": "part"})
    event, _ = map_span(span, DEFAULTS)
    assert event["inputs"] == {"q": "whole"}
    assert event["metadata"]["honeyhive_inputs.q.x"] == "part"


def test_times_are_epoch_milliseconds_and_duration_is_exact(recorded: Recorded) -> None:
    provider, memory = recorded
    with provider.get_tracer("t").start_as_current_span("timed", start_time=1_700_000_000_123_456_789) as span:
        span.end(end_time=1_700_000_001_123_956_789)
    event, _ = map_span(memory.get_finished_spans()[-1], DEFAULTS)
    assert (event["start_time"], event["end_time"]) == (1_700_000_000_123, 1_700_000_001_123)
    assert event["duration"] == pytest.approx(1000.5)


def test_parent_and_child_ids_link_up(recorded: Recorded) -> None:
    """A child's parent_id is its parent's event_id; the top span's parent_id is the session id."""
    provider, memory = recorded
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("a"):
            pass
        with tracer.start_as_current_span("b"):
            pass
    groups = whole_sessions([map_span(s, DEFAULTS) for s in memory.get_finished_spans()], DEFAULTS)
    (group,) = groups
    by_name = {e["event_name"]: e for e in group.events}
    root, a, b = by_name["root"], by_name["a"], by_name["b"]
    assert root["parent_id"] == root["session_id"] == group.properties["session_id"]
    assert a["parent_id"] == b["parent_id"] == root["event_id"]
    assert root["children_ids"] == [a["event_id"], b["event_id"]]
    assert (root["event_type"], a["event_type"]) == ("chain", "tool")
    assert group.properties["session_name"] == "root"


def test_children_are_listed_by_start_whatever_order_they_arrive_in(recorded: Recorded) -> None:
    """``children_ids`` in order of start (then of event id, for children that start together), however the
    batch orders the spans."""
    provider, memory = recorded
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root") as root_span:
        starts = [1_000, 3_000, 2_000, 2_000, 500]
        for index, start in enumerate(starts):
            tracer.start_span(f"c{index}", start_time=start).end(end_time=5_000)
    assert root_span.get_span_context().is_valid
    spans = memory.get_finished_spans()
    for batch in (spans, spans[::-1]):
        (group,) = whole_sessions([map_span(s, DEFAULTS) for s in batch], DEFAULTS)
        by_name = {e["event_name"]: e for e in group.events}
        ties = sorted(by_name[name]["event_id"] for name in ("c2", "c3"))
        expected = [by_name["c4"]["event_id"], by_name["c0"]["event_id"], *ties, by_name["c1"]["event_id"]]
        assert by_name["root"]["children_ids"] == expected


def test_mapping_is_deterministic(recorded: Recorded) -> None:
    """The same span maps to the same record every time (what makes retries idempotent)."""
    span = one_span(recorded, **{"session.id": "conv-7", "honeyhive_inputs.q": "x"})
    first, second = map_span(span, DEFAULTS), map_span(span, DEFAULTS)
    assert to_json(first[0]) == to_json(second[0])
    assert first[0]["event_id"] == _ids.event_id(span.context.trace_id, span.context.span_id)


@pytest.mark.parametrize(
    "key", ["session.id", "honeyhive.session_id", "honeyhive_session_id", "gen_ai.conversation.id"]
)
def test_session_attributes_name_the_session(recorded: Recorded, key: str) -> None:
    """An explicit session attribute wins over the trace; a non-UUID value is converted and kept."""
    span = one_span(recorded, **{key: "chat-123"})
    event, _ = map_span(span, DEFAULTS)
    assert event["session_id"] == _ids.session_id_for("chat-123")[0]
    assert event["parent_id"] == event["session_id"]
    assert event["metadata"]["external_session_id"] == "chat-123"
    assert key not in event["metadata"]


def test_session_precedence_prefers_honeyhive(recorded: Recorded) -> None:
    sid = str(uuid.uuid4())
    span = one_span(recorded, **{"session.id": "other", "honeyhive.session_id": sid})
    event, _ = map_span(span, DEFAULTS)
    assert event["session_id"] == sid
    assert "external_session_id" not in event["metadata"]
    assert event["metadata"]["session.id"] == "other"  # not consumed, so kept


def test_without_a_session_attribute_the_trace_is_the_session(recorded: Recorded) -> None:
    span = one_span(recorded)
    assert map_span(span, DEFAULTS)[0]["session_id"] == _ids.trace_session_id(span.context.trace_id)


def test_user_id_goes_to_user_properties(recorded: Recorded) -> None:
    event, _ = map_span(one_span(recorded, **{"user.id": "u-1"}), DEFAULTS)
    assert event["user_properties"] == {"user_id": "u-1"}
    assert "user.id" not in event["metadata"]


def test_explicit_event_fields(recorded: Recorded) -> None:
    """HoneyHive's explicit type, name and id are final; an invalid type is kept in metadata."""
    explicit_id = str(uuid.uuid4())
    span = one_span(
        recorded,
        honeyhive_event_type="model",
        honeyhive_event_name="llm call",
        honeyhive_event_id=explicit_id,
    )
    event, hint = map_span(span, DEFAULTS)
    assert (event["event_type"], event["event_name"], event["event_id"]) == ("model", "llm call", explicit_id)
    assert hint.typed
    odd, hint = map_span(one_span(recorded, honeyhive_event_type="banana"), DEFAULTS)
    assert odd["metadata"]["honeyhive_event_type"] == "banana"  # not a type: kept as sent
    assert not hint.typed


def test_project_and_source_defaults(recorded: Recorded) -> None:
    """Configured › span attribute › resource › built-in default."""
    span = one_span(recorded, **{"honeyhive.project": "span-proj", "honeyhive.source": "span-src"})
    assert map_span(span, DEFAULTS)[0]["project"] == "span-proj"
    assert map_span(span, Defaults(project="cfg-proj"))[0]["project"] == "cfg-proj"
    assert map_span(span, Defaults(source="cfg-src"))[0]["source"] == "span-src"
    plain = one_span(recorded)
    assert map_span(plain, DEFAULTS)[0]["project"] == "test-app"  # service.name
    assert map_span(plain, DEFAULTS)[0]["source"] == "dev"
    assert map_span(plain, Defaults(source="prod"))[0]["source"] == "prod"


class Boom(Exception):
    pass


def test_errors_from_status_and_exceptions(recorded: Recorded) -> None:
    """The last exception event as ``Type: message`` › status description, never a traceback; the stack trace
    goes to metadata."""
    provider, memory = recorded
    tracer = provider.get_tracer("t")
    with pytest.raises(Boom), tracer.start_as_current_span("raises"):
        raise Boom("bad input")
    with tracer.start_as_current_span("described") as span:
        span.set_status(Status(StatusCode.ERROR, "upstream said no"))
    with tracer.start_as_current_span("explicit", attributes={"honeyhive_error": "explicit"}) as span:
        span.set_status(Status(StatusCode.ERROR, "ignored"))
    with tracer.start_as_current_span("handled") as span:
        span.record_exception(ValueError("retried"))
        span.set_status(Status(StatusCode.OK))
    with tracer.start_as_current_span("fine"):
        pass
    with tracer.start_as_current_span("only the message") as span:  # as the OpenAI and Anthropic SDKs' errors go
        span.record_exception(LookupError("Error code: 404 - {'type': 'not_found'}"))
        span.set_status(Status(StatusCode.ERROR, "Error code: 404 - {'type': 'not_found'}"))
    with tracer.start_as_current_span("traceback in the description") as span:  # OpenInference's LangChain
        span.set_status(
            Status(StatusCode.ERROR, "ValueError('boom')Traceback (most recent call last):\n  File \"/home/me/app.py\"")
        )
    events = {s.name: map_span(s, DEFAULTS)[0] for s in memory.get_finished_spans()}
    assert events["raises"]["error"] == "Boom: bad input"  # the SDK sets this status description
    assert "Traceback" in events["raises"]["metadata"]["exception.stacktrace"]
    assert events["described"]["error"] == "upstream said no"
    assert events["explicit"]["error"] == "explicit"
    assert events["handled"]["error"] is None
    assert events["handled"]["metadata"]["exception.message"] == "retried"
    assert events["fine"]["error"] is None
    assert events["only the message"]["error"] == "LookupError: Error code: 404 - {'type': 'not_found'}"
    described = events["traceback in the description"]
    assert described["error"] == "ValueError('boom')"
    assert described["metadata"]["exception.stacktrace"].startswith("Traceback (most recent call last):\n  File")


def test_span_events_links_and_kind_are_kept(recorded: Recorded) -> None:
    provider, memory = recorded
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("first") as first:
        pass
    with tracer.start_as_current_span("srv", kind=SpanKind.SERVER, links=[Link(first.get_span_context())]) as span:
        span.add_event("cache.miss", {"key": "k1"})
    event, _ = map_span(memory.get_finished_spans()[-1], DEFAULTS)
    assert event["metadata"]["otel.span_kind"] == "server"
    assert event["metadata"]["events"][0]["name"] == "cache.miss"
    assert event["metadata"]["events"][0]["attributes"] == {"key": "k1"}
    assert event["metadata"]["links"] == [
        {"trace_id": format(first.get_span_context().trace_id, "032x"),
         "span_id": format(first.get_span_context().span_id, "016x")}
    ]  # fmt: skip


def test_sessions_group_across_traces_with_root_inputs_and_outputs(recorded: Recorded) -> None:
    """Two traces in one named session: first root's inputs, last root's outputs, merged user properties."""
    provider, memory = recorded
    tracer = provider.get_tracer("t")
    for turn, (question, answer) in enumerate([("q1", "a1"), ("q2", "a2")]):
        attrs = {
            "session.id": "conv",
            "honeyhive_inputs.question": question,
            "honeyhive_outputs.answer": answer,
            "honeyhive.session_name": "support chat",
            f"honeyhive_user_properties.k{turn}": turn,
        }
        with tracer.start_as_current_span(f"turn{turn}", attributes=attrs, start_time=1_000_000_000 * (turn + 1)):
            pass
    (group,) = whole_sessions([map_span(s, DEFAULTS) for s in memory.get_finished_spans()], DEFAULTS)
    props = group.properties
    assert props["session_name"] == "support chat"
    assert props["inputs"] == {"question": "q1"}
    assert props["outputs"] == {"answer": "a2"}
    assert props["user_properties"] == {"k0": 0, "k1": 1}
    assert props["metadata"] == {"external_session_id": "conv"}
    assert set(props) == {
        "session_name", "source", "session_id", "config", "inputs", "outputs", "error",
        "user_properties", "metrics", "feedback", "metadata",
    }  # fmt: skip


def test_configured_session_name_is_the_default_name(recorded: Recorded) -> None:
    provider, memory = recorded
    with provider.get_tracer("t").start_as_current_span("root"):
        pass
    (group,) = whole_sessions(
        [map_span(s, DEFAULTS) for s in memory.get_finished_spans()], Defaults(session_name="nightly")
    )
    assert group.properties["session_name"] == "nightly"


def test_bad_values_never_break_encoding(recorded: Recorded) -> None:
    """NaN, infinities, lone surrogates and garbage JSON still give strict JSON."""
    span = one_span(
        recorded,
        **{
            "score": float("nan"),
            "honeyhive_metrics.x": float("inf"),
            "text": "bad \ud800 surrogate",
            "j": "{nope",
        },
    )
    event, _ = map_span(span, DEFAULTS)
    decoded = json.loads(to_json(event))
    assert decoded["metadata"]["score"] == "nan"
    assert decoded["metrics"]["x"] == "inf"
    assert decoded["metadata"]["j"] == "{nope"
    assert decoded["metadata"]["text"].startswith("bad ")


def test_a_span_that_defeats_the_mapper_still_yields_an_event(recorded: Recorded) -> None:
    """Even a broken span object maps to a minimal event that keeps its attributes."""
    span = one_span(recorded, k="v")
    broken = ReadableSpan(name="broken", context=span.context, attributes={"k": "v"}, start_time=None)
    broken._status = None  # type: ignore[assignment]  # what a corrupt span can look like
    event, _ = map_span_safely(broken, DEFAULTS)
    assert event["event_name"] == "broken"
    assert "mapping_error" in event["metadata"]
    assert event["metadata"]["attributes"] == {"k": "'v'"}


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param([("a.0", 1), ("a.1", 2)], {"a": [1, 2]}, id="list"),
        pytest.param([("a.0.b", 1), ("a.1.b", 2)], {"a": [{"b": 1}, {"b": 2}]}, id="list-of-dicts"),
        pytest.param([("a.01", 1)], {"a": {"01": 1}}, id="leading-zero-is-a-key"),
        pytest.param([("a.10", 1), ("a.2", 2)], {"a": [2, 1]}, id="numeric-order"),
        pytest.param([("a", '{"0": 1}')], {"a": {"0": 1}}, id="parsed-json-is-not-listified"),
    ],
)
def test_unflatten(items: list[tuple[str, Any]], expected: dict[str, Any]) -> None:
    assert unflatten(items) == (expected, [])


def test_spans_that_share_a_key_layout_map_by_their_own_values(recorded: Recorded) -> None:
    """What mapping learns from one span's keys is reused for the next span with the same keys; the values
    still decide: a blank session id falls through to the next key, and each span keeps its own messages."""
    keys = ("session.id", "langfuse.session.id", "llm.input_messages.0.message.role")
    content = "llm.input_messages.0.message.content"
    blank = one_span(recorded, **dict(zip(keys, ("  ", "from-langfuse", "user"), strict=True)), **{content: "hi"})
    values = ("from-session-id", "ignored", "system")
    named = one_span(recorded, **dict(zip(keys, values, strict=True)), **{content: "bye"})
    first = map_span(blank, DEFAULTS)
    second = map_span(named, DEFAULTS)
    assert first is not None
    assert second is not None
    assert first[0]["session_id"] == _ids.session_id_for("from-langfuse")[0]
    assert second[0]["session_id"] == _ids.session_id_for("from-session-id")[0]
    assert first[0]["inputs"] == {"chat_history": [{"role": "user", "content": "hi"}]}
    assert second[0]["inputs"] == {"chat_history": [{"role": "system", "content": "bye"}]}
    assert second[0]["metadata"]["langfuse.session.id"] == "ignored"
    again = map_span(blank, DEFAULTS)
    assert again is not None
    assert to_json(again[0]) == to_json(first[0])


def test_more_key_layouts_than_are_remembered_still_map_each_span(recorded: Recorded) -> None:
    spans = [one_span(recorded, **{f"tool.extra_{i}": i, "tool.name": f"t{i}"}) for i in range(40)]
    small = _attrs._LAYOUT_CACHE_SIZE
    _attrs._LAYOUT_CACHE_SIZE = 8
    try:
        for _ in range(2):
            for i, span in enumerate(spans):
                mapped = map_span(span, DEFAULTS)
                assert mapped is not None
                assert mapped[0]["config"]["tool_name"] == f"t{i}"
                assert mapped[0]["metadata"][f"tool.extra_{i}"] == i
        assert len(_attrs._LAYOUTS) <= 8
    finally:
        _attrs._LAYOUT_CACHE_SIZE = small


def test_every_namespace_a_rule_reads_sends_a_span_through_the_rules() -> None:
    """Spans with none of ``CONVENTION_HEADS`` skip every rule, and a convention runs only for spans with one of
    its ``HEADS``: a namespace missing from either would silently go unmapped."""
    from spanhive.mapping import _span, _types  # noqa: PLC0415 - internals, for this check only

    for module in _span._MODULES:
        assert module.HEADS <= _span.CONVENTION_HEADS, module.__name__
    asked = [*_span._PROBE_KEYS, _types.TOOL_EVIDENCE, _types.MODEL_KEYS, [key for key, _ in _types.KIND_TABLES]]
    for keys in asked:
        for key in keys:
            assert key.partition(".")[0] in _span.CONVENTION_HEADS, key


def test_a_span_with_events_runs_every_convention(recorded: Recorded) -> None:
    """Span events are read by a convention whatever the attributes: a message event still becomes inputs."""
    provider, memory = recorded
    memory.clear()
    with provider.get_tracer("t").start_as_current_span("chat", attributes={"service.tier": "x"}) as span:
        span.add_event("gen_ai.user.message", {"content": "hello"})
    (finished,) = memory.get_finished_spans()
    mapped = map_span(finished, DEFAULTS)
    assert mapped is not None
    assert mapped[0]["inputs"] == {"chat_history": [{"role": "user", "content": "hello"}]}
