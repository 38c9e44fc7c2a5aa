"""Stage 2, assemble: each trace's events put in one session, then a batch's events grouped by session,
linked into trees, with each session's record.

A trace belongs to one session (:func:`resolve_trace`), as in HoneyHive's and Langfuse's own ingestion: a
span that names no session takes its nearest ancestor's, else the one a span of its trace names, else the
one its trace joined when it was last released (:mod:`~spanhive._pipeline.hold`), else the trace-derived
one. User properties travel the same way. Within the batch, parent/child links, the default ``chain``/
``tool`` type, and the session's root are taken from the spans exported together. What a later batch adds
is merged by the receiver (the store merges properties; the API does the same).

:class:`Assembly` takes events one at a time and keeps only what grouping needs (an :class:`Entry` per
event), so that the stages after it can let each record go as soon as they are done with it; or, for a
``mask`` and for the embedded store, which want whole records, :func:`whole_sessions` groups the records
themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from spanhive._native import mypyc_attr
from spanhive._pipeline.hold import Hold, TraceSession
from spanhive._records import SESSION_FIELDS, Event, SessionProperties
from spanhive.mapping import Defaults, Mapped, SpanFacts


def resolve_trace(mapped: list[Mapped], known: Optional[TraceSession]) -> Optional[TraceSession]:
    """Put one trace's events (all those released together) in the trace's session, in place, and return
    that session for the trace's spans that end later (``None``: nothing to pass on, the trace-derived one).

    An event whose span names no session takes its nearest ancestor's that does; else the session the
    earliest span of the trace names (by start, then event id: the same trace gives the same result in any
    order); else ``known``, the session the trace joined before; else it keeps its trace-derived one. User
    properties: the same, for events that have none. Ids never change, only which session an event is in.
    """
    if not mapped:
        return known
    stated = None
    users = None
    for event, facts in mapped:
        if facts.stated and (stated is None or (facts.start_ns, event["event_id"]) < stated[0]):
            stated = ((facts.start_ns, event["event_id"]), event)
        if event["user_properties"] and (users is None or (facts.start_ns, event["event_id"]) < users[0]):
            users = ((facts.start_ns, event["event_id"]), event)
    if stated is None and users is None and (known is None or not (known.stated or known.user_properties)):
        return known  # nothing to share: every event keeps its own (the trace-derived) session
    if stated is not None:
        first = stated[1]
        trace = TraceSession(
            first["session_id"], first["metadata"].get("external_session_id"),
            users[1]["user_properties"] if users is not None else (known.user_properties if known else None), True,
        )  # fmt: skip
    elif known is not None and known.stated:
        trace = known if users is None else known._replace(user_properties=users[1]["user_properties"])
    else:
        derived = mapped[0][0]["session_id"]
        trace = TraceSession(
            derived, None, users[1]["user_properties"] if users else (known.user_properties if known else None), False
        )
    by_id = {event["event_id"]: (event, facts) for event, facts in mapped}
    sessions: dict[str, Optional[Event]] = {}
    """Each event's nearest ancestor-or-self whose span names a session (``None``: none in this release)."""
    people: dict[str, Optional[Event]] = {}
    for event, facts in mapped:
        if not facts.stated:
            source = _nearest(event, by_id, sessions, _states_session)
            if source is not None:
                _move(event, source["session_id"], source["metadata"].get("external_session_id"))
            else:
                _move(event, trace.session_id, trace.external_session_id)
        if not event["user_properties"]:
            giver = _nearest(event, by_id, people, _has_users)
            given = giver["user_properties"] if giver is not None else trace.user_properties
            if given:
                event["user_properties"] = dict(given)
                # Primitive only if the values are.
                facts.primitive = facts.primitive and giver is not None and by_id[giver["event_id"]][1].primitive
    return trace


def _states_session(event: Event, facts: SpanFacts) -> bool:
    return facts.stated


def _has_users(event: Event, facts: SpanFacts) -> bool:
    return bool(event["user_properties"])


def _nearest(
    event: Event,
    by_id: dict[str, Mapped],
    memo: dict[str, Optional[Event]],
    has: Callable[[Event, SpanFacts], bool],
) -> Optional[Event]:
    """The nearest of ``event`` and its ancestors (among ``by_id``) for which ``has`` holds, remembered for
    every event on the way up; a parent cycle in bad data ends the walk."""
    chain: list[str] = []
    found: Optional[Event] = None
    current: Optional[Mapped] = by_id.get(event["event_id"])
    while current is not None and len(chain) <= len(by_id):
        candidate, facts = current
        event_id = candidate["event_id"]
        if event_id in memo:
            found = memo[event_id]
            break
        chain.append(event_id)
        if has(candidate, facts):
            found = candidate
            break
        current = by_id.get(candidate["parent_id"] or "")
    for event_id in chain:
        memo[event_id] = found
    return found


def _move(event: Event, session_id: str, external: Optional[str]) -> None:
    """``event`` into another session (a top event's parent is its session)."""
    old = event["session_id"]
    if old == session_id:
        return
    event["session_id"] = session_id
    if event["parent_id"] == old:
        event["parent_id"] = session_id
    if external is not None:
        event["metadata"]["external_session_id"] = external
    else:
        event["metadata"].pop("external_session_id", None)


@mypyc_attr(acyclic=True)
class Entry:
    """What grouping keeps of one event: its links, its type once settled, and its JSON once encoded."""

    __slots__ = ("children", "encoded", "event_id", "event_type", "parent_id", "start_ns")

    def __init__(self, event: Event, facts: SpanFacts) -> None:
        self.event_id: str = event["event_id"]
        self.parent_id: Optional[str] = event["parent_id"]
        self.start_ns = facts.start_ns
        self.event_type: Optional[str] = event["event_type"] if facts.typed else ("chain" if facts.root else None)
        """``None`` until settled: ``chain`` if the event turns out to have children, else ``tool``."""
        self.children: Optional[list[str]] = None
        """Event ids of its children, ``None`` for none (most spans are leaves)."""
        self.encoded: Any = None
        """The event's JSON but for its type and children, set by the encode stage: kept here rather than in
        a dict beside it, one object fewer per event for the garbage collector."""


@mypyc_attr(acyclic=True)
class _Root:
    """What a session takes from its root span's event (slots, not a ``NamedTuple``: see ``SpanFacts``)."""

    __slots__ = ("error", "event_id", "external_session_id", "inputs", "name", "outputs", "start_ns")

    def __init__(self, start_ns: int, event: Event) -> None:
        self.start_ns = start_ns
        self.event_id: str = event["event_id"]
        self.inputs: dict[str, Any] = event["inputs"]
        self.outputs: dict[str, Any] = event["outputs"]
        self.error: Optional[str] = event["error"]
        self.name: str = event["event_name"]
        self.external_session_id: Any = event["metadata"].get("external_session_id")


def _start_and_id(root: _Root) -> tuple[int, str]:
    """Roots in order: by start, then by event id."""
    return root.start_ns, root.event_id


@mypyc_attr(acyclic=True)
class Session:
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
        """The session's record, made by :meth:`Assembly.finish`."""
        self.entries: list[Entry] = []
        self.name: Optional[str] = None
        self.roots: Optional[list[_Root]] = None
        """Its top events (no parent), in the order they were added."""
        self.stated: Optional[dict[str, Any]] = None
        self.users: Optional[dict[str, Any]] = None
        self.start_ms: int = event["start_time"]
        self.end_ms: int = event["end_time"]

    def root_ids(self) -> tuple[str, ...]:
        """The event ids of its top events, in the order they were added (usually one)."""
        roots = self.roots
        if not roots:
            return ()
        if len(roots) == 1:
            return (roots[0].event_id,)
        return tuple([root.event_id for root in roots])


class Assembly:
    """Events in, sessions out: :meth:`add` each event of a batch, then :meth:`finish` once."""

    def __init__(self, defaults: Defaults, hold: Optional[Hold] = None) -> None:
        self.defaults = defaults
        self.sessions: dict[str, Session] = {}
        self._by_id: dict[str, Entry] = {}
        self._hold = hold
        """What the exporter remembers across batches: here, the name each session went out with."""
        self._child_io: dict[str, tuple[int, dict[str, Any], dict[str, Any]]] = {}
        """By parent event id: the start, inputs and outputs of its first child that has either, for a top
        event with none of its own (Traceloop's ``invoke_agent`` over the ``workflow`` span that has them)."""

    def add(self, event: Event, facts: SpanFacts) -> Entry:
        """Record one event (of a root: the fields the session takes from it)."""
        sid = event["session_id"]
        session = self.sessions.get(sid)
        if session is None:
            session = self.sessions[sid] = Session(event)
        else:
            session.start_ms = min(session.start_ms, event["start_time"])
            session.end_ms = max(session.end_ms, event["end_time"])
        entry = Entry(event, facts)
        session.entries.append(entry)
        self._by_id[entry.event_id] = entry
        users = event["user_properties"]
        if users:
            merged = session.users
            if merged is None:
                merged = session.users = {}
            for key, value in users.items():
                merged.setdefault(key, value)
        if facts.session_name and session.name is None:
            session.name = facts.session_name
        if not facts.root:
            if self._child_io:  # a parent ends after its children: theirs are of no use once it is not a root
                self._child_io.pop(entry.event_id, None)
            if event["inputs"] or event["outputs"]:
                parent = event["parent_id"] or ""
                known = self._child_io.get(parent)
                if known is None or facts.start_ns < known[0]:
                    self._child_io[parent] = (facts.start_ns, event["inputs"], event["outputs"])
        if facts.root:
            root = _Root(facts.start_ns, event)
            if session.roots is None:
                session.roots = [root]
            else:
                session.roots.append(root)
        if facts.session_fields:
            stated = session.stated
            if stated is None:
                stated = session.stated = {}
            for name, value in facts.session_fields.items():
                if isinstance(value, dict) and isinstance(stated.get(name), dict):
                    for key, item in value.items():
                        stated[name].setdefault(key, item)
                else:
                    stated.setdefault(name, value)
        return entry

    def finish(self) -> list[Session]:
        """Link parents and children, settle default types, and complete each session's properties.

        A session's ``inputs`` and ``outputs`` are its root event's own objects (not copies) unless a span
        stated them for the session; a root with none of its own lends them from its first child that has
        them.
        """
        by_id = self._by_id
        for entry in by_id.values():
            parent = by_id.get(entry.parent_id or "")
            if parent is not None and parent is not entry:
                if parent.children is None:
                    parent.children = [entry.event_id]
                else:
                    parent.children.append(entry.event_id)
        for entry in by_id.values():
            children = entry.children
            if children is not None and len(children) > 1:  # in order of start, then id (most have one or none)
                children.sort(key=lambda child: (by_id[child].start_ns, child))
            if entry.event_type is None:
                entry.event_type = "chain" if children else "tool"
        for session in self.sessions.values():
            roots = session.roots
            if roots is not None and len(roots) > 1:  # most sessions of a batch have one
                roots = sorted(roots, key=_start_and_id)
            stated = session.name or self.defaults.session_name
            name = stated or (roots[0].name if roots else None)
            if self._hold is not None:
                name = self._hold.name_session(session.session_id, name, stated is not None)
            if roots:
                props = session.properties = self._properties(session, name, roots[0], roots[-1])
            else:
                props = session.properties = _properties(session, name, {}, {}, None, {})
            for name, value in (session.stated or {}).items():
                _state(props, name, value)
        return list(self.sessions.values())

    def _properties(self, session: Session, name: Optional[str], first: _Root, last: _Root) -> SessionProperties:
        """A session's record from its first and last roots: their own inputs and outputs (the objects
        themselves), else those of their first child that has any."""
        child_io = self._child_io
        inputs, outputs = first.inputs, last.outputs
        if not inputs and first.event_id in child_io:
            inputs = child_io[first.event_id][1]
        if not outputs and last.event_id in child_io:
            outputs = child_io[last.event_id][2]
        external = first.external_session_id
        metadata = {} if external is None else {"external_session_id": external}
        return _properties(session, name, inputs, outputs, last.error, metadata)


@dataclass
class SessionGroup:
    """One session's whole records from one batch: its events and the properties the batch reveals."""

    properties: SessionProperties
    events: list[Event] = field(default_factory=list)

    @property
    def project(self) -> str:
        return self.events[0]["project"] if self.events else ""


def whole_sessions(
    mapped: Iterable[Optional[Mapped]], defaults: Defaults, hold: Optional[Hold] = None
) -> list[SessionGroup]:
    """Whole records, grouped: each event gets its ``children_ids`` and settled type, each session its own
    copies of the root's inputs and outputs (so a ``mask`` may edit either record alone). ``None`` (a span
    mapping skipped) is passed over."""
    assembly = Assembly(defaults, hold)
    pairs = [(pair[0], assembly.add(*pair)) for pair in mapped if pair is not None]
    sessions = assembly.finish()
    for event, entry in pairs:
        event["children_ids"] = entry.children or []
        event["event_type"] = entry.event_type or "tool"
    by_session: dict[str, list[Event]] = {session.session_id: [] for session in sessions}
    for event, _ in pairs:
        by_session[event["session_id"]].append(event)
    groups = []
    for session in sessions:
        props = session.properties
        for name in ("inputs", "outputs"):
            if isinstance(props[name], dict):
                props[name] = dict(props[name])
        groups.append(SessionGroup(props, by_session[session.session_id]))
    return groups


def session_event(
    props: SessionProperties, project: str, start: int, end: int, roots: tuple[str, ...]
) -> dict[str, Any]:
    """A session's properties as the ``session`` event that carries them in a request coalescing several
    sessions (how the HoneyHive data model stores sessions: ``event_id`` is the session id). It has no
    ``parent_id``: HoneyHive's schema types it as a string, and a session has none."""
    sid = props["session_id"]
    return {
        "project": project,
        "source": props["source"],
        "event_name": props["session_name"] or "Session",
        "event_type": "session",
        "event_id": sid,
        "session_id": sid,
        "children_ids": list(roots),
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


def extent(events: list[Event], session_id: Any) -> tuple[tuple[int, int], tuple[str, ...]]:
    """First start, last end (epoch ms) and top events of a session's whole records, which a ``mask`` may
    have edited (a missing or non-numeric time is skipped)."""
    starts, ends = ([e.get(key) for e in events] for key in ("start_time", "end_time"))
    first = min((int(t) for t in starts if isinstance(t, (int, float)) and math.isfinite(t)), default=0)
    last = max((int(t) for t in ends if isinstance(t, (int, float)) and math.isfinite(t)), default=0)
    return (first, last), tuple(e.get("event_id") for e in events if e.get("parent_id") == session_id)


def _state(props: SessionProperties, field: str, value: Any) -> None:
    """A session-level value a span stated explicitly: it wins over what the root span implies."""
    if field not in SESSION_FIELDS or field == "session_id":
        return
    target = props[field]  # type: ignore[literal-required]
    if field not in ("inputs", "outputs") and isinstance(target, dict) and isinstance(value, dict):
        target.update(value)  # metrics, feedback, metadata…: merged
    else:
        props[field] = value  # type: ignore[literal-required]  # inputs and outputs: replaced


def _properties(  # noqa: PLR0917 - a record's fields, in its order
    session: Session,
    name: Optional[str],
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    error: Optional[str],
    metadata: dict[str, Any],
) -> SessionProperties:
    """A session's record, made whole at once (each field set again costs a dict store per session)."""
    return {
        "session_name": name,
        "source": session.source,
        "session_id": session.session_id,
        "config": {},
        "inputs": inputs,
        "outputs": outputs,
        "error": error,
        "user_properties": session.users if session.users is not None else {},
        "metrics": {},
        "feedback": {},
        "metadata": metadata,
    }
