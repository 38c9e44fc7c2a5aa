"""Group a batch's events by session and build each session's SessionProperties record.

The batch is the only context: parent/child links, the default ``chain``/``tool`` type, and the session's
root are taken from the spans exported together. What a later batch adds is merged by the receiver (the
store merges properties; the API does the same), so nothing here needs memory across calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from spanhive._records import SESSION_FIELDS, Event, SessionProperties
from spanhive.mapping._span import Defaults, SessionHint


@dataclass
class SessionGroup:
    """One session's events from one batch, with the properties the batch reveals about it."""

    properties: SessionProperties
    events: list[Event] = field(default_factory=list)

    @property
    def project(self) -> str:
        return self.events[0]["project"]


def group_sessions(mapped: Iterable[Optional[tuple[Event, SessionHint]]], defaults: Defaults) -> list[SessionGroup]:
    """Link parents and children, settle default types, and build one group per session."""
    pairs = [pair for pair in mapped if pair is not None]
    by_id = {event["event_id"]: event for event, _ in pairs}
    for event, _ in sorted(pairs, key=lambda pair: (pair[1].start_ns, pair[0]["event_id"])):
        parent = by_id.get(event["parent_id"] or "")
        if parent is not None and parent is not event:
            parent["children_ids"].append(event["event_id"])

    groups: dict[str, SessionGroup] = {}
    roots: dict[str, list[tuple[int, Event]]] = {}
    names: dict[str, str] = {}
    stated: dict[str, dict[str, Any]] = {}
    for event, hint in pairs:
        if not hint.typed:
            event["event_type"] = "chain" if hint.root or event["children_ids"] else "tool"
        sid = event["session_id"]
        group = groups.get(sid)
        if group is None:
            group = groups[sid] = SessionGroup(_empty_properties(sid, event["source"]))
        group.events.append(event)
        for key, value in event["user_properties"].items():
            group.properties["user_properties"].setdefault(key, value)
        if hint.name and sid not in names:
            names[sid] = hint.name
        if hint.root:
            roots.setdefault(sid, []).append((hint.start_ns, event))
        if hint.fields:
            merged = stated.setdefault(sid, {})
            for field, value in hint.fields.items():
                if isinstance(value, dict) and isinstance(merged.get(field), dict):
                    for key, item in value.items():
                        merged[field].setdefault(key, item)
                else:
                    merged.setdefault(field, value)

    for sid, group in groups.items():
        props = group.properties
        session_roots = [event for _, event in sorted(roots.get(sid, []), key=lambda r: (r[0], r[1]["event_id"]))]
        props["session_name"] = _name(names.get(sid), defaults, session_roots)
        if session_roots:
            first, last = session_roots[0], session_roots[-1]
            props["inputs"] = dict(first["inputs"])  # copies: session-level values may be merged in
            props["outputs"] = dict(last["outputs"])
            props["error"] = last["error"]
            external = first["metadata"].get("external_session_id")
            if external is not None:
                props["metadata"]["external_session_id"] = external
        for field, value in stated.get(sid, {}).items():
            _state(props, field, value)
    return list(groups.values())


def _state(props: SessionProperties, field: str, value: Any) -> None:
    """A session-level value a span stated explicitly: it wins over what the root span implies."""
    if field not in SESSION_FIELDS or field == "session_id":
        return
    target = props[field]  # type: ignore[literal-required]
    if field not in ("inputs", "outputs") and isinstance(target, dict) and isinstance(value, dict):
        target.update(value)  # metrics, feedback, metadata…: merged
    else:
        props[field] = value  # type: ignore[literal-required]  # inputs and outputs: replaced


def _name(explicit: Optional[str], defaults: Defaults, roots: list[Event]) -> Optional[str]:
    if explicit:
        return explicit
    if defaults.session_name:
        return defaults.session_name
    return roots[0]["event_name"] if roots else None


def _empty_properties(session_id: str, source: str) -> SessionProperties:
    return {
        "session_name": None,
        "source": source,
        "session_id": session_id,
        "config": {},
        "inputs": {},
        "outputs": {},
        "error": None,
        "user_properties": {},
        "metrics": {},
        "feedback": {},
        "metadata": {},
    }
