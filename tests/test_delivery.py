"""Delivery under faults, against real loopback servers: outages, rate limits, size limits, bad keys, shutdown."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
from opentelemetry.sdk.trace import ReadableSpan, Tracer, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanhive
from spanhive import _ids
from spanhive._config import resolve
from spanhive._pipeline.sinks import Request
from spanhive._pipeline.sinks.http import HttpSink
from spanhive._retry import Verdict
from spanhive._spool import Spool
from spanhive._stats import Stats
from tests.capture import CaptureServer, SilentServer, closed_port_url, free_port

Recorded = tuple[TracerProvider, InMemorySpanExporter]


def spans_of(recorded: Recorded, traces: int, children: int = 3, **attributes: Any) -> Sequence[ReadableSpan]:
    provider, memory = recorded
    memory.clear()
    tracer = provider.get_tracer("t")
    for t in range(traces):
        with tracer.start_as_current_span(f"root{t}", attributes=attributes):
            for c in range(children):
                with tracer.start_as_current_span(f"child{t}.{c}", attributes=attributes):
                    pass
    return memory.get_finished_spans()


def exporter_for(url: str, tmp_path: Path, **settings: Any) -> spanhive.SessionExporter:
    settings.setdefault("timeout_s", 1)
    return spanhive.SessionExporter(endpoint=url, api_key="k", spool_dir=tmp_path / "spool", **settings)


def wait_for(condition: Any, timeout_s: float = 20.0) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def span_latencies(tracer: Tracer, count: int) -> list[float]:
    """Seconds each of ``count`` spans took from start to end, as the application thread sees it."""
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        with tracer.start_as_current_span(f"request-{i}"):
            pass
        latencies.append(time.perf_counter() - started)
    return latencies


def span_ids(spans: Sequence[ReadableSpan]) -> set[str]:
    return {_ids.event_id(s.context.trace_id, s.context.span_id) for s in spans}


def test_an_outage_longer_than_the_deadline_loses_nothing(recorded: Recorded, tmp_path: Path) -> None:
    """503 beyond the export deadline: batches are spooled, then replayed once the server recovers."""
    spans = spans_of(recorded, traces=6)
    with CaptureServer() as server:
        server.fail_with = 503
        exporter = exporter_for(server.url, tmp_path, timeout_s=0.5)
        for i in range(0, len(spans), 8):
            assert exporter.export(spans[i : i + 8]) is SpanExportResult.SUCCESS  # durably spooled
        assert exporter.spool is not None
        status = exporter.spool.status()
        assert status.files + status.claimed == 3  # one may be in the drainer's hands right now
        server.fail_with = None
        wait_for(lambda: exporter.stats.get("replayed") == len(spans))
        delivered = server.delivered_event_ids()
    assert len(delivered) == len(set(delivered)) == len(spans)  # exactly once
    assert exporter.stats.get("replayed") == len(spans)
    assert exporter.stats.get("spooled") == len(spans)


def test_refused_connections_then_recovery(recorded: Recorded, tmp_path: Path) -> None:
    """The server is down (connection refused), then comes up on the same port: everything arrives once."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    spans = spans_of(recorded, traces=4)
    exporter = exporter_for(url, tmp_path, timeout_s=0.3)
    for i in range(0, len(spans), 4):
        exporter.export(spans[i : i + 4])
    assert exporter.stats.get("spooled") == len(spans)
    with CaptureServer(port=port) as server:
        assert exporter.force_flush(20_000)
        delivered = server.delivered_event_ids()
    assert sorted(delivered) == sorted(span_ids(spans))


def test_the_app_thread_is_not_blocked_during_an_outage(tmp_path: Path) -> None:
    """With the batch processor, the app thread never waits on the network: while the backend holds an export
    unanswered, the application goes on ending thousands of spans (were it waiting on that export, it could
    not end one until the backend answered)."""
    held = threading.Event()
    with CaptureServer() as server:
        server.gate = held
        provider = TracerProvider()
        exporter = exporter_for(server.url, tmp_path, timeout_s=120)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
        tracer = provider.get_tracer("t")
        with tracer.start_as_current_span("first"):
            pass
        assert server.wait_for(1, timeout_s=20)  # an export is now in flight, and stays so
        app = threading.Thread(target=span_latencies, args=(tracer, 3000), daemon=True)
        app.start()
        app.join(timeout=60)
        ended_all_while_held = not app.is_alive() and not held.is_set()
        held.set()
        provider.shutdown()
    assert ended_all_while_held


def test_retry_after_on_429_pauses_every_batch(recorded: Recorded, tmp_path: Path) -> None:
    """The batch that got the 429 and the one after it are spooled at once; the drainer sends both, and not
    before the time the server asked for."""
    spans = spans_of(recorded, traces=2)
    with CaptureServer([(429, {"Retry-After": "2"})]) as server:
        exporter = exporter_for(server.url, tmp_path, timeout_s=10)
        assert exporter.export(spans[:4]) is SpanExportResult.SUCCESS
        assert exporter.export(spans[4:]) is SpanExportResult.SUCCESS
        assert len(server.requests) == 1  # the second export did not try: the server asked to wait
        wait_for(lambda: len(server.delivered_event_ids()) == len(spans))
        times = [r.at for r in server.requests]
    assert len(times) == 3
    assert min(times[1:]) - times[0] >= 1.95  # no request before the time the server asked for


def test_413_splits_down_until_the_server_accepts(recorded: Recorded, tmp_path: Path) -> None:
    spans = spans_of(recorded, traces=8, **{"honeyhive_inputs.text": "x" * 300})
    with CaptureServer(max_body=3000) as server:
        exporter = exporter_for(server.url, tmp_path, timeout_s=10)  # one deadline covers every split request
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        statuses = [r.status for r in server.requests]
        delivered = server.delivered_event_ids()
    assert statuses[0] == 413
    assert sorted(delivered) == sorted(span_ids(spans))


def test_batches_over_our_own_limit_are_split_before_sending(recorded: Recorded, tmp_path: Path) -> None:
    spans = spans_of(recorded, traces=10, **{"honeyhive_inputs.text": "y" * 500})
    with CaptureServer() as server:
        exporter = exporter_for(server.url, tmp_path, max_request_bytes=8000)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        sizes = [len(r.body_json) for r in server.requests]
        delivered = server.delivered_event_ids()
    assert len(sizes) > 1
    assert max(sizes) <= 8000
    assert sorted(delivered) == sorted(span_ids(spans))


def test_a_lone_event_over_the_limit_is_cut_not_dropped(recorded: Recorded, tmp_path: Path) -> None:
    spans = spans_of(recorded, traces=1, children=0, **{"honeyhive_inputs.document": "z" * 50_000})
    with CaptureServer() as server:
        exporter = exporter_for(server.url, tmp_path, max_request_bytes=10_000)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        (request,) = server.requests
    assert len(request.body_json) <= 10_000
    document = request.body["events"][0]["inputs"]["document"]
    assert document.startswith("zzz")
    assert "…[truncated " in document
    assert exporter.stats.get("truncated") >= 1  # the event's value, and its copy in the session record


def test_401_cools_off_and_says_so_once(recorded: Recorded, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spans = spans_of(recorded, traces=3)
    with CaptureServer() as server, caplog.at_level(logging.ERROR, logger="spanhive"):
        server.fail_with = 401
        exporter = exporter_for(server.url, tmp_path)
        for i in range(0, len(spans), 4):
            assert exporter.export(spans[i : i + 4]) is SpanExportResult.SUCCESS  # durably spooled
        requests_seen = len(server.requests)
    assert requests_seen == 1  # the others never left the process during the cool-off
    assert caplog.text.count("rejected the API key") == 1
    assert exporter.spool is not None
    assert exporter.spool.status().events == len(spans)  # kept for when the key is fixed


def test_permanent_rejections_are_dropped_and_counted(recorded: Recorded, tmp_path: Path) -> None:
    spans = spans_of(recorded, traces=1)
    with CaptureServer([422]) as server:
        exporter = exporter_for(server.url, tmp_path)
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert len(server.requests) == 1
    assert exporter.stats.get("dropped") == len(spans)
    assert exporter.spool is not None
    assert exporter.spool.status().files == 0  # not spooled forever


def test_a_500_partial_success_is_counted_not_retried(
    recorded: Recorded, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spans = spans_of(recorded, traces=1)
    stored = sorted(span_ids(spans))[:3]
    with CaptureServer() as server:
        server.reply_body = json.dumps({"event_ids": stored, "errors": ["bad event"]})
        server.fail_with = 500
        exporter = exporter_for(server.url, tmp_path)
        exporter.export(spans)
        assert len(server.requests) == 1
    assert (exporter.stats.get("exported"), exporter.stats.get("rejected")) == (3, 1)
    assert "stored 3 events and rejected 1" in caplog.text


def test_shutdown_with_a_dead_backend_is_bounded_and_keeps_the_batch(tmp_path: Path) -> None:
    with CaptureServer() as server:
        server.fail_with = 503
        exporter = exporter_for(server.url, tmp_path, timeout_s=30)
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer = provider.get_tracer("t")
        for i in range(20):
            with tracer.start_as_current_span(f"work-{i}"):
                pass
        started = time.monotonic()
        threading.Timer(0.5, lambda: exporter.shutdown(timeout_millis=1000)).start()
        provider.shutdown()  # flushes: the export waits on 503 backoff until shutdown interrupts it
        elapsed = time.monotonic() - started
    assert elapsed < 3
    assert exporter.spool is not None
    assert exporter.spool.status().events == 20


def test_replay_by_the_next_process(recorded: Recorded, tmp_path: Path) -> None:
    """A new exporter on the same spool directory sends what an earlier one left, without being asked."""
    spans = spans_of(recorded, traces=2)
    spool = Spool(tmp_path / "spool", 10**8, Stats())
    with CaptureServer() as server:
        server.fail_with = 503
        first = exporter_for(server.url, tmp_path, timeout_s=0.3)
        first.export(spans)
        first.shutdown()
        assert spool.status().files == 1
        server.fail_with = None
        exporter_for(server.url, tmp_path)
        wait_for(lambda: len(server.delivered_event_ids()) == len(spans))
    assert spool.status().files == 0


def test_flush_reports_real_delivery(recorded: Recorded, tmp_path: Path) -> None:
    spans = spans_of(recorded, traces=1)
    with CaptureServer() as server:
        server.fail_with = 503
        exporter = exporter_for(server.url, tmp_path, timeout_s=0.3)
        exporter.export(spans)
        assert spanhive.flush(timeout_s=1) is False  # still in the spool: not delivered
        server.fail_with = None
        assert spanhive.flush(timeout_s=10) is True
        assert sorted(server.delivered_event_ids()) == sorted(span_ids(spans))


def test_two_processes_replaying_one_spool_send_each_event_once(recorded: Recorded, tmp_path: Path) -> None:
    """``spanhive spool replay`` twice at once on the same directory: every event arrives exactly once."""
    spool_dir = tmp_path / "spool"
    spans = spans_of(recorded, traces=60, children=1)
    exporter = exporter_for(closed_port_url(), tmp_path, timeout_s=0.05)
    for i in range(0, len(spans), 2):
        exporter.export(spans[i : i + 2])
    exporter.shutdown()
    with CaptureServer() as server:
        env = {**os.environ, "SPANHIVE_SPOOL_DIR": str(spool_dir), "SPANHIVE_ENDPOINT": server.url}
        env["SPANHIVE_API_KEY"] = "k"
        replays = [
            subprocess.Popen([sys.executable, "-m", "spanhive", "spool", "replay"], env=env, stdout=subprocess.PIPE)
            for _ in range(2)
        ]
        for process in replays:
            process.communicate(timeout=60)
        delivered = server.delivered_event_ids()
    assert len(delivered) == len(set(delivered)) == len(spans)
    assert set(delivered) == span_ids(spans)


@pytest.mark.parametrize("own_session", [False, True], ids=["urllib3", "requests-session"])
def test_our_own_http_calls_are_never_traced(recorded: Recorded, tmp_path: Path, own_session: bool) -> None:
    """With the ``requests`` and ``urllib3`` instrumentations active, exporting makes no span of its own
    POSTs, whether spanhive sends through urllib3 itself or through a caller's ``requests`` session; called
    here outside the SDK's processors, which suppress instrumentation around an export of their own."""
    spans = spans_of(recorded, traces=1)
    instrumentors = [RequestsInstrumentor(), URLLib3Instrumentor()]
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with CaptureServer([503]) as server:
        session = requests.Session() if own_session else None
        exporter = exporter_for(server.url, tmp_path, timeout_s=5, http_session=session)
        for instrumentor in instrumentors:
            instrumentor.instrument(tracer_provider=provider)
        try:
            assert exporter.export(spans) is SpanExportResult.SUCCESS  # a 503 first: kept in the spool
            assert exporter.force_flush(10_000)  # and replayed from it, instrumented too
            requests.get(server.url + "/", timeout=5)  # the application's own calls *are* traced
            urllib3.PoolManager().request("GET", server.url + "/", timeout=5)
        finally:
            for instrumentor in instrumentors:
                instrumentor.uninstrument()
        assert [r.status for r in server.requests][:2] == [503, 200]  # exports really went over HTTP, retried
    names = [span.name for span in memory.get_finished_spans()]
    assert names.count("POST") == 0
    assert names.count("GET") >= 2


def test_log_level_prints_to_stderr_when_logging_is_not_configured(tmp_path: Path) -> None:
    code = "import spanhive, logging; spanhive.SessionExporter(); logging.getLogger('spanhive').info('hello')"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANHIVE_", "HH_"))}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "SPANHIVE_LOG_LEVEL": "info"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "spanhive INFO hello" in result.stderr
    quiet = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "hello" not in quiet.stderr


def test_the_default_spool_never_replays_to_another_endpoint(recorded: Recorded) -> None:
    """Batches spooled for one destination are not sent to another exporter's endpoint."""
    spans = spans_of(recorded, traces=1)
    dead = spanhive.SessionExporter(endpoint=closed_port_url(), api_key="k", timeout_s=0.2)
    dead.export(spans)
    dead.shutdown()
    assert dead.spool is not None
    assert dead.spool.status().files == 1
    with CaptureServer() as server:
        other = spanhive.SessionExporter(endpoint=server.url, api_key="k")
        assert other.spool is not None
        assert other.spool.directory != dead.spool.directory
        assert other.force_flush(5_000)
        assert server.requests == []
    assert dead.spool.status().files == 1  # still waiting for its own endpoint


class _HangUp:
    """A server that reads each request and closes the connection without an answer: what a keep-alive
    socket the server already dropped looks like to the next request."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)

    def close(self) -> None:
        self._sock.close()


@pytest.mark.parametrize("own_session", [False, True], ids=["urllib3", "requests-session"])
def test_network_failures_are_named_and_judged_alike_whichever_sends(own_session: bool) -> None:
    """Refused, silent (a read timeout) and hung up (a broken keep-alive socket): each is retried, and named
    as ``requests`` names it, through spanhive's own pool or a caller's ``requests`` session."""
    silent, hang_up = SilentServer(), _HangUp()
    expected = {
        closed_port_url(): ("ConnectionError from ", "Connection refused", False),
        silent.url: ("ReadTimeout from ", "timed out", False),
        hang_up.url: ("ConnectionError from ", "Connection aborted", True),
    }
    try:
        for url, (name, reason, stale) in expected.items():
            session = requests.Session() if own_session else None
            sink = HttpSink(resolve(endpoint=url, api_key="k", environ={}), session)
            attempt = sink.send(Request("identity", wire=b"{}", events=1), timeout_s=0.5)
            assert attempt.verdict is Verdict.RETRY, attempt
            assert attempt.detail.startswith(name), attempt.detail
            assert reason in attempt.detail, attempt.detail
            assert attempt.stale_connection is stale, attempt
            sink.close()
    finally:
        silent.__exit__()
        hang_up.close()
