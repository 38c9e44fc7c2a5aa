"""Stage 4, encode: records become JSON pieces, one session's worth at a time (a :class:`Part`).

Each event is encoded once, as soon as it has passed privacy, and let go: a batch's worth of live records is
what made the garbage collector busy. Its settled type and children, known only once the batch is assembled,
are spliced in front of it afterwards. A session's inputs and outputs, which are its root span's, are encoded
once for both records. A record stays a tuple of byte strings (:data:`Pieces`) until its body is joined
(stage 5), so megabytes of prompts are copied once, not once per layer.

Records whose every value is a JSON primitive with finite floats go to the fastest encoder installed
(:func:`spanhive._json.dumps_primitive`); anything else to the strict standard one (:func:`to_json`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Union, cast

from spanhive import _json
from spanhive._native import mypyc_attr
from spanhive._pipeline.assemble import Entry, Session, SessionGroup, extent, session_event
from spanhive._records import Event, SessionProperties
from spanhive.mapping import SpanFacts

Pieces = tuple[Union[bytes, memoryview], ...]
"""One encoded record as byte strings to join (its parts are encoded apart and spliced in order)."""

to_json = _json.dumps
"""Strict JSON bytes of any value (see :func:`spanhive._json.dumps`)."""

_KEYS = {key: b'"%s":' % key.encode() for key in ("inputs", "outputs")}
_TYPE_HEADS: dict[str, bytes] = {}
"""By event type: an event's JSON up to its children (the types are a handful)."""
_LEAF_HEADS: dict[bytes, bytes] = {}
"""By head: a leaf's JSON up to the rest of it."""


@mypyc_attr(acyclic=True)
class Part:
    """One session's records in a body: its encoded events, and its SessionProperties, encoded on demand in
    the form the body needs (``session_properties`` alone, or a ``session`` event among several sessions).

    A part decoded from a spooled coalesced body has only its ``session`` event, already encoded.
    """

    __slots__ = (
        "_dumps", "_fragments", "_record", "_session_event", "events", "project", "properties", "roots", "times",
    )  # fmt: skip

    def __init__(
        self,
        events: list[Pieces],
        properties: Optional[SessionProperties] = None,
        *,
        project: str = "",
        start_end_ms: tuple[int, int] = (0, 0),
        roots: tuple[str, ...] = (),
        fragments: Optional[dict[int, tuple[Any, bytes]]] = None,
        dumps: Callable[[Any], bytes] = to_json,
        session_event: Optional[Pieces] = None,
    ) -> None:
        self.events = events
        self.properties = properties
        self.project = project
        self.times = start_end_ms
        """First start and last end of the session's events in this batch (epoch ms)."""
        self.roots = roots
        """Event ids of the session's top events: the ``children_ids`` of its session event."""
        self._fragments = fragments or {}
        """JSON already encoded for a root's ``inputs``/``outputs`` dict (kept with it), by ``id()``: reused."""
        self._dumps = dumps
        """How its session records are encoded: :func:`to_json`, or a faster encoder for primitive records."""
        self._record: Optional[Pieces] = None
        self._session_event = session_event

    def record(self) -> Pieces:
        """``session_properties`` as JSON."""
        if self._record is None:
            assert self.properties is not None
            record = cast("dict[str, Any]", self.properties)
            if ("start_time" not in record and self.times[0]) or record.get("session_name", "") is None:
                # HoneyHive's schema: the session's start in epoch ms; a name is a string, or left out
                record = {k: v for k, v in record.items() if k != "session_name" or v is not None}
                if self.times[0]:
                    record.setdefault("start_time", self.times[0])
            self._record = self._spliced(record)
        return self._record

    def session_event(self) -> Optional[Pieces]:
        """The session as a ``session`` event, for a body coalescing several sessions."""
        if self._session_event is None and self.properties is not None:
            start, end = self.times
            event = session_event(self.properties, self.project, start, end, self.roots)
            self._session_event = self._spliced(event)
        return self._session_event

    def _spliced(self, record: dict[str, Any]) -> Pieces:
        """``record`` as JSON, with a root's inputs and outputs taken from their encoding in its event."""
        fragments = self._fragments
        shared = {}
        for key in ("inputs", "outputs"):
            known = fragments.get(id(record[key]))
            if known is not None and known[0] is record[key]:
                shared[key] = known[1]
        if not shared:
            return (self._dumps(record),)
        rest = self._dumps({k: v for k, v in record.items() if k not in shared})
        pieces: list[Any] = [b"{"]
        for key, text in shared.items():
            pieces += (_KEYS[key], text, b",")
        if rest == b"{}":
            pieces[-1] = b"}"
        else:
            pieces.append(memoryview(rest)[1:])
        return tuple(pieces)

    def size(self) -> int:
        """Bytes this part takes in a body among other sessions' (its ``session`` event included)."""
        own = self.session_event()
        return sum(length(e) + 1 for e in self.events) + (length(own) + 1 if own is not None else 0)

    def with_events(self, events: list[Pieces]) -> Part:
        """The same session with only ``events`` (its records already encoded are shared, not redone)."""
        part = Part(events, self.properties, project=self.project, start_end_ms=self.times, roots=self.roots)
        part._fragments, part._dumps = self._fragments, self._dumps
        part._record, part._session_event = self._record, self._session_event
        return part


def length(record: Pieces) -> int:
    """Bytes of one encoded record."""
    return sum(map(len, record))


class Encoder:
    """Encodes a batch's events one at a time (:meth:`add`), then its sessions (:meth:`parts`)."""

    __slots__ = ("_fragments", "primitive")

    def __init__(self) -> None:
        self._fragments: dict[int, tuple[Any, bytes]] = {}
        self.primitive = True
        """Every record so far was primitive: the session records, which draw on all of them, are too."""

    def add(self, entry: Entry, event: Event, facts: SpanFacts) -> None:
        """Encode ``event`` (of ``entry``), all but the type and children assembly settles at the end; the
        event's own dicts can be let go after this."""
        self.primitive = self.primitive and facts.primitive
        record = cast("dict[str, Any]", event)
        del record["event_type"], record["children_ids"]
        pieces: tuple[Any, ...] = ()
        if facts.root:  # the session takes these: encode them once for both records
            dumps = _json.dumps_primitive if facts.primitive else to_json
            for key in ("inputs", "outputs"):
                if record[key]:
                    value = record.pop(key)
                    text = dumps(value)
                    self._fragments[id(value)] = (value, text)
                    pieces += (_KEYS[key], text, b",")
        members = _json.members(record, facts.primitive)
        entry.encoded = (*pieces, members) if pieces else members

    def parts(self, sessions: list[Session]) -> list[Part]:
        """One part per assembled session, with every event's settled type and children spliced in."""
        dumps = _json.dumps_primitive if self.primitive else to_json
        return [
            Part(
                [_event_json(entry.event_type, entry.children, entry.encoded) for entry in session.entries],
                session.properties,
                project=session.project,
                start_end_ms=(session.start_ms, session.end_ms),
                roots=session.root_ids(),
                fragments=self._fragments,
                dumps=dumps,
            )
            for session in sessions
        ]


def _event_json(event_type: Optional[str], children: Optional[list[str]], rest: Any) -> Pieces:
    """An event's JSON from its settled type and children and the rest of it, encoded earlier (its members,
    or a tuple of pieces). A leaf's type and empty children are one piece: most events are leaves, and every
    piece is one more to list, measure, join and let go."""
    head = _TYPE_HEADS.get(event_type or "")
    if head is None:
        head = _TYPE_HEADS.setdefault(
            event_type or "", b'{"event_type":' + to_json(event_type or "tool") + b',"children_ids":'
        )
    if children:
        if type(rest) is tuple:
            return (head, _json.dumps_primitive(children), b",", *rest)
        return (head, _json.dumps_primitive(children), b",", rest)
    leaf = _LEAF_HEADS.get(head)
    if leaf is None:
        leaf = _LEAF_HEADS.setdefault(head, head + b"[],")
    if type(rest) is tuple:
        return (leaf, *rest)
    return (leaf, rest)


def encode_whole(groups: list[SessionGroup]) -> list[Part]:
    """Parts from whole records (a ``mask``'s output, or what the embedded store was handed): each record is
    encoded as it stands, and each session's extent and top events are read from its records."""
    parts = []
    for group in groups:
        times, roots = extent(group.events, group.properties.get("session_id"))
        events: list[Pieces] = [(to_json(event),) for event in group.events]
        parts.append(Part(events, group.properties, project=group.project, start_end_ms=times, roots=roots))
    return parts
