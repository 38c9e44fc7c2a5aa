"""Deterministic ids: version-4-shaped UUIDs derived from OTel ids, stable across calls and processes."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

from spanhive import _ids
from spanhive._pipeline.assemble import whole_sessions
from spanhive.mapping import Defaults, map_span


@pytest.fixture(autouse=True)
def _cold_caches() -> None:
    """Every id here is derived afresh, not recalled from a cache an earlier test (or process) warmed: a
    change to the derivation must show in these tests whatever ran before them."""
    _ids.forget()


def test_event_ids_are_uuid4_shaped_and_stable() -> None:
    value = _ids.event_id(0x0AF7651916CD43DD8448EB211C80319C, 0x00F067AA0BA902B7)
    parsed = uuid.UUID(value)
    assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    assert value == _ids.event_id(0x0AF7651916CD43DD8448EB211C80319C, 0x00F067AA0BA902B7)
    assert value != _ids.event_id(0x0AF7651916CD43DD8448EB211C80319C, 0x00F067AA0BA902B8)


def test_ids_are_the_same_in_another_process() -> None:
    """No per-process salt: any process maps any span to the same ids (Python's str hash is salted)."""
    code = "from spanhive import _ids; print(_ids.event_id(5, 7), _ids.session_id_for('conv-1')[0])"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert out == [_ids.event_id(5, 7), _ids.session_id_for("conv-1")[0]]


def test_ids_are_the_same_after_their_cache_fills() -> None:
    """The caches are emptied when full: an id derived again after that is the one derived before."""
    first, session = _ids.event_id(5, 1), _ids.trace_session_id(5)
    for span_id in range(2, _ids.EVENT_IDS_KEPT + 3):
        _ids.event_id(5, span_id)
    for trace_id in range(6, _ids.TRACE_SESSIONS_KEPT + 8):
        _ids.trace_session_id(trace_id)
    assert len(_ids._event_ids) < _ids.EVENT_IDS_KEPT
    assert len(_ids._trace_sessions) < _ids.TRACE_SESSIONS_KEPT
    assert (_ids.event_id(5, 1), _ids.trace_session_id(5)) == (first, session)


def test_a_parent_id_asked_by_a_child_is_remembered_for_the_parent_and_a_lone_own_id_is_not() -> None:
    """Children end, and are mapped, before their parent: the id a child derives for its parent is the one
    the parent then finds. A span's own id that no child asked for is derived and let go, and is the same id
    when a late child asks for it."""
    parent = _ids.event_id(9, 1)
    assert _ids.event_id(9, 1, own=True) is parent
    lone = _ids.event_id(9, 2, own=True)
    assert 2 not in _ids._event_ids
    assert _ids.event_id(9, 2) == lone
    assert uuid.UUID(lone).version == 4


def test_a_span_id_past_64_bits_is_never_answered_from_the_cache() -> None:
    """A span id that does not fit 64 bits, or a trace id past 128, is no OTel id: refused, never answered
    from the cache."""
    _ids.event_id(1, 0)
    with pytest.raises(OverflowError):
        _ids.event_id(0, 1 << 64)
    with pytest.raises(OverflowError):
        _ids.event_id(1 << 128, 0)


def test_one_span_id_in_two_traces_is_two_events() -> None:
    """The cache is keyed by span id: the same span id in another trace (hand-built spans number theirs 1, 2,
    3…) is another event, whichever was remembered first."""
    first = _ids.event_id(1, 7)
    second = _ids.event_id(2, 7)
    assert first != second
    assert (_ids.event_id(1, 7, own=True), _ids.event_id(2, 7, own=True)) == (first, second)
    _ids.forget()
    assert (_ids.event_id(2, 7), _ids.event_id(1, 7)) == (second, first)


def test_trace_session_differs_from_every_event_of_the_trace() -> None:
    """Domain separation: a trace's session id never collides with an event id of the same numbers."""
    assert _ids.trace_session_id(5) != _ids.event_id(5, 0)


@pytest.mark.parametrize(
    ("value", "converted"),
    [
        pytest.param("7A1F3C2E-9B4D-4E5F-8A6B-1C2D3E4F5A6B", False, id="uuid-upper"),
        pytest.param("7a1f3c2e9b4d4e5f8a6b1c2d3e4f5a6b", False, id="uuid-hex"),
        pytest.param("conversation-42", True, id="external-id"),
        pytest.param("", True, id="empty"),
    ],
)
def test_session_ids_from_attributes(value: str, converted: bool) -> None:
    """A UUID is kept (canonicalised); anything else becomes a deterministic UUID flagged as converted."""
    session_id, was_converted = _ids.session_id_for(value)
    assert was_converted is converted
    assert uuid.UUID(session_id).version == 4 or not converted
    if not converted:
        assert session_id == str(uuid.UUID(value))
    assert _ids.session_id_for(value) == (session_id, was_converted)


# --- known answers: spool replay and upserts across versions depend on these exact strings ----------------

TRACE = 0x0AF7651916CD43DD8448EB211C80319C
ROOT = 0x00F067AA0BA902B7
CHILD = 0x00000000000000AB


@pytest.mark.parametrize(
    ("computed", "expected"),
    [
        pytest.param(lambda: _ids.event_id(TRACE, ROOT), "9daaa061-a38a-47e5-88d3-85f62a01538c", id="event"),
        pytest.param(lambda: _ids.event_id(TRACE, CHILD), "d36432f9-5e8c-417e-8e51-b741b969ecae", id="child-event"),
        pytest.param(lambda: _ids.event_id(0, 0), "92fae27f-830e-4c91-a593-f136fcba1761", id="zero-event"),
        pytest.param(lambda: _ids.trace_session_id(TRACE), "ec486ab6-90fe-4b0d-9b28-663edde6dca1", id="trace-session"),
        pytest.param(lambda: _ids.trace_session_id(0), "35471cd5-90b7-4b21-8978-510ba8964244", id="zero-session"),
        pytest.param(
            lambda: _ids.session_id_for("conversation-42"),
            ("497bf535-8bd0-4c9c-acec-b02d9a3b67d3", True),
            id="external-session",
        ),
        pytest.param(
            lambda: _ids.session_id_for("ü-☃"), ("aa981a7d-3194-4555-839f-59a24871ee98", True), id="non-ascii-session"
        ),
        pytest.param(
            lambda: _ids.session_id_for("7A1F3C2E-9B4D-4E5F-8A6B-1C2D3E4F5A6B"),
            ("7a1f3c2e-9b4d-4e5f-8a6b-1c2d3e4f5a6b", False),
            id="uuid-session",
        ),
    ],
)
def test_ids_have_their_known_values(computed: Any, expected: Any) -> None:
    """The exact ids of fixed inputs: any change to the derivation (hash, key, version bits) changes them."""
    assert computed() == expected


class _FixedIds(IdGenerator):
    """Hands out the trace id and span ids above, in order: the root's, then the child's."""

    def __init__(self) -> None:
        self.spans = iter([ROOT, CHILD])

    def generate_span_id(self) -> int:
        return next(self.spans)

    def generate_trace_id(self) -> int:
        return TRACE


@pytest.mark.parametrize(
    ("attributes", "session_id", "external"),
    [
        pytest.param({}, "ec486ab6-90fe-4b0d-9b28-663edde6dca1", None, id="trace-session"),
        pytest.param(
            {"session.id": "conversation-42"}, "497bf535-8bd0-4c9c-acec-b02d9a3b67d3", "conversation-42", id="external"
        ),
    ],
)
def test_a_real_trace_maps_to_its_known_ids(attributes: dict[str, str], session_id: str, external: Any) -> None:
    """Spans from a real provider with fixed OpenTelemetry ids: exact event, session and parent ids on the
    records, and on the session record, as the exporter sends them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(id_generator=_FixedIds())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("ids")
    with tracer.start_as_current_span("root", attributes=attributes):
        with tracer.start_as_current_span("child", attributes=attributes):
            pass
    (group,) = whole_sessions([map_span(span, Defaults()) for span in memory.get_finished_spans()], Defaults())
    events = {event["event_name"]: event for event in group.events}
    assert events["root"]["event_id"] == "9daaa061-a38a-47e5-88d3-85f62a01538c"
    assert events["child"]["event_id"] == "d36432f9-5e8c-417e-8e51-b741b969ecae"
    assert events["child"]["parent_id"] == "9daaa061-a38a-47e5-88d3-85f62a01538c"
    assert events["root"]["parent_id"] == session_id
    assert {event["session_id"] for event in group.events} == {group.properties["session_id"]} == {session_id}
    assert events["root"]["children_ids"] == ["d36432f9-5e8c-417e-8e51-b741b969ecae"]
    assert group.properties["metadata"].get("external_session_id") == external
    assert events["root"]["metadata"]["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert events["child"]["metadata"]["span_id"] == "00000000000000ab"
