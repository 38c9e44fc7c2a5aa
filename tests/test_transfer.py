"""``spanhive export`` and ``spanhive import`` over real stores: batch bodies round-trip exactly and import
once however often they are imported; OTLP/JSON lines as the Collector's ``file`` exporter writes them
store what the exporter stores for the same spans."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

import spanhive
from spanhive._cli import main
from spanhive.store import Store
from tests.conftest import make_provider, needs_peers


def _app(provider: Any) -> None:
    """A conversation in two traces of one session, a tool call with an error, and an unfinished-looking
    child exported before its root."""
    tracer = provider.get_tracer("app")
    for turn, question in enumerate(("Where is my parcel?", "And the refund?")):
        with tracer.start_as_current_span("answer", attributes={"session.id": "chat-7", "user.id": "ada"}):
            with tracer.start_as_current_span(
                "llm",
                attributes={
                    "openinference.span.kind": "LLM",
                    "llm.model_name": "gpt-4o-mini",
                    "llm.input_messages.0.message.role": "user",
                    "llm.input_messages.0.message.content": question,
                    "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.content": f"answer {turn}",
                    "llm.token_count.prompt": 12,
                    "llm.token_count.completion": 3,
                },
            ):
                pass
            span = tracer.start_span("lookup", attributes={"openinference.span.kind": "TOOL", "input.value": "p-1"})
            with trace.use_span(span, end_on_exit=True):
                span.record_exception(TimeoutError("carrier API timed out"))


@pytest.fixture
def spans() -> list[ReadableSpan]:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: PLC0415

    memory = InMemorySpanExporter()
    provider = make_provider(memory, **{"service.name": "support"})
    _app(provider)
    provider.shutdown()
    return list(memory.get_finished_spans())


@pytest.fixture
def exported(tmp_path: Path, spans: list[ReadableSpan]) -> Store:
    """What SessionExporter stored for the spans."""
    path = tmp_path / "exported.db"
    exporter = spanhive.SessionExporter(endpoint=f"sqlite:///{path}")
    exporter.export(spans)
    exporter.shutdown()
    return Store(path, readonly=True)


def _everything(store: Store) -> dict[str, dict[str, Any]]:
    return {sid: store.batch(sid) or {} for sid in store.session_ids()}


def test_json_export_imports_as_it_was_and_twice_stores_once(
    tmp_path: Path, exported: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    (session_id,) = exported.session_ids()
    out = tmp_path / "sessions.jsonl"
    assert main(["export", session_id[:8], "--db", str(exported.path), "-o", str(out)]) == 0
    assert capsys.readouterr().err == f"Wrote 1 sessions to {out} (json).\n"
    target = tmp_path / "imported.db"
    for _ in range(2):
        assert main(["import", str(out), "--db", str(target)]) == 0
        assert (
            capsys.readouterr().out == f"Imported 1 batches (6 events) and 0 OTLP requests (0 spans) into {target}.\n"
        )
    imported = Store(target, readonly=True)
    assert _everything(imported) == _everything(exported)  # same ids, same fields, stored once
    assert imported.get_session(session_id)["event_count"] == 6  # type: ignore[index]
    imported.close()


def test_otlp_json_export_imports_with_the_same_ids_and_fields(
    tmp_path: Path, exported: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sessions.otlp.jsonl"
    assert main(["export", "--all", "--format", "otlp-json", "--db", str(exported.path), "-o", str(out)]) == 0
    (line,) = out.read_text().splitlines()
    request = json.loads(line)
    assert {s["traceId"] for rs in request["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
    target = tmp_path / "imported.db"
    assert main(["import", str(out), "--db", str(target)]) == 0
    capsys.readouterr()
    imported = Store(target, readonly=True)
    (before,) = _everything(exported).values()
    (after,) = _everything(imported).values()
    keys = ("event_id", "session_id", "parent_id", "event_name", "event_type", "start_time", "end_time", "error")
    fields = ("inputs", "outputs", "config", "metrics", "feedback", "user_properties")
    assert [{k: e[k] for k in (*keys, *fields)} for e in after["events"]] == [
        {k: e[k] for k in (*keys, *fields)} for e in before["events"]
    ]
    for old, new in zip(before["events"], after["events"], strict=True):
        assert old["metadata"].items() <= new["metadata"].items()
    assert after["session_properties"]["session_name"] == before["session_properties"]["session_name"]
    imported.close()


def _collector_lines(spans: list[ReadableSpan]) -> list[str]:
    """OTLP/JSON as the Collector's ``file`` exporter writes it: one request per line, ids in hex."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: PLC0415 - not at the floor

    def hex_ids(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else hex_ids(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [hex_ids(v) for v in value]
        return value

    children = [s for s in spans if s.parent is not None]
    roots = [s for s in spans if s.parent is None]
    return [  # children first, roots in a later line: a trace spans lines
        json.dumps(hex_ids(json_format.MessageToDict(encode_spans(batch)))) for batch in (children, roots)
    ]


@needs_peers
def test_a_collector_file_imports_as_the_exporter_stores_it_and_once(
    tmp_path: Path, spans: list[ReadableSpan], exported: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text("\n".join(_collector_lines(spans)) + "\n")
    target = tmp_path / "from-collector.db"
    for _ in range(2):
        assert main(["import", str(path), "--db", str(target)]) == 0
        assert capsys.readouterr().out.startswith("Imported 0 batches (0 events) and 2 OTLP requests (6 spans)")
    imported = Store(target, readonly=True)
    assert _everything(imported) == _everything(exported)
    imported.close()


def test_bad_lines_are_skipped_by_number_and_the_rest_is_stored(
    tmp_path: Path, exported: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    (session_id,) = exported.session_ids()
    good = json.dumps(exported.batch(session_id))
    path = tmp_path / "mixed.jsonl"
    lines = ['{"events": [{"event_type": "tool", "start_time": NaN}]}', "not json", '{"events": "no"}', good, ""]
    path.write_text("\n".join(lines))
    target = tmp_path / "mixed.db"
    assert main(["import", str(path), "--db", str(target)]) == 1
    out, err = capsys.readouterr()
    assert re.findall(r"mixed\.jsonl: (line \d+): ", err) == ["line 1", "line 2", "line 3"]
    assert "NaN is not a JSON number" in err
    assert out.endswith("; 3 lines skipped.\n")
    imported = Store(target, readonly=True)
    assert imported.session_ids() == [session_id]
    imported.close()
    assert main(["import", str(tmp_path / "absent.jsonl"), "--db", str(target)]) == 2
    assert "cannot read" in capsys.readouterr().err
