"""A trace belongs to one session, with a real instrumentation library: the real ``openai`` client
instrumented by OpenInference against the loopback fake of the API, real SDK providers, a real exporter
posting to a loopback capture server. (Not at the dependency floor: the instrumentation needs a newer SDK.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import openai
import pytest
from openinference.instrumentation import using_attributes
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import spanhive
from spanhive import _ids
from spanhive._internals import span_processors
from spanhive.server import IngestServer
from spanhive.store import Store
from tests.capture import CaptureServer
from tests.fake_llm import FakeLLM
from tests.test_traces import _span_events

pytestmark = pytest.mark.filterwarnings("ignore:Support for class-based `config` is deprecated:DeprecationWarning")


class _Relay(SpanProcessor):
    """The processors of the current test, behind the one provider the instrumentation was given."""

    def __init__(self) -> None:
        self.targets: list[SpanProcessor] = []

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        for target in self.targets:
            target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for target in self.targets:
            target.on_end(span)


def _without_stale_wrappers() -> None:
    """Some instrumentations leave their wrapper on ``Completions.create`` after ``uninstrument()`` (the golden
    tests instrument the client three times), and a stale wrapper makes spans for a provider long shut down,
    which would sit between the application's spans and the LLM span. Start from the client as shipped."""
    from openai.resources.chat.completions import Completions  # noqa: PLC0415 - only here

    while hasattr(Completions.create, "__wrapped__"):
        Completions.create = Completions.create.__wrapped__  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def instrumented() -> Iterator[tuple[TracerProvider, _Relay, openai.OpenAI]]:
    """The real ``openai`` client instrumented by OpenInference once for the module (instrumenting again
    stacks wrappers), against the loopback fake."""
    _without_stale_wrappers()
    relay = _Relay()
    provider = TracerProvider()
    provider.add_span_processor(relay)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    with FakeLLM() as api:
        try:
            yield provider, relay, openai.OpenAI(base_url=api.base_url, api_key="test", max_retries=0)
        finally:
            instrumentor.uninstrument()


@pytest.fixture(params=["plain", "session-processor"])
def exporting(
    request: pytest.FixtureRequest,
    instrumented: tuple[TracerProvider, _Relay, openai.OpenAI],
    capture: CaptureServer,
) -> Iterator[tuple[TracerProvider, openai.OpenAI, spanhive.SessionExporter]]:
    """Each span exported as soon as it ends (children before their root), with and without the session
    processor in front: the result must not depend on it."""
    provider, relay, client = instrumented
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", spool_dir="off", compression="none")
    front = spanhive.SessionSpanProcessor() if request.param == "session-processor" else SpanProcessor()
    relay.targets = [front, SimpleSpanProcessor(exporter)]
    yield provider, client, exporter
    relay.targets = []
    exporter.shutdown()


def _ask(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital of France?"}])


def test_a_session_and_user_set_on_the_root_reach_every_event_of_the_trace(
    exporting: tuple[TracerProvider, openai.OpenAI, spanhive.SessionExporter], capture: CaptureServer
) -> None:
    provider, client, exporter = exporting
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("agent_run") as span:
        span.set_attribute("session.id", "conversation-42")
        span.set_attribute("user.id", "user-7")
        _ask(client)
        with tracer.start_as_current_span("lookup"):
            _ask(client)
    events = _span_events(capture)
    assert len(events) == 4
    session = _ids.session_id_for("conversation-42")[0]
    assert {e["session_id"] for e in events} == {session}
    assert all(e["user_properties"] == {"user_id": "user-7"} for e in events)
    assert all(e["metadata"]["external_session_id"] == "conversation-42" for e in events)
    (root,) = [e for e in events if e["event_name"] == "agent_run"]
    assert root["parent_id"] == session  # the tree is closed inside the session
    ids = {e["event_id"] for e in events}
    assert all(e["parent_id"] in ids for e in events if e is not root)
    assert [e["event_type"] for e in events].count("model") == 2
    records = [b["session_properties"] for b in capture.bodies() if b.get("single_session")]
    assert records
    assert all(r["session_id"] == session and r["user_properties"] == {"user_id": "user-7"} for r in records)
    assert exporter.stats.get("held") == 3  # the children waited for their root


def test_a_session_only_a_child_carries_takes_the_whole_trace(
    exporting: tuple[TracerProvider, openai.OpenAI, spanhive.SessionExporter], capture: CaptureServer
) -> None:
    provider, client, _ = exporting
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("agent_run"), tracer.start_as_current_span("step"):
        with using_attributes(session_id="thread-9", user_id="user-3"):
            _ask(client)  # only the LLM span carries them
        with tracer.start_as_current_span("tool"):
            pass
    events = _span_events(capture)
    assert sorted(e["event_name"] for e in events) == ["ChatCompletion", "agent_run", "step", "tool"]
    assert {e["session_id"] for e in events} == {_ids.session_id_for("thread-9")[0]}
    assert all(e["user_properties"] == {"user_id": "user-3"} for e in events)


def test_each_trace_keeps_its_own_session(
    exporting: tuple[TracerProvider, openai.OpenAI, spanhive.SessionExporter], capture: CaptureServer
) -> None:
    """A session stated in one trace does not leak into another, nor into a trace that states none."""
    provider, _, _ = exporting
    tracer = provider.get_tracer("app")
    for name, session in (("a", "s-a"), ("b", None), ("c", "s-c")):
        with tracer.start_as_current_span(name) as root:
            if session:
                root.set_attribute("session.id", session)
            with tracer.start_as_current_span(name + "-child"):
                pass
    by_name = {e["event_name"]: e["session_id"] for e in _span_events(capture)}
    assert by_name["a"] == by_name["a-child"] == _ids.session_id_for("s-a")[0]
    assert by_name["c"] == by_name["c-child"] == _ids.session_id_for("s-c")[0]
    assert by_name["b"] == by_name["b-child"] not in (by_name["a"], by_name["c"])


@pytest.mark.parametrize("set_up", ["configure", "plain-batch-processor"])
def test_through_a_real_batch_processor_the_trace_joins_the_root_session(
    instrumented: tuple[TracerProvider, _Relay, openai.OpenAI], capture: CaptureServer, set_up: str
) -> None:
    """The two usual set-ups, a batch processor exporting on its own thread: ``configure()`` (with the
    session processor) and ``BatchSpanProcessor(SessionExporter())`` alone give the same sessions."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415 - only here

    provider, relay, client = instrumented
    own = TracerProvider()
    if set_up == "configure":
        spanhive.configure(tracer_provider=own, batch=True, endpoint=capture.url, api_key="k", spool_dir="off")
    else:
        exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", spool_dir="off")
        own.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50, max_export_batch_size=2))
    relay.targets = span_processors(own)  # the instrumentation's spans go through them too
    try:
        tracer = provider.get_tracer("app")
        for turn in range(3):
            with tracer.start_as_current_span(f"turn-{turn}") as root:
                root.set_attribute("session.id", "chat-e2e")
                root.set_attribute("user.id", "ada")
                _ask(client)
                with tracer.start_as_current_span("tool"):
                    pass
        assert own.force_flush(10_000)
        for processor in relay.targets:
            processor.force_flush(10_000)
    finally:
        relay.targets = []
        own.shutdown()
    events = _span_events(capture)
    assert len(events) == 9
    assert {e["session_id"] for e in events} == {_ids.session_id_for("chat-e2e")[0]}
    assert all(e["user_properties"] == {"user_id": "ada"} for e in events)
    names = {b["session_properties"]["session_name"] for b in capture.bodies() if b.get("single_session")}
    assert names == {"turn-0"}


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_the_official_otlp_exporter_stores_what_the_exporter_stores_for_the_same_spans(
    instrumented: tuple[TracerProvider, _Relay, openai.OpenAI], server: IngestServer, tmp_path: Path, compression: str
) -> None:
    """The OpenAI client instrumented by OpenInference, its spans handed both to the official
    ``OTLPSpanExporter`` (protobuf) pointed at ``spanhive serve`` and to a ``SessionExporter`` writing its own
    store: the two stores hold the same sessions and events, field for field, with the same ids."""
    from opentelemetry.exporter.otlp.proto.http import Compression  # noqa: PLC0415 - only here
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

    provider, relay, client = instrumented
    otlp = OTLPSpanExporter(endpoint=server.url + "/v1/traces", compression=Compression(compression))
    direct = spanhive.SessionExporter(endpoint=f"sqlite:///{tmp_path / 'direct.db'}")
    relay.targets = [SimpleSpanProcessor(otlp), SimpleSpanProcessor(direct)]
    try:
        with provider.get_tracer("app").start_as_current_span("agent_run") as root:
            root.set_attribute("session.id", "otlp-openai")
            _ask(client)
    finally:
        relay.targets = []
        direct.shutdown()
        otlp.shutdown()
    server.server_close()  # what serve held for the trace's root is stored now
    store = Store(tmp_path / "direct.db")
    try:
        (expected,) = store.list_sessions()
        want = {e["event_id"]: e for e in store.events(expected["session_id"])}
    finally:
        store.close()
    (received,) = server.store.list_sessions()
    got = {e["event_id"]: e for e in server.store.events(received["session_id"])}
    assert received["session_id"] == expected["session_id"] == _ids.session_id_for("otlp-openai")[0]
    assert received["session_name"] == expected["session_name"]
    assert len(got) == 2  # the root and the instrumentation's LLM span
    assert got == want  # same ids, same fields (project and source from the same resource)
    (llm,) = [e for e in got.values() if e["event_type"] == "model"]
    assert llm["inputs"]["chat_history"] == [{"role": "user", "content": "Capital of France?"}]
