"""Request bodies for ``POST /events/batch`` (DESIGN §3) and their JSON/gzip encoding.

One session per batch goes out as ``is_single_session: true`` with its ``session_properties``; several
sessions are coalesced into one request, each session carried as an ``event_type: "session"`` event whose
``event_id`` is the session id (how the HoneyHive data model stores sessions).
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from typing import Any, Optional, cast

from spanhive import _privacy
from spanhive._records import Event, SessionProperties
from spanhive.mapping import SessionGroup
from spanhive.mapping._limits import truncate

GZIP_LEVEL = 4  # zlib level, chosen on measurement: levels 1-3 cost 10-25 % more bytes on LLM spans, 5-6 up to 2.5x CPU

_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str).encode


@dataclass
class Batch:
    """One request: its body (records) and the same body as JSON bytes (uncompressed)."""

    body: dict[str, Any]
    payload: bytes
    redacted: int = 0
    """How many sensitive values were replaced before encoding."""


def encode_batch(groups: list[SessionGroup], mask: Optional[_privacy.Mask] = None) -> Batch:
    """Redact secrets, apply the user's mask, and encode a batch as JSON."""
    redacted = 0
    for group in groups:
        records: list[dict[str, Any]] = [cast("dict[str, Any]", e) for e in group.events]
        redacted += sum(_privacy.redact_record(record) for record in records)
        properties = cast("dict[str, Any]", group.properties)
        redacted += _privacy.redact_record(properties)
        if mask is not None:
            group.events = [cast(Event, _privacy.apply_mask(mask, record)) for record in records]
            group.properties = cast(SessionProperties, _privacy.apply_mask(mask, properties))
    body = batch_body(groups)
    return Batch(body, to_json(body), redacted)


def batch_body(groups: list[SessionGroup]) -> dict[str, Any]:
    """The request body for a batch of session groups."""
    if len(groups) == 1:
        group = groups[0]
        return {"events": group.events, "is_single_session": True, "session_properties": group.properties}
    events: list[Any] = []
    for group in groups:
        events.append(session_event(group))
        events.extend(group.events)
    return {"events": events, "is_single_session": False}


def session_event(group: SessionGroup) -> Event:
    """A session's properties as the ``session`` event that carries them in a coalesced request."""
    props = group.properties
    events = group.events
    start = min(e["start_time"] for e in events)
    end = max(e["end_time"] for e in events)
    sid = props["session_id"]
    return {
        "project": group.project,
        "source": props["source"],
        "event_name": props["session_name"] or "Session",
        "event_type": "session",
        "event_id": sid,
        "session_id": sid,
        "parent_id": None,
        "children_ids": [e["event_id"] for e in events if e["parent_id"] == sid],
        "config": props["config"],
        "inputs": props["inputs"],
        "outputs": props["outputs"],
        "error": props["error"],
        "start_time": start,
        "end_time": end,
        "duration": float(end - start),
        "metadata": props["metadata"],
        "feedback": props["feedback"],
        "metrics": props["metrics"],
        "user_properties": props["user_properties"],
    }


def to_json(body: Any) -> bytes:
    """Strict JSON bytes; NaN/Infinity become strings and unpaired surrogates are replaced, never raising."""
    try:
        text = _dumps(body)
    except ValueError:  # NaN or Infinity somewhere: rare, so the walk happens only then
        text = _dumps(_finite(body))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def compress(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def event_count(body: dict[str, Any]) -> int:
    """Span events in a body (the session records that travel as events are not counted)."""
    return sum(1 for event in body.get("events") or () if event.get("event_type") != "session")


def split_body(body: dict[str, Any], parts: int = 2) -> Optional[list[dict[str, Any]]]:
    """Bodies holding the events in ``parts`` runs of about equal length (a single session's properties go
    with every part, which the receiver merges); ``None`` when the body holds one event and cannot be split."""
    events = body.get("events") or []
    if len(events) < 2:
        return None
    parts = max(2, min(parts, len(events)))
    size, extra = divmod(len(events), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append({**body, "events": events[start:end]})
        start = end
    return out


def shrink_to_fit(body: dict[str, Any], max_bytes: int) -> tuple[dict[str, Any], bytes, int]:
    """A one-event body over the size limit, with its largest string values cut (with a marker) until the
    JSON fits; returns the body, its JSON and how many values were cut. Never drops the event."""
    cut = 0
    payload = to_json(body)
    while len(payload) > max_bytes:
        largest = _largest_string(body)
        if largest is None:
            break
        container, key, text = largest
        excess = len(payload) - max_bytes
        keep = max(0, len(text) - excess - 256)
        if keep >= len(text):
            break
        container[key] = truncate(text, keep)
        cut += 1
        payload = to_json(body)
    return body, payload, cut


def _largest_string(value: Any) -> Optional[tuple[Any, Any, str]]:
    best: Optional[tuple[Any, Any, str]] = None
    stack = [value]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, item in items:
            if isinstance(item, str):
                if best is None or len(item) > len(best[2]):
                    best = (node, key, item)
            elif isinstance(item, (dict, list)):
                stack.append(item)
    return best
