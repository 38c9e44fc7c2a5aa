"""OTLP/HTTP into ``spanhive serve``: the official ``OTLPSpanExporter`` (protobuf, plain and gzip), OTLP's
JSON encoding, and the errors the specification prescribes, over real sockets into a real store. What
arrives is mapped exactly as the exporter maps the same spans."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

import spanhive
from spanhive import _ids
from spanhive.server import IngestServer
from spanhive.store import Store


def _conversation(provider: TracerProvider) -> None:
    """An agent turn as instrumentations write it: a root naming the session, an LLM call, a failing tool."""
    tracer = provider.get_tracer("app", "1.0")
    with tracer.start_as_current_span("agent_run", attributes={"session.id": "otlp-chat", "user.id": "ada"}) as root:
        root.set_attribute("input.value", "Weather in Paris?")
        with tracer.start_as_current_span(
            "ChatCompletion",
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "Weather in Paris?",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "Sunny.",
                "llm.token_count.prompt": 12,
                "llm.token_count.completion": 3,
                "tags": ("a", "b"),
            },
        ):
            pass
        with tracer.start_as_current_span("weather_tool", attributes={"openinference.span.kind": "TOOL"}) as tool:
            tool.record_exception(TimeoutError("weather API timed out"))
            tool.set_status(Status(StatusCode.ERROR))
        root.set_attribute("output.value", "Sunny.")


def _events(store: Store) -> dict[str, dict[str, Any]]:
    (listed,) = store.list_sessions()
    return {e["event_name"]: e for e in store.events(listed["session_id"])}


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip], ids=["plain", "gzip"])
@pytest.mark.parametrize("path", ["/v1/traces", "/opentelemetry/v1/traces"])
def test_the_official_otlp_exporter_lands_as_the_exporter_would_send_it(
    server: IngestServer, tmp_path: Path, compression: Compression, path: str
) -> None:
    resource = Resource.create({"service.name": "weather-bot", "deployment.environment": "staging"})
    otlp = TracerProvider(resource=resource)
    otlp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=server.url + path, compression=compression)))
    _conversation(otlp)
    otlp.shutdown()
    received = _events(server.store)

    direct_store = tmp_path / "direct.db"
    direct = TracerProvider(resource=resource)
    direct.add_span_processor(SimpleSpanProcessor(spanhive.SessionExporter(endpoint=f"sqlite:///{direct_store}")))
    memory = InMemorySpanExporter()
    direct.add_span_processor(SimpleSpanProcessor(memory))
    _conversation(direct)
    direct.shutdown()
    store = Store(direct_store)
    try:
        expected = _events(store)
    finally:
        store.close()

    assert sorted(received) == ["ChatCompletion", "agent_run", "weather_tool"]
    session = _ids.session_id_for("otlp-chat")[0]
    assert {e["session_id"] for e in received.values()} == {session}
    assert received["agent_run"]["project"] == "weather-bot"
    assert received["agent_run"]["source"] == "staging"
    assert received["ChatCompletion"]["event_type"] == "model"
    assert received["ChatCompletion"]["inputs"]["chat_history"] == [{"role": "user", "content": "Weather in Paris?"}]
    assert received["weather_tool"]["error"].startswith("TimeoutError: weather API timed out")
    assert all(e["user_properties"] == {"user_id": "ada"} for e in received.values())
    for name, event in expected.items():  # the same mapping: only ids and times differ between the two runs
        got = received[name]
        for field in ("event_type", "inputs", "outputs", "config", "metrics", "feedback", "user_properties"):
            assert got[field] == event[field], (name, field)
        skip = {"trace_id", "span_id"}
        assert {k: v for k, v in got["metadata"].items() if k not in skip} == {
            k: v for k, v in event["metadata"].items() if k not in skip
        }, name


def _json_request() -> dict[str, Any]:
    """A request in OTLP's JSON encoding: hex ids, enum integers, 64-bit integers as strings, nested values."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "handwritten", "version": "0.1"},
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "handle",
                                "kind": 2,
                                "startTimeUnixNano": "1764000000000000000",
                                "endTimeUnixNano": "1764000000250000000",
                                "attributes": [
                                    {"key": "session.id", "value": {"stringValue": "json-session"}},
                                    {"key": "http.response.status_code", "value": {"intValue": "200"}},
                                    {"key": "retry", "value": {"boolValue": True}},
                                    {"key": "ratio", "value": {"doubleValue": 0.5}},
                                    {
                                        "key": "tags",
                                        "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": "2"}]}},
                                    },
                                    {
                                        "key": "request",
                                        "value": {
                                            "kvlistValue": {"values": [{"key": "path", "value": {"stringValue": "/"}}]}
                                        },
                                    },
                                ],
                                "status": {"code": 2, "message": "upstream failed"},
                            },
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b175",
                                "parentSpanId": "eee19b7ec3c1b174",
                                "name": "query",
                                "kind": 3,
                                "startTimeUnixNano": "1764000000010000000",
                                "endTimeUnixNano": "1764000000020000000",
                            },
                        ],
                    }
                ],
            }
        ]
    }


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_otlp_json_is_read_with_hex_ids_enum_integers_and_nested_values(server: IngestServer, gzipped: bool) -> None:
    data = json.dumps(_json_request()).encode()
    headers = {"Content-Type": "application/json"}
    if gzipped:
        data, headers = gzip.compress(data), {**headers, "Content-Encoding": "gzip"}
    answer = requests.post(server.url + "/v1/traces", data=data, headers=headers, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {}
    events = _events(server.store)
    handle, query = events["handle"], events["query"]
    trace_id = int("5b8efff798038103d269b633813fc60c", 16)
    assert handle["event_id"] == _ids.event_id(trace_id, int("eee19b7ec3c1b174", 16))
    assert query["parent_id"] == handle["event_id"]
    assert handle["session_id"] == query["session_id"] == _ids.session_id_for("json-session")[0]
    assert handle["project"] == "json-svc"
    assert handle["duration"] == 250.0
    assert handle["error"] == "upstream failed"
    metadata = handle["metadata"]
    assert metadata["http.response.status_code"] == 200
    assert metadata["retry"] is True
    assert metadata["ratio"] == 0.5
    assert metadata["tags"] == ["x", 2]
    assert metadata["request"] == {"path": "/"}


def test_a_protobuf_request_gets_a_protobuf_answer(server: IngestServer) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: PLC0415 - only here

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("one"):
        pass
    data = encode_spans(memory.get_finished_spans()).SerializeToString()
    answer = requests.post(
        server.url + "/v1/traces", data=data, headers={"Content-Type": "application/x-protobuf"}, timeout=10
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/x-protobuf"
    ExportTraceServiceResponse().ParseFromString(answer.content)  # a valid message
    assert [e["event_name"] for e in _events(server.store).values()] == ["one"]


@pytest.mark.parametrize(
    ("content_type", "data", "status"),
    [
        ("text/plain", b"{}", 415),
        (None, b"{}", 415),
        ("application/x-protobuf", b"\xff\xff\xff not protobuf", 400),
        ("application/json", b"not json", 400),
        ("application/json", b"[1, 2]", 400),
        ("application/json", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}), 400),
    ],
    ids=["text-plain", "no-type", "bad-protobuf", "bad-json", "not-an-object", "non-hex-id"],
)
def test_what_is_not_otlp_is_refused_and_nothing_is_stored(
    server: IngestServer, content_type: Any, data: Any, status: int
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = requests.post(server.url + "/v1/traces", data=data, headers=headers, timeout=10)
    assert answer.status_code == status
    assert server.store.list_sessions() == []


def test_errors_come_back_as_a_google_rpc_status_in_the_requests_encoding(server: IngestServer) -> None:
    """As OTLP/HTTP prescribes, read back with the official message definitions."""
    from google.rpc.status_pb2 import Status as RpcStatus  # noqa: PLC0415 - only here

    answer = requests.post(
        server.url + "/v1/traces", data=b"\xff\xff", headers={"Content-Type": "application/x-protobuf"}, timeout=10
    )
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/x-protobuf"
    status = RpcStatus()
    status.ParseFromString(answer.content)
    assert status.code == 3  # INVALID_ARGUMENT
    assert "not an OTLP protobuf trace request" in status.message
    answer = requests.post(
        server.url + "/v1/traces", data=b"nope", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["code"] == 3
    assert "not an OTLP JSON trace request" in answer.json()["message"]


def test_invalid_spans_are_rejected_by_count_and_the_rest_stored(server: IngestServer) -> None:
    request = _json_request()
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append({**spans[1], "spanId": "0000000000000000", "name": "bad"})
    answer = requests.post(server.url + "/v1/traces", json=request, timeout=10)
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    assert "invalid trace or span id" in partial["errorMessage"]
    assert sorted(_events(server.store)) == ["handle", "query"]


def test_a_saturated_server_answers_503_with_retry_after_and_takes_it_later(tmp_path: Path) -> None:
    """A writer busy past what the server takes in at once: the next sender is told when to come back, in
    OTLP's own error body, and the request already taken is stored once the writer gets through."""
    import sqlite3  # noqa: PLC0415 - only here
    import threading  # noqa: PLC0415 - only here

    from google.rpc.status_pb2 import Status as RpcStatus  # noqa: PLC0415 - only here
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: PLC0415 - only here

    def request(name: str) -> bytes:
        memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        with provider.get_tracer("t").start_as_current_span(name):
            pass
        return bytes(encode_spans(memory.get_finished_spans()).SerializeToString())

    def post(data: bytes) -> requests.Response:
        headers = {"Content-Type": "application/x-protobuf"}
        return requests.post(server.url + "/v1/traces", data=data, headers=headers, timeout=30)

    store = Store(tmp_path / "busy.db")
    with IngestServer(store, port=0, max_inflight=1) as server:
        blocker = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # another process holding the database: the store's writer waits
        first: list[requests.Response] = []
        taken = threading.Thread(target=lambda: first.append(post(request("taken"))))
        taken.start()
        time.sleep(0.5)  # the first request is in, waiting for the writer
        refused = post(request("refused"))
        blocker.execute("ROLLBACK")
        blocker.close()
        taken.join(30)
    try:
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        status = RpcStatus()
        status.ParseFromString(refused.content)
        assert status.code == 14  # UNAVAILABLE: the OTLP exporters retry it
        assert first[0].status_code == 200
        assert [e["event_name"] for e in _events(store).values()] == ["taken"]
    finally:
        store.close()
