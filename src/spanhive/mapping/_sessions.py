"""Group a batch's events by session and build each session's SessionProperties record.

The batch is the only context: parent/child links, the default ``chain``/``tool`` type, and the session's
root are taken from the spans exported together. What a later batch adds is merged by the receiver (the
store merges properties; the API does the same), so nothing here needs memory across calls.

:class:`Sessions` takes events one at a time and keeps only what grouping needs, plus whatever ``body`` the
caller hands it per event: the event itself (:func:`group_sessions`), or its encoded JSON, so that the
exporter can let each record go as soon as it is encoded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Generic, NamedTuple, Optional, TypeVar

from spanhive._records import SESSION_FIELDS, Event, SessionProperties
from spanhive.mapping._span import Defaults, SessionHint

B = TypeVar("B")
_START_AND_ID = itemgetter(0, 1)  # roots in order: by start, then by event id


class Entry(Generic[B]):
    """What grouping keeps of one event: its links, its type once settled, and the caller's ``body``."""

    __slots__ = ("body", "children", "event_id", "event_type", "parent_id", "start_ns")

    def __init__(self, event: Event, hint: SessionHint, body: B) -> None:
        self.event_id: str = event["event_id"]
        self.parent_id: Optional[str] = event["parent_id"]
        self.start_ns = hint.start_ns
        self.event_type: Optional[str] = event["event_type"] if hint.typed else ("chain" if hint.root else None)
        """``None`` until settled: ``chain`` if the event turns out to have children, else ``tool``."""
        self.children: Optional[list[str]] = None
        """Event ids of its children, ``None`` for none (most spans are leaves)."""
        self.body = body


class _Root(NamedTuple):
    """What a session takes from its root span's event."""

    start_ns: int
    event_id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: Optional[str]
    name: str
    external_session_id: Any


class Session(Generic[B]):
    """One session's share of a batch: its entries and what its spans say about it.

    What most sessions never need (stated fields, users, several roots) is made only when a span brings it:
    these objects live for the whole batch, and fewer of them keep the garbage collector quiet.
    """

    __slots__ = (
        "end_ms", "entries", "name", "project", "properties", "roots", "session_id", "source", "start_ms", "stated",
        "users",
    )  # fmt: skip

    def __init__(self, event: Event) -> None:
        self.project: str = event["project"]
        self.session_id: str = event["session_id"]
        self.source: str = event["source"]
        self.properties: SessionProperties
        """The session's record, made by :meth:`Sessions.finish`."""
        self.entries: list[Entry[B]] = []
        self.name: Optional[str] = None
        self.roots: Optional[list[_Root]] = None
        """Its top events (no parent), in the order they were added."""
        self.stated: Optional[dict[str, Any]] = None
        self.users: Optional[dict[str, Any]] = None
        self.start_ms: int = event["start_time"]
        self.end_ms: int = event["end_time"]


class Sessions(Generic[B]):
    """Events in, sessions out: :meth:`add` each event of a batch, then :meth:`finish` once."""

    def __init__(self, defaults: Defaults) -> None:
        self.defaults = defaults
        self.sessions: dict[str, Session[B]] = {}
        self._by_id: dict[str, Entry[B]] = {}

    def add(self, event: Event, hint: SessionHint, body: B) -> Entry[B]:
        """Record one event (of a root: the fields the session takes from it)."""
        sid = event["session_id"]
        session = self.sessions.get(sid)
        if session is None:
            session = self.sessions[sid] = Session(event)
        else:
            session.start_ms = min(session.start_ms, event["start_time"])
            session.end_ms = max(session.end_ms, event["end_time"])
        entry = Entry(event, hint, body)
        session.entries.append(entry)
        self._by_id[entry.event_id] = entry
        users = event["user_properties"]
        if users:
            merged = session.users
            if merged is None:
                merged = session.users = {}
            for key, value in users.items():
                merged.setdefault(key, value)
        if hint.name and session.name is None:
            session.name = hint.name
        if hint.root:
            external = event["metadata"].get("external_session_id")
            root = _Root(
                hint.start_ns, entry.event_id, event["inputs"], event["outputs"], event["error"], event["event_name"],
                external,
            )  # fmt: skip
            if session.roots is None:
                session.roots = [root]
            else:
                session.roots.append(root)
        if hint.fields:
            stated = session.stated
            if stated is None:
                stated = session.stated = {}
            for name, value in hint.fields.items():
                if isinstance(value, dict) and isinstance(stated.get(name), dict):
                    for key, item in value.items():
                        stated[name].setdefault(key, item)
                else:
                    stated.setdefault(name, value)
        return entry

    def finish(self) -> list[Session[B]]:
        """Link parents and children, settle default types, and complete each session's properties.

        A session's ``inputs`` and ``outputs`` are its root event's own objects (not copies) unless a span
        stated them for the session.
        """
        by_id = self._by_id
        entries = sorted(by_id.values(), key=lambda e: (e.start_ns, e.event_id))
        for entry in entries:
            parent = by_id.get(entry.parent_id or "")
            if parent is not None and parent is not entry:
                if parent.children is None:
                    parent.children = [entry.event_id]
                else:
                    parent.children.append(entry.event_id)
        for entry in entries:
            if entry.event_type is None:
                entry.event_type = "chain" if entry.children else "tool"
        for session in self.sessions.values():
            props = session.properties = _empty_properties(session.session_id, session.source)
            if session.users is not None:
                props["user_properties"] = session.users
            roots = sorted(session.roots, key=_START_AND_ID) if session.roots else ()
            props["session_name"] = session.name or self.defaults.session_name or (roots[0].name if roots else None)
            if roots:
                first, last = roots[0], roots[-1]
                props["inputs"] = first.inputs
                props["outputs"] = last.outputs
                props["error"] = last.error
                if first.external_session_id is not None:
                    props["metadata"]["external_session_id"] = first.external_session_id
            for name, value in (session.stated or {}).items():
                _state(props, name, value)
        return list(self.sessions.values())


@dataclass
class SessionGroup:
    """One session's events from one batch, with the properties the batch reveals about it."""

    properties: SessionProperties
    events: list[Event] = field(default_factory=list)

    @property
    def project(self) -> str:
        return self.events[0]["project"]


def group_sessions(mapped: Iterable[Optional[tuple[Event, SessionHint]]], defaults: Defaults) -> list[SessionGroup]:
    """Whole records, grouped: each event gets its ``children_ids`` and settled type, each session its own
    copies of the root's inputs and outputs (so a ``mask`` may edit either record alone)."""
    sessions: Sessions[Event] = Sessions(defaults)
    for pair in mapped:
        if pair is not None:
            sessions.add(pair[0], pair[1], pair[0])
    groups = []
    for session in sessions.finish():
        for entry in session.entries:
            entry.body["children_ids"] = entry.children or []
            entry.body["event_type"] = entry.event_type or "tool"
        props = session.properties
        for name in ("inputs", "outputs"):
            if isinstance(props[name], dict):
                props[name] = dict(props[name])
        groups.append(SessionGroup(props, [entry.body for entry in session.entries]))
    return groups


def _state(props: SessionProperties, field: str, value: Any) -> None:
    """A session-level value a span stated explicitly: it wins over what the root span implies."""
    if field not in SESSION_FIELDS or field == "session_id":
        return
    target = props[field]  # type: ignore[literal-required]
    if field not in ("inputs", "outputs") and isinstance(target, dict) and isinstance(value, dict):
        target.update(value)  # metrics, feedback, metadata…: merged
    else:
        props[field] = value  # type: ignore[literal-required]  # inputs and outputs: replaced


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
