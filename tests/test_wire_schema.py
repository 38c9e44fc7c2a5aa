"""What the exporter sends, against HoneyHive's data-plane schema (``tests/schemas/honeyhive/``, which every
body a capture server receives is checked against): field by field for the deprecated names, and the
endpoint mistakes that used to lose data."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

import spanhive
from spanhive.server import IngestServer
from tests.capture import CaptureServer, _schema_errors
from tests.test_exporter import Recorded, trace_spans


def test_the_schema_refuses_what_older_versions_sent() -> None:
    """The check the capture server runs can fail: the shape spanhive sent before breaks it three ways."""
    old = {
        "events": [{"event_type": "session", "event_id": "s", "session_id": "s", "parent_id": None}],
        "is_single_session": True,
        "session_properties": {"session_name": None},
    }
    errors = _schema_errors(old)
    assert any(e.startswith("events/0/parent_id: None") for e in errors)
    assert any(e.startswith("session_properties/session_name: None") for e in errors)
    assert _schema_errors({"single_session": True}) == [": 'events' is a required property"]


def test_one_session_goes_with_the_current_field_names(recorded: Recorded, capture: CaptureServer) -> None:
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k")
    exporter.export(trace_spans(recorded))
    (body,) = capture.bodies()
    assert body["single_session"] is True
    assert "is_single_session" not in body  # deprecated alias of single_session
    assert "session" not in body  # deprecated alias of session_properties
    props = body["session_properties"]
    assert props["start_time"] == min(e["start_time"] for e in body["events"])
    assert all(e["project"] == "test-app" for e in body["events"])  # deprecated, still taken on this route


def test_several_sessions_carry_session_events_without_a_null_parent(
    recorded: Recorded, capture: CaptureServer
) -> None:
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k")
    exporter.export(trace_spans(recorded, traces=3, children=1))
    (body,) = capture.bodies()
    assert body["single_session"] is False
    sessions = [e for e in body["events"] if e["event_type"] == "session"]
    assert len(sessions) == 3
    assert all("parent_id" not in e for e in sessions)  # a string in the schema; a session has none
    assert all(isinstance(e["parent_id"], str) for e in body["events"] if e["event_type"] != "session")


def test_an_unnamed_session_leaves_its_name_out(recorded: Recorded, capture: CaptureServer) -> None:
    """A session name is a string in the schema: a session with no name sends none, rather than null."""
    provider, memory = recorded
    provider.get_tracer("t").start_span("lonely", attributes={"session.id": "s1"}).end()
    spans = list(memory.get_finished_spans())
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k")
    exporter.export(spans)
    (body,) = capture.bodies()
    assert body["session_properties"].get("session_name", "") is not None


def test_an_endpoint_ending_in_a_route_is_cut_back_with_one_warning(
    server: IngestServer, recorded: Recorded, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="spanhive"):
        exporter = spanhive.SessionExporter(endpoint=server.url + "/events/batch", api_key="k")
    assert exporter.settings.endpoint == server.url
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "endpoint=" in warning
    assert "ends in /events/batch" in warning
    assert exporter.export(trace_spans(recorded)) is SpanExportResult.SUCCESS
    assert len(server.store.list_sessions()) == 1


def test_a_wrong_endpoint_keeps_every_batch_says_so_once_and_doctor_names_the_fix(
    server: IngestServer, recorded: Recorded, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong, spool = server.url + "/api", tmp_path / "spool"
    exporter = spanhive.SessionExporter(endpoint=wrong, api_key="k", spool_dir=spool)
    with caplog.at_level(logging.ERROR, logger="spanhive"):
        assert exporter.export(trace_spans(recorded, traces=1)) is SpanExportResult.SUCCESS  # kept, durably
        assert exporter.export(trace_spans(recorded, traces=1)) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert exporter.stats.get("dropped") == 0
    assert exporter.stats.get("spooled") > 0
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]  # one, however many batches
    assert f"{wrong}/events/batch answered HTTP 404" in error
    assert "SPANHIVE_ENDPOINT" in error

    env = {**os.environ, "SPANHIVE_ENDPOINT": wrong, "SPANHIVE_API_KEY": "k", "SPANHIVE_SPOOL_DIR": str(spool)}
    doctor = subprocess.run(
        [sys.executable, "-m", "spanhive", "doctor"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert doctor.returncode == 1
    assert "Reachable  no: HTTP 404" in doctor.stdout
    assert "the endpoint is wrong" in doctor.stdout
    assert "base URL" in doctor.stdout

    fixed = spanhive.SessionExporter(endpoint=server.url, api_key="k", spool_dir=spool)
    assert fixed.force_flush(10_000)
    fixed.shutdown()
    events = [e for s in server.store.list_sessions() for e in server.store.events(s["session_id"])]
    assert len(events) == len(recorded[1].get_finished_spans())  # every span of both exports, none lost


def test_a_server_that_refuses_gzip_gets_the_same_body_plain_and_from_then_on(
    recorded: Recorded, capture: CaptureServer, caplog: pytest.LogCaptureFixture
) -> None:
    """HoneyHive documents nothing about compressed bodies: gzip stays the default (5 to 8 times fewer
    bytes), and a server that cannot read it costs one extra request, not a batch."""
    capture.refuse_gzip = True
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k")
    with caplog.at_level(logging.WARNING, logger="spanhive"):
        assert exporter.export(trace_spans(recorded, traces=1)) is SpanExportResult.SUCCESS
        assert exporter.export(trace_spans(recorded, traces=2)) is SpanExportResult.SUCCESS
    assert [(r.status, r.headers.get("content-encoding")) for r in capture.requests] == [
        (415, "gzip"), (200, None), (200, None)
    ]  # fmt: skip
    assert capture.requests[0].body == capture.requests[1].body  # the same JSON, uncompressed
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "refused a gzip body (HTTP 415)" in warning
    assert exporter.stats.get("dropped") == 0


def test_once_gzip_is_taken_a_400_is_about_the_data(recorded: Recorded, capture: CaptureServer) -> None:
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", spool_dir="off")
    assert exporter.export(trace_spans(recorded, traces=1)) is SpanExportResult.SUCCESS
    capture.replies.extend([400, 400])
    assert exporter.export(trace_spans(recorded, traces=1)) is SpanExportResult.FAILURE  # refused for good
    assert [(r.status, r.headers.get("content-encoding")) for r in capture.requests] == [(200, "gzip"), (400, "gzip")]
