"""Sessions from context, enrichment and one-line set-up, with real SDK providers and a loopback server."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanhive
from spanhive._internals import span_processors
from spanhive._session import SessionSpanProcessor, _local_roots
from spanhive.store import Store
from tests.capture import CaptureServer


@pytest.fixture
def provider(capture: CaptureServer) -> Iterator[TracerProvider]:
    """An SDK provider configured by ``spanhive.configure`` (synchronous export, for the assertions)."""
    own = TracerProvider()
    spanhive.configure(tracer_provider=own, batch=False, endpoint=capture.url, api_key="k")
    yield own
    own.shutdown()


def span_events(server: CaptureServer) -> list[dict[str, Any]]:
    return [e for e in server.events() if e["event_type"] != "session"]


def session_records(server: CaptureServer) -> dict[str, dict[str, Any]]:
    """SessionProperties by session id, merged across requests as a receiver would (later values win)."""
    merged: dict[str, dict[str, Any]] = {}
    for body in server.bodies():
        records = (
            [body["session_properties"]]
            if body.get("single_session")
            else [e for e in body["events"] if e["event_type"] == "session"]
        )
        for record in records:
            into = merged.setdefault(record["session_id"], {})
            for key, value in record.items():
                if isinstance(value, dict):
                    into.setdefault(key, {}).update(value)
                elif value is not None:
                    into[key] = value
    return merged


def test_two_traces_and_two_threads_share_one_session(provider: TracerProvider, capture: CaptureServer) -> None:
    tracer = provider.get_tracer("t")

    def work(label: str) -> None:
        with tracer.start_as_current_span(label):
            pass

    with spanhive.session(name="support chat", user_properties={"user_id": "ada", "plan": "pro"}) as chat:
        work("first-trace")
        work("second-trace")
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(work, f"thread-{i}")) for i in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    with tracer.start_as_current_span("outside"):
        pass
    events = {e["event_name"]: e for e in span_events(capture)}
    inside = ["first-trace", "second-trace", "thread-0", "thread-1"]
    assert {events[name]["session_id"] for name in inside} == {chat.session_id}
    assert len({events[name]["metadata"]["trace_id"] for name in inside}) == 4  # four traces, one session
    assert events["outside"]["session_id"] != chat.session_id
    assert all(events[name]["user_properties"] == {"user_id": "ada", "plan": "pro"} for name in inside)
    record = session_records(capture)[chat.session_id]
    assert record["session_name"] == "support chat"
    assert record["user_properties"] == {"user_id": "ada", "plan": "pro"}


def test_nested_sessions_the_inner_one_wins_inside(provider: TracerProvider, capture: CaptureServer) -> None:
    tracer = provider.get_tracer("t")
    with spanhive.session(name="outer") as outer:
        with tracer.start_as_current_span("a"):
            pass
        with spanhive.session(name="inner") as inner, tracer.start_as_current_span("b"):
            pass
        with tracer.start_as_current_span("c"):
            pass
    events = {e["event_name"]: e["session_id"] for e in span_events(capture)}
    assert events == {"a": outer.session_id, "b": inner.session_id, "c": outer.session_id}
    records = session_records(capture)
    assert (records[outer.session_id]["session_name"], records[inner.session_id]["session_name"]) == ("outer", "inner")


def test_async_tasks_join_their_session(provider: TracerProvider, capture: CaptureServer) -> None:
    tracer = provider.get_tracer("t")

    async def step(label: str) -> None:
        await asyncio.sleep(0)
        with tracer.start_as_current_span(label):
            await asyncio.sleep(0)

    async def main() -> tuple[str, str]:
        async with spanhive.session(name="one") as one, spanhive.session(name="two") as two:
            await asyncio.gather(step("two-a"), step("two-b"))
        return one.session_id, two.session_id

    _, two_id = asyncio.run(main())
    assert {e["event_name"]: e["session_id"] for e in span_events(capture)} == {"two-a": two_id, "two-b": two_id}


def test_enrich_session_from_a_child_lands_in_session_properties(tmp_path: Path) -> None:
    """Checked in the embedded store, which merges session records across batches as a receiver does."""
    db = tmp_path / "sessions.db"
    own = TracerProvider()
    spanhive.configure(tracer_provider=own, batch=False, endpoint=f"sqlite:///{db}")
    tracer = own.get_tracer("t")
    with spanhive.session(name="checkout", metadata={"cart": 3}, inputs={"query": "buy socks"}) as shop:
        with tracer.start_as_current_span("root"):
            with tracer.start_as_current_span("child"):
                spanhive.enrich_session(feedback={"rating": 5}, metrics={"accuracy": 0.9})
                spanhive.enrich_session(feedback={"comment": "quick"}, outputs={"order": "A-17"})
            spanhive.enrich_span(outputs={"answer": "done"}, metrics={"latency_ok": True})
    own.shutdown()
    record = Store(db, readonly=True).get_session(shop.session_id)
    assert record is not None
    assert record["session_name"] == "checkout"
    assert record["feedback"] == {"rating": 5, "comment": "quick"}
    assert record["metrics"] == {"accuracy": 0.9}
    assert record["metadata"] == {"cart": 3}
    assert record["inputs"] == {"query": "buy socks"}
    assert record["outputs"] == {"order": "A-17"}  # stated for the session: wins over the root's own outputs
    events = {e["event_name"]: e for e in record["events"]}
    assert events["root"]["outputs"] == {"answer": "done"}
    assert events["root"]["metrics"] == {"latency_ok": True}
    assert events["child"]["feedback"] == {}  # session-level values are not copied onto events
    assert not any(k.startswith("spanhive.") for e in events.values() for k in e["metadata"])


def test_enrich_span_fields_and_unusual_values(provider: TracerProvider, capture: CaptureServer) -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque-object"

    with provider.get_tracer("t").start_as_current_span("step"):
        spanhive.enrich_span(
            inputs={"question": "why?", "options": {"k": [1, 2]}, "blob": Opaque(), "nothing": None},
            config={"model": "m"},
            user_properties={"user_id": "u"},
            event_type="model",
            event_name="llm call",
            error="rate limited",
        )
    (event,) = span_events(capture)
    assert event["inputs"] == {"question": "why?", "options": {"k": [1, 2]}, "blob": '"opaque-object"'}
    assert (event["config"], event["user_properties"]) == ({"model": "m"}, {"user_id": "u"})
    assert (event["event_type"], event["event_name"], event["error"]) == ("model", "llm call", "rate limited")


def test_enrichment_without_a_span_does_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="spanhive"):
        spanhive.enrich_span(inputs={"a": 1})
        spanhive.enrich_session(metadata={"b": 2})
    assert "no recording span" in caplog.text


def test_configure_twice_adds_one_exporter(capture: CaptureServer) -> None:
    own = TracerProvider()
    first = spanhive.configure(tracer_provider=own, batch=False, endpoint=capture.url, api_key="k")
    second = spanhive.configure(tracer_provider=own, batch=False, endpoint=capture.url, api_key="k")
    assert first is second is own
    assert sum(isinstance(p, SessionSpanProcessor) for p in span_processors(own)) == 1
    assert len(span_processors(own)) == 2
    with own.get_tracer("t").start_as_current_span("once"):
        pass
    own.shutdown()
    assert [e["event_name"] for e in span_events(capture)] == ["once"]


def test_configure_rejects_a_provider_without_processors() -> None:
    with pytest.raises(spanhive.ConfigError, match="add_span_processor"):
        spanhive.configure(tracer_provider=trace.NoOpTracerProvider())
    with pytest.raises(spanhive.ConfigError, match="timeout_s"):
        spanhive.configure(tracer_provider=TracerProvider(), timeout_s=-1)


APP = """
import spanhive
from opentelemetry import trace
provider = spanhive.configure()   # opentelemetry-instrument already built a provider sending to spanhive
assert provider is trace.get_tracer_provider()
tracer = trace.get_tracer("app")
with spanhive.session(name="zero-code session"):
    with tracer.start_as_current_span("handle"):
        pass
"""


def test_configure_after_opentelemetry_instrument(tmp_path: Path, capture: CaptureServer) -> None:
    """Zero-code set-up plus ``configure()`` in the app: one exporter, each event once, sessions work."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANHIVE_", "HH_", "PYTEST_"))}
    env.update(OTEL_TRACES_EXPORTER="spanhive", SPANHIVE_ENDPOINT=capture.url, SPANHIVE_API_KEY="k")
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    result = subprocess.run(
        [str(instrument), sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    (event,) = span_events(capture)
    assert event["event_name"] == "handle"
    records = session_records(capture)
    assert records[event["session_id"]]["session_name"] == "zero-code session"


SERVICE_B = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from opentelemetry import context, propagate
from opentelemetry.sdk.trace import TracerProvider
import spanhive

provider = TracerProvider()
spanhive.configure(tracer_provider=provider, batch=False, endpoint=sys.argv[1], api_key="k")
tracer = provider.get_tracer("service-b")

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        token = context.attach(propagate.extract(dict(self.headers)))  # what server instrumentations do
        try:
            with tracer.start_as_current_span("b.handle"):
                with tracer.start_as_current_span("b.lookup"):
                    pass
        finally:
            context.detach(token)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.handle_request()
"""


def test_a_session_crosses_a_service_boundary(tmp_path: Path, provider: TracerProvider, capture: CaptureServer) -> None:
    """Process A opens a session and calls process B with the standard propagator: B's spans join it."""
    service = tmp_path / "service_b.py"
    service.write_text(SERVICE_B)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANHIVE_", "HH_"))}
    with subprocess.Popen([sys.executable, str(service), capture.url], stdout=subprocess.PIPE, text=True, env=env) as b:
        assert b.stdout is not None
        port = int(b.stdout.readline())
        with spanhive.session(name="cross-service") as shared:
            with provider.get_tracer("service-a").start_as_current_span("a.call"):
                headers: dict[str, str] = {}
                propagate.inject(headers)
                assert "baggage" in headers
                assert requests.get(f"http://127.0.0.1:{port}/", headers=headers, timeout=10).status_code == 200
        b.wait(30)
    sessions = {e["event_name"]: e["session_id"] for e in span_events(capture)}
    assert sessions == {"a.call": shared.session_id, "b.handle": shared.session_id, "b.lookup": shared.session_id}
    assert session_records(capture)[shared.session_id]["session_name"] == "cross-service"


def test_spans_outside_any_session_are_left_alone(provider: TracerProvider, capture: CaptureServer) -> None:
    with provider.get_tracer("t").start_as_current_span("plain"):
        pass
    (event,) = span_events(capture)
    assert "honeyhive.session_id" not in json.dumps(event)


def test_the_processor_forgets_traces_once_their_root_ends() -> None:
    """No span outlives its trace in the processor's bookkeeping (a leak would keep every span alive)."""
    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    tracer = provider.get_tracer("t")
    before = len(_local_roots)
    for _ in range(100):
        with tracer.start_as_current_span("root"), tracer.start_as_current_span("child"):
            pass
    assert len(_local_roots) == before


def _spans_under(processor: SessionSpanProcessor, carrier: dict[str, str], *, own: bool) -> dict[str, Any]:
    """A span started in a request whose headers are ``carrier`` (and inside ``spanhive.session()`` when
    ``own``), with ``processor`` on a real provider: its attributes."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    remote = propagate.extract(carrier)
    token = otel_context.attach(remote)
    try:
        if own:
            with spanhive.session("mine", session_id="s-own"):
                provider.get_tracer("t").start_span("handler").end()
        else:
            provider.get_tracer("t").start_span("handler").end()
    finally:
        otel_context.detach(token)
    (span,) = memory.get_finished_spans()
    return dict(span.attributes or {})


def test_baggage_from_a_caller_is_ignored_when_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    forged = {
        "baggage": "session.id=victims-session,user.id=admin,"
        "spanhive.user_properties=%7B%22role%22%3A%22superuser%22%7D"
    }
    trusted = _spans_under(SessionSpanProcessor(), forged, own=False)
    assert trusted["honeyhive.session_id"] == "victims-session"  # the default: services propagating a session join
    monkeypatch.setenv("SPANHIVE_TRUST_BAGGAGE", "false")
    guarded = _spans_under(SessionSpanProcessor(), forged, own=False)
    assert "honeyhive.session_id" not in guarded
    assert "honeyhive_user_properties" not in guarded
    mine = _spans_under(SessionSpanProcessor(), forged, own=True)  # spanhive.session() in this process still works
    assert mine["honeyhive.session_id"] == "s-own"
    assert SessionSpanProcessor(trust_baggage=True).trust_baggage is True  # the argument wins over the variable
