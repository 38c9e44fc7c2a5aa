"""A fleet on one machine: 4 ``spanhive relay`` processes on one port (``SO_REUSEPORT``), fed by 4 producer
processes (3 with the official ``OTLPSpanExporter``, protobuf; 1 sending OTLP/JSON), 200,000 spans, into a
loopback backend that counts what it receives. Every span arrives exactly once, by event id, in the session
its producer gave it."""

from __future__ import annotations

import collections
import gzip
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from spanhive import _ids
from tests.capture import free_port

RELAYS = 4
PRODUCERS = 4
SPANS = 200_000
SPANS_PER_TRACE = 10

_PRODUCER = """
import base64, json, sys
import requests
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from google.protobuf import json_format

url, encoding, number, spans, per_trace, out = sys.argv[1:7]
number, spans, per_trace = int(number), int(spans), int(per_trace)


class JsonExporter(SpanExporter):
    # OTLP/JSON as the specification encodes it: the protobuf JSON mapping with hex ids
    def export(self, batch):
        body = json_format.MessageToDict(encode_spans(batch))
        for resource in body["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = base64.b64decode(span[key]).hex()
        answer = requests.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=30)
        return SpanExportResult.SUCCESS if answer.status_code == 200 else SpanExportResult.FAILURE


exporter = OTLPSpanExporter(endpoint=url) if encoding == "protobuf" else JsonExporter()
provider = TracerProvider(resource=Resource.create({"service.name": f"producer-{number}"}))
provider.add_span_processor(
    BatchSpanProcessor(exporter, max_queue_size=spans + 1, max_export_batch_size=512, schedule_delay_millis=50)
)
tracer = provider.get_tracer("fleet")
made = []
for t in range(spans // per_trace):
    session = f"p{number}-s{t % 50}"
    with tracer.start_as_current_span("turn", attributes={"session.id": session, "input.value": f"q{t}"}) as root:
        made.append((root.get_span_context(), session))
        for c in range(per_trace - 1):
            with tracer.start_as_current_span(f"step-{c}", attributes={"session.id": session}) as child:
                made.append((child.get_span_context(), session))
assert provider.force_flush(120_000)
provider.shutdown()
with open(out, "w") as handle:
    json.dump([[c.trace_id, c.span_id, s] for c, s in made], handle)
"""


class _Counter:
    """A backend that counts event ids and remembers each one's session, keeping no bodies."""

    def __init__(self) -> None:
        self.seen: collections.Counter[str] = collections.Counter()
        self.session_of: dict[str, str] = {}
        self.requests = 0
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per keep-alive request

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = json.loads(gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw)
                with lock:
                    owner.requests += 1
                    for event in body["events"]:
                        if event["event_type"] != "session":
                            owner.seen[event["event_id"]] += 1
                            owner.session_of[event["event_id"]] = event["session_id"]
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def total(self) -> int:
        return sum(self.seen.values())


def test_four_relays_on_one_port_deliver_200k_spans_from_four_producers_exactly_once(tmp_path: Path) -> None:
    backend = _Counter()
    port = free_port()
    env = {
        **os.environ,
        "SPANHIVE_ENDPOINT": f"http://127.0.0.1:{backend.server.server_address[1]}",
        "SPANHIVE_API_KEY": "fleet",
        "SPANHIVE_SPOOL_DIR": str(tmp_path / "spool"),
    }
    relays = []
    for n in range(RELAYS):
        with (tmp_path / f"relay-{n}.log").open("w") as log:
            relays.append(
                subprocess.Popen(
                    [sys.executable, "-m", "spanhive", "relay", "--port", str(port), "--reuse-port"],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                )
            )
    producers = []
    try:
        for relay in relays:
            assert relay.stdout is not None
            assert "spanhive relay:" in relay.stdout.readline()
            relay.stdout.close()
        url = f"http://127.0.0.1:{port}/v1/traces"
        for n in range(PRODUCERS):
            encoding = "json" if n == 0 else "protobuf"
            out = tmp_path / f"made-{n}.json"
            args = [url, encoding, str(n), str(SPANS // PRODUCERS), str(SPANS_PER_TRACE), str(out)]
            producers.append(subprocess.Popen([sys.executable, "-c", _PRODUCER, *args], stderr=subprocess.PIPE))
        for producer in producers:
            _, err = producer.communicate(timeout=600)
            assert producer.returncode == 0, err.decode()[-2000:]
        deadline = time.monotonic() + 120
        while backend.total < SPANS and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # anything sent twice would show now
    finally:
        for process in relays + producers:
            if process.poll() is None:
                process.terminate()
        for process in relays + producers:
            process.wait(30)
        backend.server.shutdown()
        backend.server.server_close()
    expected: dict[str, str] = {}
    for n in range(PRODUCERS):
        for trace_id, span_id, session in json.loads((tmp_path / f"made-{n}.json").read_text()):
            expected[_ids.event_id(trace_id, span_id)] = _ids.session_id_for(session)[0]
    assert len(expected) == SPANS
    assert set(backend.seen) == set(expected)
    assert set(backend.seen.values()) == {1}  # exactly once each
    assert backend.session_of == expected  # every span in its producer's session
    logs = "".join((tmp_path / f"relay-{n}.log").read_text() for n in range(RELAYS))
    assert "Traceback" not in logs
