"""``spanhive relay``: OTLP in, sessions out to a HoneyHive-compatible backend (a real loopback capture server),
through the exporter's delivery. A request is answered ``200`` only once it is delivered or on disk; a relay
that cannot keep more says ``429``/``503`` with ``Retry-After``. Real sockets, real spool files, and for the
outage and ``kill -9`` cases the real ``spanhive relay`` command in a process of its own."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanhive
from spanhive import _ids
from spanhive.server._relay import RelayServer
from tests.capture import CaptureServer, free_port

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _spans(count: int, session: str = "relay-chat", prefix: str = "step") -> list[ReadableSpan]:
    """One trace: a root naming the session, and ``count - 1`` children named ``{prefix}-{i}``."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "relay-app"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span(f"{prefix}-root", attributes={"session.id": session, "input.value": "hi"}):
        for i in range(count - 1):
            with tracer.start_as_current_span(f"{prefix}-{i}", attributes={"openinference.span.kind": "TOOL"}):
                pass
    return list(memory.get_finished_spans())


def _post(url: str, spans: Sequence[ReadableSpan]) -> requests.Response:
    return requests.post(url + "/v1/traces", data=encode_spans(spans).SerializeToString(), headers=PROTOBUF, timeout=30)


def _relay(backend_url: str, tmp_path: Path, **settings: Any) -> RelayServer:
    exporter = spanhive.SessionExporter(
        endpoint=backend_url, api_key="k", spool_dir=tmp_path / "spool", timeout_s=5, **settings
    )
    return RelayServer(exporter, port=0)


def _span_names(backend: CaptureServer) -> list[str]:
    """Names of the span events the backend accepted (2xx), with repeats."""
    with backend._lock:
        accepted = [r for r in backend.requests if 200 <= r.status < 300]
    return [e["event_name"] for r in accepted for e in r.body["events"] if e["event_type"] != "session"]


def _wait(predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_what_the_relay_forwards_is_what_the_exporter_sends_for_the_same_spans(tmp_path: Path) -> None:
    spans = _spans(4)
    with CaptureServer() as relayed, CaptureServer() as direct:
        with _relay(relayed.url, tmp_path) as relay:
            answer = _post(relay.url, spans)
        exporter = spanhive.SessionExporter(endpoint=direct.url, api_key="k", spool_dir=tmp_path / "direct")
        exporter.export(spans)
        exporter.shutdown()
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/x-protobuf"
        (got,), (expected,) = relayed.bodies(), direct.bodies()
    assert relayed.requests[0].headers["authorization"] == "Bearer k"
    assert got == expected  # same ids, same fields, same session: the relay is the exporter, fed over OTLP
    session = _ids.session_id_for("relay-chat")[0]
    assert {e["session_id"] for e in got["events"]} == {session}
    assert sorted(e["event_name"] for e in got["events"]) == ["step-0", "step-1", "step-2", "step-root"]


def test_a_backend_asking_to_wait_is_passed_on_to_senders_as_429(tmp_path: Path) -> None:
    with CaptureServer([(429, {"Retry-After": "30"})]) as backend, _relay(backend.url, tmp_path) as relay:
        first = _post(relay.url, _spans(2, prefix="a"))
        second = _post(relay.url, _spans(2, prefix="b"))
        spooled = relay.exporter.stats.get("spooled")
    assert first.status_code == 200  # taken: it is in the spool, to be sent when the pause ends
    assert spooled == 2  # its two events
    assert second.status_code == 429
    assert 1 <= int(second.headers["Retry-After"]) <= 30
    assert second.headers["Content-Type"] == "application/x-protobuf"  # a google.rpc.Status, in the request's encoding
    assert len(backend.requests) == 1  # the relay did not try the backend again for the second request


def test_a_full_spool_refuses_with_503_and_every_acknowledged_span_arrives(tmp_path: Path) -> None:
    port = free_port()  # the backend is down at first: nothing listens here yet
    with _relay(f"http://127.0.0.1:{port}", tmp_path, spool_max_bytes=6000) as relay:
        acknowledged, refused = [], []
        for n in range(40):
            spans = _spans(5, session=f"s{n}", prefix=f"r{n}")
            answer = _post(relay.url, spans)
            (acknowledged if answer.status_code == 200 else refused).append((n, answer))
            if refused:
                break
        assert refused, "the spool never filled"
        n, answer = refused[0]
        assert answer.status_code == 503
        assert int(answer.headers["Retry-After"]) > 0
        assert len(acknowledged) >= 2
        assert relay.exporter.stats.get("dropped") == 0  # a full relay spool refuses: it never drops what it took
        with CaptureServer(port=port) as backend:
            expected = sorted(s.name for m, _ in acknowledged for s in _spans(5, prefix=f"r{m}"))
            assert _wait(lambda: len(_span_names(backend)) >= len(expected), 30), _span_names(backend)
            assert sorted(_span_names(backend)) == expected
            assert _post(relay.url, _spans(2, prefix="after")).status_code == 200  # room again


# --- the real command, in processes of its own -------------------------------------------------------------


def _start_relay(backend_port: int, spool: Path, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "SPANHIVE_ENDPOINT": f"http://127.0.0.1:{backend_port}",
        "SPANHIVE_API_KEY": "relay-key",
        "SPANHIVE_SPOOL_DIR": str(spool),
        "SPANHIVE_TIMEOUT_SECONDS": "5",
    }
    log = spool.parent / f"relay-{port}-{time.monotonic_ns()}.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "spanhive", "relay", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    process.stdout.close()
    assert "spanhive relay:" in line, log.read_text()
    return process


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


class _Sender(threading.Thread):
    """Posts one small trace after another, as an SDK's exporter would; remembers which were acknowledged."""

    def __init__(self, url: str, spans_per_request: int = 5) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.spans_per_request = spans_per_request
        self.acknowledged: list[str] = []
        self.refused = 0
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            spans = _spans(self.spans_per_request, session=f"sess-{n % 7}", prefix=f"t{n}")
            try:
                answer = _post(self.url, spans)
            except requests.RequestException:
                answer = None
            if answer is not None and answer.status_code == 200:
                self.acknowledged += [s.name for s in spans]
            else:
                self.refused += 1
            n += 1
            time.sleep(0.05)


def test_a_backend_down_for_30_s_then_up_gets_every_acknowledged_span_once(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    backend_port, relay_port = free_port(), free_port()
    processes.append(_start_relay(backend_port, tmp_path / "spool", relay_port))
    sender = _Sender(f"http://127.0.0.1:{relay_port}")
    sender.start()
    time.sleep(30)  # the backend is down: the relay keeps taking requests, into its spool
    with CaptureServer(port=backend_port) as backend:
        time.sleep(3)
        sender.stop.set()
        sender.join(30)
        assert len(sender.acknowledged) > 100
        expected = collections.Counter(sender.acknowledged)
        assert _wait(lambda: len(_span_names(backend)) >= len(sender.acknowledged), 60)
        time.sleep(1)  # anything sent twice would show now
        assert collections.Counter(_span_names(backend)) == expected
        assert all(r.headers["authorization"] == "Bearer relay-key" for r in backend.requests)


def test_a_relay_killed_mid_stream_loses_nothing_it_acknowledged(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    backend_port, relay_port = free_port(), free_port()
    spool = tmp_path / "spool"
    first = _start_relay(backend_port, spool, relay_port)
    processes.append(first)
    sender = _Sender(f"http://127.0.0.1:{relay_port}")
    sender.start()
    assert _wait(lambda: len(sender.acknowledged) > 50, 30)
    first.send_signal(signal.SIGKILL)  # mid-stream: the sender is posting right now
    first.wait(10)
    sender.stop.set()
    sender.join(30)
    acknowledged = collections.Counter(sender.acknowledged)
    with CaptureServer(port=backend_port) as backend:
        processes.append(_start_relay(backend_port, spool, relay_port))  # a new relay on the same spool
        assert _wait(lambda: len(_span_names(backend)) >= len(sender.acknowledged), 60)
        time.sleep(1)
        delivered = collections.Counter(_span_names(backend))
    assert set(delivered) >= set(acknowledged)
    assert all(delivered[name] == 1 for name in acknowledged)  # once each: the spool hands a request out once
    extra = set(delivered) - set(acknowledged)
    assert len(extra) <= 5  # at most the request in flight at the kill: spooled, never answered
