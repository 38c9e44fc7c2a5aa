"""A trace belongs to one session: session and user set on any span of a trace apply to all of it.

Real SDK providers and a real exporter posting to a loopback capture server; the hold's bounds are driven
by an injected clock, never by waiting on the wall clock. The same with a real instrumentation library:
``test_traces_openai.py``.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanhive
from spanhive import _ids
from spanhive._pipeline import Hold, prepare, prepare_traces
from spanhive._pipeline.hold import REMEMBERED
from spanhive.mapping import Defaults
from tests.capture import CaptureServer


def _span_events(capture: CaptureServer) -> list[dict[str, Any]]:
    return [e for e in capture.events() if e["event_type"] != "session"]


def test_the_nearest_ancestor_wins_over_the_rest_of_the_trace(recorded: Any) -> None:
    provider, memory = recorded
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("root", attributes={"session.id": "outer"}):
        with tracer.start_as_current_span("inner", attributes={"session.id": "inner"}):
            with tracer.start_as_current_span("leaf"):
                pass
        with tracer.start_as_current_span("sibling"):
            pass
    events = _prepared_events(memory.get_finished_spans())
    outer, inner = (_ids.session_id_for(s)[0] for s in ("outer", "inner"))
    assert {e["event_name"]: e["session_id"] for e in events} == {
        "root": outer, "inner": inner, "leaf": inner, "sibling": outer,
    }  # fmt: skip


def _prepared_events(spans: Any, hold: Optional[Hold] = None) -> list[dict[str, Any]]:
    prepared = prepare(spans, Defaults(), 1 << 30, hold=hold)
    return [e for b in prepared.bodies for e in json.loads(b.payload)["events"] if e["event_type"] != "session"]


def test_the_same_complete_trace_gives_byte_identical_bodies(recorded: Any) -> None:
    provider, memory = recorded
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("root"), tracer.start_as_current_span("child", attributes={"user.id": "u"}):
        with tracer.start_as_current_span("grandchild", attributes={"session.id": "s"}):
            pass
    spans = memory.get_finished_spans()
    first = [b.payload for b in prepare(spans, Defaults(), 1 << 30).bodies]
    again = [b.payload for b in prepare(list(reversed(spans)), Defaults(), 1 << 30).bodies]
    assert first == [b.payload for b in prepare(spans, Defaults(), 1 << 30).bodies]
    assert sorted(json.loads(first[0])["events"], key=lambda e: e["event_id"]) == sorted(
        json.loads(again[0])["events"], key=lambda e: e["event_id"]
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _open_trace(provider: TracerProvider, name: str, session: Optional[str] = None) -> Any:
    """A root left open, with one ended child: the child is all an exporter sees of the trace."""
    tracer = provider.get_tracer("app")
    root = tracer.start_span(name, attributes={"session.id": session} if session else {})
    with trace_api.use_span(root, end_on_exit=False), tracer.start_as_current_span(name + "-child"):
        pass
    return root


def test_a_root_that_stays_open_does_not_hold_its_children_past_the_wait(recorded: Any) -> None:
    """A chat server's span open for minutes: its children go out after the wait, in the trace's derived
    session; spans that end later join the session the trace went out in, and the root its own."""
    provider, memory = recorded
    clock = _Clock()
    hold = Hold(max_age_s=10, clock=clock)
    root = _open_trace(provider, "serve")
    assert _prepared_events(memory.get_finished_spans(), hold) == []  # held
    assert hold.spans == 1
    clock.now += 9.9
    assert hold.due() == []
    clock.now += 0.2
    (due,) = hold.due()
    assert [s.name for s in due.spans] == ["serve-child"]
    assert hold.take_counts() == (1, 1)
    (body,) = prepare_traces([due], Defaults(), 1 << 30, hold=hold).bodies
    (child,) = json.loads(body.payload)["events"]
    assert child["session_id"] == _ids.trace_session_id(root.get_span_context().trace_id)
    memory.clear()
    tracer = provider.get_tracer("app")
    with trace_api.use_span(root, end_on_exit=False), tracer.start_as_current_span("late"):
        pass
    late = _prepared_events(memory.get_finished_spans(), hold)
    assert [e["event_name"] for e in late] == ["late"]  # released at once: its trace already went out
    assert late[0]["session_id"] == child["session_id"]
    memory.clear()
    root.set_attribute("session.id", "stated-late")
    root.end()
    (ended,) = _prepared_events(memory.get_finished_spans(), hold)
    assert ended["session_id"] == _ids.session_id_for("stated-late")[0]  # its own, as it says


def test_a_burst_of_traces_whose_roots_never_end_stays_bounded_and_loses_nothing(recorded: Any) -> None:
    provider, memory = recorded
    hold = Hold(max_age_s=3600, max_spans=1000, clock=_Clock())
    tracer = provider.get_tracer("burst")
    released = 0
    peak = 0
    for _batch in range(50):
        memory.clear()
        for _ in range(1000):  # 50k traces, each a child whose root never ends
            root = tracer.start_span("root")
            with trace_api.use_span(root, end_on_exit=False), tracer.start_as_current_span("child"):
                pass
        released += sum(len(trace.spans) for trace in hold.add(memory.get_finished_spans()))
        peak = max(peak, hold.spans)
        assert hold.spans <= 1000
    released += sum(len(trace.spans) for trace in hold.release_all())
    assert released == 50_000
    assert peak == 1000
    assert hold.spans == 0
    assert hold.bytes == 0


def test_released_traces_and_session_names_are_remembered_up_to_their_bound() -> None:
    """The last :data:`REMEMBERED` traces and session names are kept, the oldest forgotten first (every
    trace is new in production: the bound is reached and kept, trace after trace)."""
    hold = Hold(clock=_Clock())
    extra = 100
    for trace_id in range(1, REMEMBERED + extra + 1):
        hold.remember(trace_id, None)
        hold.name_session(f"s{trace_id}", f"name {trace_id}", stated=False)
    assert list(hold._released) == list(range(extra + 1, REMEMBERED + extra + 1))
    assert len(hold.session_names) == REMEMBERED
    assert next(iter(hold.session_names)) == f"s{extra + 1}"
    assert hold.name_session(f"s{extra + 1}", "another", stated=False) == f"name {extra + 1}"  # remembered
    assert hold.name_session("s1", "another", stated=False) == "another"  # forgotten


def test_a_bytes_bound_releases_the_oldest_traces(recorded: Any) -> None:
    provider, memory = recorded
    hold = Hold(max_age_s=3600, max_bytes=200_000, clock=_Clock())
    tracer = provider.get_tracer("big")
    out = []
    for i in range(10):
        memory.clear()
        root = tracer.start_span(f"root-{i}")
        with trace_api.use_span(root, end_on_exit=False):
            with tracer.start_as_current_span(f"child-{i}", attributes={"input.value": "x" * 50_000}):
                pass
        out += hold.add(memory.get_finished_spans())
    assert hold.bytes <= 200_000
    assert [t.spans[0].name for t in out] == [f"child-{i}" for i in range(len(out))]  # oldest first
    assert len(out) + len(hold.release_all()) == 10


def test_the_exporter_sends_held_spans_on_flush_and_at_shutdown(recorded: Any, capture: CaptureServer) -> None:
    provider, memory = recorded
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", spool_dir="off", compression="none")
    root = _open_trace(provider, "open", session="s-1")
    exporter.export(memory.get_finished_spans())
    assert capture.requests == []
    assert exporter.force_flush(5000) is True
    assert [e["event_name"] for e in _span_events(capture)] == ["open-child"]
    memory.clear()
    _open_trace(provider, "second")
    exporter.export(memory.get_finished_spans())
    exporter.shutdown()
    assert [e["event_name"] for e in _span_events(capture)] == ["open-child", "second-child"]
    assert exporter.stats.get("held") == 2
    assert exporter.stats.get("held_released_by_bound") == 2
    root.end()


def test_the_wait_is_kept_without_a_batch_to_trigger_it(recorded: Any, capture: CaptureServer) -> None:
    """Nothing else is exported: the hold's own timer sends the trace when its wait is over."""
    provider, memory = recorded
    exporter = spanhive.SessionExporter(
        endpoint=capture.url, api_key="k", spool_dir="off", compression="none", trace_hold_s=0.2
    )
    root = _open_trace(provider, "idle")
    exporter.export(memory.get_finished_spans())
    assert capture.wait_for(1, timeout_s=30)
    assert [e["event_name"] for e in _span_events(capture)] == ["idle-child"]
    exporter.shutdown()
    root.end()


def test_a_zero_wait_sends_each_batch_as_it_comes(recorded: Any, capture: CaptureServer) -> None:
    provider, memory = recorded
    exporter = spanhive.SessionExporter(
        endpoint=capture.url, api_key="k", spool_dir="off", compression="none", trace_hold_s=0
    )
    root = _open_trace(provider, "now")
    exporter.export(memory.get_finished_spans())
    assert [e["event_name"] for e in _span_events(capture)] == ["now-child"]
    exporter.shutdown()
    root.end()


def test_a_bad_hold_setting_names_its_argument() -> None:
    with pytest.raises(spanhive.ConfigError, match="trace_hold_s"):
        spanhive.SessionExporter(endpoint="http://127.0.0.1:9", trace_hold_s=-1)


def _stamped(provider_spans: Any) -> dict[str, dict[str, Any]]:
    return {span.name: dict(span.attributes or {}) for span in provider_spans}


def test_the_session_processor_passes_a_parents_session_and_user_to_the_spans_started_under_it() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(spanhive.SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("root") as root:
        root.set_attribute("gen_ai.conversation.id", "conv-1")  # set after the root started, as apps do
        root.set_attribute("langfuse.user.id", "ada")
        with tracer.start_as_current_span("child"):
            with tracer.start_as_current_span("grandchild"):
                pass
        with tracer.start_as_current_span("own", attributes={"session.id": "conv-2", "user.id": "bob"}):
            with tracer.start_as_current_span("under-own"):
                pass
    spans = _stamped(memory.get_finished_spans())
    for name in ("child", "grandchild"):
        assert spans[name]["honeyhive.session_id"] == "conv-1"
        assert spans[name]["honeyhive_user_id"] == "ada"
    assert "honeyhive.session_id" not in spans["own"]  # it names its own
    assert "honeyhive_user_id" not in spans["own"]
    assert spans["under-own"]["honeyhive.session_id"] == "conv-2"  # the nearest ancestor's
    assert spans["under-own"]["honeyhive_user_id"] == "bob"
    assert "honeyhive.session_id" not in spans["root"]
    events = {e["event_name"]: e for e in _prepared_events(memory.get_finished_spans(), Hold(max_age_s=0))}
    assert events["grandchild"]["session_id"] == _ids.session_id_for("conv-1")[0]
    assert events["grandchild"]["user_properties"] == {"user_id": "ada"}
    assert events["under-own"]["session_id"] == _ids.session_id_for("conv-2")[0]
    provider.shutdown()


def test_a_remote_parent_passes_nothing_but_its_baggage() -> None:
    """A downstream service: the parent is in another process, so only what the baggage carries applies."""
    from opentelemetry import baggage, propagate  # noqa: PLC0415 - only here

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(spanhive.SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("downstream")
    upstream = TracerProvider().get_tracer("upstream")
    headers: dict[str, str] = {}
    with spanhive.session(name="checkout", session_id="sess-77", user_properties={"user_id": "eve"}):
        with upstream.start_as_current_span("call"):
            propagate.inject(headers)
    assert "baggage" in headers
    incoming = propagate.extract(headers)
    with tracer.start_as_current_span("handle", context=incoming), tracer.start_as_current_span("work"):
        pass
    assert baggage.get_all(incoming)
    events = {e["event_name"]: e for e in _prepared_events(memory.get_finished_spans(), Hold(max_age_s=0))}
    assert {e["session_id"] for e in events.values()} == {_ids.session_id_for("sess-77")[0]}
    assert events["work"]["user_properties"] == {"user_id": "eve"}
    provider.shutdown()


@pytest.mark.parametrize("order", ["earlier-first", "later-first"])
def test_two_traces_of_one_session_in_several_batches_keep_one_name(
    recorded: Any, capture: CaptureServer, order: str
) -> None:
    provider, memory = recorded
    tracer = provider.get_tracer("app")
    batches = []
    for name in ("first_question", "second_question"):
        memory.clear()
        with tracer.start_as_current_span(name, attributes={"session.id": "chat-1"}):
            with tracer.start_as_current_span("llm"):
                pass
        batches.append(memory.get_finished_spans())
    if order == "later-first":
        batches.reverse()
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", spool_dir="off", compression="none")
    for batch in (*batches, batches[0]):  # and one of them again, as a retry would
        exporter.export(batch)
    exporter.shutdown()
    names = [b["session_properties"]["session_name"] for b in capture.bodies()]
    assert len(names) == 3
    assert len(set(names)) == 1
    assert names[0] == ("first_question" if order == "earlier-first" else "second_question")


def test_a_stated_session_name_wins_and_sticks(recorded: Any, capture: CaptureServer) -> None:
    provider, memory = recorded
    tracer = provider.get_tracer("app")
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", spool_dir="off", compression="none")
    for attributes in ({}, {"honeyhive.session_name": "Support chat"}, {}):
        memory.clear()
        with tracer.start_as_current_span("turn", attributes={"session.id": "chat-2", **attributes}):
            pass
        exporter.export(memory.get_finished_spans())
    exporter.shutdown()
    assert [b["session_properties"]["session_name"] for b in capture.bodies()] == [
        "turn",
        "Support chat",
        "Support chat",
    ]


@pytest.mark.parametrize(
    ("entries", "session", "user"),
    [
        ({"session.id": "conv-5", "user.id": "kim"}, "conv-5", "kim"),
        ({"langfuse_session_id": "lf-1", "langfuse_user_id": "lee"}, "lf-1", "lee"),
    ],
    ids=["session.id", "langfuse"],
)
def test_the_baggage_other_stacks_propagate_joins_the_session(entries: dict[str, str], session: str, user: str) -> None:
    """A downstream service whose upstream is not spanhive: the session keys others put in baggage count."""
    from opentelemetry import baggage  # noqa: PLC0415 - only here

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(spanhive.SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    context = None
    for key, value in entries.items():
        context = baggage.set_baggage(key, value, context)
    with provider.get_tracer("svc").start_as_current_span("handle", context=context):
        pass
    (event,) = _prepared_events(memory.get_finished_spans(), Hold(max_age_s=0))
    assert event["session_id"] == _ids.session_id_for(session)[0]
    assert event["user_properties"] == {"user_id": user}
    provider.shutdown()


def test_doctor_shows_the_spans_that_waited_for_their_root(
    recorded: Any, capture: CaptureServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counters a process leaves at shutdown, read by ``spanhive doctor`` for the same destination."""
    from spanhive._cli import main  # noqa: PLC0415 - only here

    monkeypatch.setenv("SPANHIVE_ENDPOINT", capture.url)
    monkeypatch.setenv("SPANHIVE_API_KEY", "k")
    provider, memory = recorded
    exporter = spanhive.SessionExporter(compression="none")  # the default spool: where doctor looks
    root = _open_trace(provider, "open")
    exporter.export(memory.get_finished_spans())
    exporter.shutdown()  # the child went out before its root: by a bound (shutdown)
    root.end()
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "held 1" in out
    assert "held_released_by_bound 1" in out
