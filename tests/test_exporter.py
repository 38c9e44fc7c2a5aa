"""The exporter end to end over real loopback HTTP: wire shapes, headers, retries, deadlines, shutdown."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import requests
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanhive
from tests.capture import CaptureServer, SilentServer, closed_port_url

Recorded = tuple[TracerProvider, InMemorySpanExporter]


def trace_spans(recorded: Recorded, traces: int = 1, children: int = 2) -> Sequence[ReadableSpan]:
    """``traces`` traces, each a root with ``children`` child spans, as finished SDK spans."""
    provider, memory = recorded
    tracer = provider.get_tracer("t")
    for t in range(traces):
        with tracer.start_as_current_span(f"root{t}", attributes={"honeyhive_inputs.question": f"q{t}"}):
            for c in range(children):
                with tracer.start_as_current_span(f"child{t}.{c}"):
                    pass
    return memory.get_finished_spans()


@pytest.mark.parametrize("masked", [False, True], ids=["streamed", "whole-records"])
def test_a_top_span_with_no_io_lends_its_first_childs(recorded: Recorded, capture: CaptureServer, masked: bool) -> None:
    """Traceloop's LangGraph: ``invoke_agent`` says nothing of its own; its ``workflow`` child has the run's
    input and output. The session takes them, as if the top span had them."""
    provider, memory = recorded
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent"):
        with tracer.start_as_current_span(
            "workflow", attributes={"input.value": '{"q": "hi"}', "output.value": "done"}
        ):
            pass
        with tracer.start_as_current_span("later", attributes={"input.value": "other", "output.value": "other"}):
            pass
    exporter = spanhive.SessionExporter(
        endpoint=capture.url, api_key="k", mask=(lambda record: None) if masked else None
    )
    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    props = capture.requests[0].body["session_properties"]
    assert (props["inputs"], props["outputs"]) == ({"q": "hi"}, {"output": "done"})
    (top,) = [e for e in capture.events() if e["event_name"] == "invoke_agent"]
    assert (top["inputs"], top["outputs"]) == ({}, {})  # the event itself is as the span was


def test_single_session_body_and_headers(recorded: Recorded, capture: CaptureServer) -> None:
    """One session → ``single_session`` with its SessionProperties; bearer auth, UA, gzip, JSON."""
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="secret-key", headers={"X-Team": "ml"})
    assert exporter.export(trace_spans(recorded)) is SpanExportResult.SUCCESS
    (request,) = capture.requests
    assert request.path == "/events/batch"
    assert request.headers["authorization"] == "Bearer secret-key"
    assert request.headers["user-agent"] == f"spanhive/{spanhive.__version__}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["x-team"] == "ml"
    assert gzip.decompress(request.raw)  # really compressed on the wire
    body = request.body
    assert body["single_session"] is True
    assert len(body["events"]) == 3
    props = body["session_properties"]
    assert set(props) == {
        "session_name", "source", "session_id", "config", "inputs", "outputs", "error",
        "user_properties", "metrics", "feedback", "metadata", "start_time",
    }  # fmt: skip
    assert props["start_time"] == min(e["start_time"] for e in body["events"])  # the session's, in epoch ms
    assert props["session_name"] == "root0"
    assert props["inputs"] == {"question": "q0"}
    assert {e["session_id"] for e in body["events"]} == {props["session_id"]}
    assert all(e["project"] == "test-app" for e in body["events"])


def test_several_sessions_coalesce_into_one_request(recorded: Recorded, capture: CaptureServer) -> None:
    """Many sessions in one export → one request, each session carried as a ``session`` event."""
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k")
    assert exporter.export(trace_spans(recorded, traces=3, children=1)) is SpanExportResult.SUCCESS
    (body,) = capture.bodies()
    assert body["single_session"] is False
    assert "session_properties" not in body
    sessions = [e for e in body["events"] if e["event_type"] == "session"]
    others = [e for e in body["events"] if e["event_type"] != "session"]
    assert len(sessions) == 3
    assert len(others) == 6
    assert all(s["event_id"] == s["session_id"] for s in sessions)
    assert {s["event_name"] for s in sessions} == {"root0", "root1", "root2"}
    assert {e["session_id"] for e in others} == {s["session_id"] for s in sessions}
    for session in sessions:  # the session event's children are its top-level events
        (top,) = session["children_ids"]
        assert next(e for e in others if e["event_id"] == top)["parent_id"] == session["session_id"]


def test_compression_none_sends_plain_json(recorded: Recorded, capture: CaptureServer) -> None:
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", compression="none")
    exporter.export(trace_spans(recorded))
    (request,) = capture.requests
    assert "content-encoding" not in request.headers
    assert request.raw.startswith(b'{"events":')


def test_the_same_spans_exported_twice_carry_the_same_ids(recorded: Recorded, capture: CaptureServer) -> None:
    """Retries and replays are idempotent: ids depend only on the span."""
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k")
    spans = trace_spans(recorded)
    exporter.export(spans)
    exporter.export(spans)
    first, second = capture.bodies()
    assert [e["event_id"] for e in first["events"]] == [e["event_id"] for e in second["events"]]
    assert first["session_properties"]["session_id"] == second["session_properties"]["session_id"]


def test_503_then_200_delivers_every_event_exactly_once(recorded: Recorded) -> None:
    """Without a spool, a transient 503 is retried inside the deadline; de-duplicated by id, each event
    arrives once. (With one, the drainer retries instead: ``test_delivery.py``.)"""
    spans = trace_spans(recorded, traces=2)
    with CaptureServer([503]) as server:
        exporter = spanhive.SessionExporter(endpoint=server.url, api_key="k", timeout_s=10, spool_dir="off")
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert [r.headers.get("content-length") is not None for r in server.requests] == [True, True]
        delivered = server.bodies()[-1]["events"]
    span_events = [e["event_id"] for e in delivered if e["event_type"] != "session"]
    assert len(span_events) == len(set(span_events)) == len(spans)


def test_retry_after_is_honoured(recorded: Recorded) -> None:
    """``429`` with ``Retry-After: 1``: no second request before a second has passed."""
    spans = trace_spans(recorded)
    with CaptureServer([(429, {"Retry-After": "1"})]) as server:
        exporter = spanhive.SessionExporter(endpoint=server.url, api_key="k", timeout_s=10, spool_dir="off")
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    arrivals = [r.at for r in server.requests]
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.95


SLACK_S = 5.0
"""How far past its deadline a real export may end on a loaded machine before a test calls it stuck: the
deadline arithmetic itself is tested exactly, on an injected clock (``test_deliver.py``)."""


def test_a_server_that_never_answers_fails_within_the_deadline(recorded: Recorded) -> None:
    """The read timeout is what the deadline leaves: a server that accepts and never answers cannot hold
    an export (with a 30 s deadline of retries it would, without one)."""
    spans = trace_spans(recorded)
    with SilentServer() as server:
        exporter = spanhive.SessionExporter(endpoint=server.url, api_key="k", timeout_s=1, spool_dir="off")
        started = time.monotonic()
        assert exporter.export(spans) is SpanExportResult.FAILURE
        elapsed = time.monotonic() - started
    assert elapsed < 1 + SLACK_S


def test_refused_connections_fail_within_the_deadline(recorded: Recorded) -> None:
    exporter = spanhive.SessionExporter(endpoint=closed_port_url(), api_key="k", timeout_s=1.5, spool_dir="off")
    started = time.monotonic()
    assert exporter.export(trace_spans(recorded)) is SpanExportResult.FAILURE
    assert time.monotonic() - started < 1.5 + SLACK_S
    assert exporter.stats.get("retried") >= 1  # refused connections are retried, not taken as final


def test_permanent_errors_are_not_retried(recorded: Recorded) -> None:
    with CaptureServer([400]) as server:
        # Uncompressed: a gzip body's first 400 is tried once uncompressed (test_wire_schema.py)
        exporter = spanhive.SessionExporter(endpoint=server.url, api_key="k", compression="none")
        assert exporter.export(trace_spans(recorded)) is SpanExportResult.FAILURE
        assert len(server.requests) == 1


def test_shutdown_interrupts_backoff_and_is_idempotent(recorded: Recorded) -> None:
    """An export waiting out a long ``Retry-After`` (with no spool, it waits in place) returns as soon as
    ``shutdown()`` is called."""
    spans = trace_spans(recorded)
    with CaptureServer([(503, {"Retry-After": "8"})] * 3) as server:
        exporter = spanhive.SessionExporter(endpoint=server.url, api_key="k", timeout_s=30, spool_dir="off")
        results: list[SpanExportResult] = []
        worker = threading.Thread(target=lambda: results.append(exporter.export(spans)))
        worker.start()
        assert server.wait_for(1, timeout_s=10), "the export never reached the server"
        started = time.monotonic()
        exporter.shutdown()
        worker.join(10)
        elapsed = time.monotonic() - started
        exporter.shutdown()  # a second call is a no-op
        assert results == [SpanExportResult.FAILURE]
        assert elapsed < 8 - 1  # well before the 8 s Retry-After: the backoff was interrupted
        assert len(server.requests) == 1
        assert exporter.export(spans) is SpanExportResult.FAILURE  # after shutdown: never sent
        assert len(server.requests) == 1


def test_callers_can_bring_their_own_requests_session(recorded: Recorded, capture: CaptureServer) -> None:
    session = requests.Session()
    session.headers["X-From-Session"] = "yes"
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", http_session=session)
    exporter.export(trace_spans(recorded))
    assert capture.requests[0].headers["x-from-session"] == "yes"


def test_a_netrc_entry_for_the_host_never_replaces_the_api_key(
    recorded: Recorded, capture: CaptureServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``requests`` puts ``~/.netrc`` credentials over an explicit ``Authorization`` header."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password elsewhere\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert requests.utils.get_netrc_auth(capture.url) == ("someone", "elsewhere")  # requests does read it
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="secret-key")
    assert exporter.export(trace_spans(recorded)) is SpanExportResult.SUCCESS
    assert capture.requests[0].headers["authorization"] == "Bearer secret-key"


def test_the_environment_proxy_is_used(
    recorded: Recorded, capture: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment is read once per session, and what it says about proxies still holds."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", capture.url)  # the capture server stands in for the proxy
    exporter = spanhive.SessionExporter(endpoint="http://collector.example.invalid", api_key="k", timeout_s=5)
    assert exporter.export(trace_spans(recorded)) is SpanExportResult.SUCCESS
    (request,) = capture.requests
    assert request.path == "http://collector.example.invalid/events/batch"  # the absolute form sent to a proxy


def test_disabled_exporter_sends_nothing(
    recorded: Recorded, capture: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HH_DISABLE_TRACING", "true")
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k")
    assert exporter.export(trace_spans(recorded)) is SpanExportResult.SUCCESS
    assert capture.requests == []


def test_through_a_batch_span_processor(capture: CaptureServer) -> None:
    """The usual set-up: a real provider and BatchSpanProcessor; shutdown flushes everything."""
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(spanhive.SessionExporter(endpoint=capture.url, api_key="k")))
    tracer = provider.get_tracer("t")
    for i in range(50):
        with tracer.start_as_current_span(f"request-{i}"):
            pass
    provider.shutdown()
    assert len({e["event_id"] for e in capture.events() if e["event_type"] != "session"}) == 50
