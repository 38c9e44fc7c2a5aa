"""Sessions out of a store and into one: ``spanhive export`` and ``spanhive import``.

Two formats, one JSON document per line:

- ``json``: HoneyHive's ``POST /events/batch`` bodies, one per session, every field as stored. Lossless:
  importing it stores the same records again, and importing it twice stores them once (upserts by id).
- ``otlp-json``: OTLP/JSON trace requests (``ExportTraceServiceRequest``, hex ids), one per session, as the
  Collector's ``file`` exporter writes them, so that OpenTelemetry tools can read sessions. Each event is a
  span carrying HoneyHive's own attributes (``honeyhive_event_id``, ``honeyhive_inputs.*`` …) under the trace
  and span ids it came from. Importing a file of OTLP/JSON maps its spans as ``spanhive serve`` does.

Import reads each line strictly (no ``NaN``, no numbers past a float's range) and checks a batch against the
schema ``spanhive serve`` enforces; a line that fails is reported by number and skipped, the rest is stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from spanhive import _otlp
from spanhive._pipeline import Hold, prepare_traces
from spanhive._pipeline.map import Defaults
from spanhive._records import DICT_FIELDS
from spanhive.store import Store

_SCOPE = "spanhive.export"
_MAPPED_METADATA = frozenset({"trace_id", "span_id", "otel.scope.name", "otel.scope.version", "service.name"})
"""Metadata that mapping a span writes from the span itself (ids, scope, resource), not from attributes."""
_ERROR = 2  # STATUS_CODE_ERROR
_INTERNAL = 1  # SPAN_KIND_INTERNAL


def batches(store: Store, session_ids: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Each session as the batch body that stores it again (unknown ids skipped)."""
    for session_id in session_ids:
        body = store.batch(session_id)
        if body is not None:
            yield body


def otlp_requests(store: Store, session_ids: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Each session as an OTLP/JSON trace request, its events as spans (unknown ids skipped)."""
    for body in batches(store, session_ids):
        yield _as_otlp(body)


def _as_otlp(body: Mapping[str, Any]) -> dict[str, Any]:
    props = body["session_properties"]
    events = body["events"]
    ids = {e["event_id"]: _span_ids(e, props["session_id"]) for e in events}
    by_resource: dict[Any, dict[str, list[dict[str, Any]]]] = {}
    for event in events:
        trace_id, span_id = ids[event["event_id"]]
        parent = ids.get(event.get("parent_id"))
        span: dict[str, Any] = {
            "traceId": trace_id,
            "spanId": span_id,
            "name": str(event.get("event_name") or "event"),
            "kind": _INTERNAL,
            "startTimeUnixNano": str(int(event.get("start_time") or 0) * 1_000_000),
            "endTimeUnixNano": str(int(event.get("end_time") or event.get("start_time") or 0) * 1_000_000),
            "attributes": _attributes(event, props, root=parent is None),
        }
        if parent is not None:
            span["parentSpanId"] = parent[1]
        if event.get("error"):
            span["status"] = {"code": _ERROR, "message": str(event["error"])}
        scope = (event.get("metadata") or {}).get("otel.scope.name") or _SCOPE
        by_resource.setdefault(event.get("project"), {}).setdefault(str(scope), []).append(span)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [_pair("service.name", project)] if project else []},
                "scopeSpans": [{"scope": {"name": scope}, "spans": spans} for scope, spans in scopes.items()],
            }
            for project, scopes in by_resource.items()
        ]
    }


def _span_ids(event: Mapping[str, Any], session_id: str) -> tuple[str, str]:
    """The trace and span ids an event came from (kept in its metadata), else ids made from its own."""
    metadata = event.get("metadata") or {}
    trace_id, span_id = metadata.get("trace_id"), metadata.get("span_id")
    if _hex(trace_id, 32) and _hex(span_id, 16):
        return str(trace_id), str(span_id)
    digest = hashlib.blake2b(str(event["event_id"]).encode(), digest_size=8).hexdigest()
    return session_id.replace("-", "")[:32].ljust(32, "0"), digest


def _hex(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and all(c in "0123456789abcdef" for c in value)


def _attributes(event: Mapping[str, Any], props: Mapping[str, Any], root: bool) -> list[dict[str, Any]]:
    pairs = [
        _pair("honeyhive_event_id", event["event_id"]),
        _pair("honeyhive_event_type", event.get("event_type")),
        _pair("honeyhive_session_id", props["session_id"]),
        _pair("honeyhive_source", event.get("source")),
        _pair("honeyhive_error", event.get("error")),
    ]
    if root:
        pairs.append(_pair("honeyhive_session_name", props.get("session_name")))
    for name in DICT_FIELDS:
        value = event.get(name)
        if isinstance(value, dict) and name == "metadata":  # flat keys, as spans carry them (a dotted key
            pairs.extend(_pair(k, v) for k, v in value.items() if k not in _MAPPED_METADATA)  # stays one key)
        elif isinstance(value, dict):
            pairs.extend(_pair(f"honeyhive_{name}.{key}", item) for key, item in value.items())
    return [pair for pair in pairs if pair["value"]]


def _pair(key: str, value: Any) -> dict[str, Any]:
    """An OTLP/JSON attribute: strings, booleans and numbers as they are; anything else as a JSON string, as
    HoneyHive's SDK writes dict and list arguments."""
    if value is None:
        return {"key": key, "value": {}}
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return {"key": key, "value": {"stringValue": text}}


@dataclass
class Imported:
    """What an import stored and what it skipped."""

    batches: int = 0
    otlp_requests: int = 0
    events: int = 0
    spans: int = 0
    skipped: list[str] = field(default_factory=list)
    """``line N: why`` for each line that could not be read or stored."""


def import_lines(
    store: Store, lines: Iterable[tuple[int, bytes]], progress: Optional[Callable[[Imported], None]] = None
) -> Imported:
    """Store each numbered line: a batch body, or an OTLP/JSON trace request. The spans of one trace may
    span lines: they wait, as in ``spanhive serve``, for their root, and what is still waiting is stored
    at the end."""
    from spanhive.server._app import HttpError, _batch_schema, _complete, _strict_json, _unstorable, _validate  # noqa: PLC0415 - the server's own checks, loaded only here

    schema = _batch_schema()
    hold = Hold()
    done = Imported()
    for number, line in lines:
        if not line.strip():
            continue
        try:
            value = _strict_json(line.decode("utf-8"))
            problem = _unstorable(value)
            if problem is not None:
                raise ValueError(problem)
            if isinstance(value, dict) and "resourceSpans" in value:
                spans, _ = _otlp.spans(_otlp.decode(line, _otlp.JSON))
                _store_traces(store, hold, hold.add(spans))
                done.otlp_requests += 1
                done.spans += len(spans)
            else:
                _validate(value, schema)
                props = value.get("session_properties") or value.get("session") or {}
                value["events"] = [_complete(e, props.get("session_id")) for e in value["events"]]
                store.ingest_batch(value)
                done.batches += 1
                done.events += len(value["events"])
        except (ValueError, RecursionError, UnicodeDecodeError, HttpError) as exc:
            done.skipped.append(f"line {number}: {getattr(exc, 'message', None) or exc}")
        if progress is not None:
            progress(done)
    _store_traces(store, hold, hold.release_all())
    return done


def _store_traces(store: Store, hold: Hold, traces: list[Any]) -> None:
    if traces:
        for body in prepare_traces(traces, Defaults(), 1 << 62, whole_records=True, hold=hold).bodies:
            store.ingest_records((group.properties, group.events) for group in body.records or ())
