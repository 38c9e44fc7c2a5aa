"""Request bodies for ``POST /events/batch`` (DESIGN §3) and their JSON/gzip encoding.

One session per request goes out as ``is_single_session: true`` with its ``session_properties``; several
sessions are coalesced into one request, each session carried as an ``event_type: "session"`` event whose
``event_id`` is the session id (how the HoneyHive data model stores sessions).

Each record is encoded once, as soon as it is mapped, and a :class:`Body` is assembled from those pieces:
splitting a body to fit the size limit never encodes a record twice, and a record's dicts are let go as soon
as it is encoded (a batch's worth of live records is what made the garbage collector busy). A session's
inputs and outputs, which are its root span's, are encoded once for both records. A record stays a tuple of
byte strings (:data:`Pieces`) until its body is joined, so megabytes of prompts are copied once, not once per
layer.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Iterator
from typing import Any, Callable, NamedTuple, Optional, Union, cast

from spanhive import _json, _privacy
from spanhive._records import Event, SessionProperties
from spanhive.mapping import Defaults, SessionGroup, SessionHint, group_sessions
from spanhive.mapping._limits import truncate
from spanhive.mapping._sessions import Session, Sessions

Pieces = tuple[Union[bytes, memoryview], ...]
"""One encoded record as byte strings to join (its parts are encoded apart and spliced in order)."""
GZIP_LEVEL = 4  # zlib level, chosen on measurement: levels 1-3 cost 10-25 % more bytes on LLM spans, 5-6 up to 2.5x CPU
_WRAPPER = len(b'{"events":[],"is_single_session":false,"session_properties":}')
"""Bytes a body adds around its records."""


to_json = _json.dumps
"""Strict JSON bytes of any value (see :func:`spanhive._json.dumps`)."""


def compress(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


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
        """How its session records are encoded: :func:`to_json`, or a faster encoder for plain records."""
        self._record: Optional[Pieces] = None
        self._session_event: Optional[Pieces] = None

    def record(self) -> Pieces:
        """``session_properties`` as JSON."""
        if self._record is None:
            assert self.properties is not None
            self._record = self._spliced(cast("dict[str, Any]", self.properties))
        return self._record

    def session_event(self) -> Optional[Pieces]:
        """The session as a ``session`` event, for a body coalescing several sessions."""
        if self._session_event is None and self.properties is not None:
            start, end = self.times
            event = session_event(self.properties, self.project, start, end, self.roots)
            self._session_event = self._spliced(cast("dict[str, Any]", event))
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
        return sum(_length(e) + 1 for e in self.events) + (_length(own) + 1 if own is not None else 0)

    def runs(self, limit: int) -> Iterator[Part]:
        """This part as parts of at most ``limit`` bytes each (counting its session record with every run)."""
        own = self.session_event()
        room = limit - _WRAPPER - (_length(own) + 1 if own is not None else 0)
        run: list[Pieces] = []
        size = 0
        for event in self.events:
            length = _length(event)
            if run and size + length + 1 > room:
                yield self._with(run)
                run, size = [], 0
            run.append(event)
            size += length + 1
        if run:
            yield self._with(run)

    def _with(self, events: list[Pieces]) -> Part:
        part = Part(events, self.properties, project=self.project, start_end_ms=self.times, roots=self.roots)
        part._fragments, part._dumps = self._fragments, self._dumps
        part._record, part._session_event = self._record, self._session_event
        return part


class Body:
    """One request body, held as encoded parts (one per session) until its bytes are needed."""

    __slots__ = ("_payload", "parts")

    def __init__(self, parts: list[Part], payload: Optional[bytes] = None) -> None:
        self.parts = parts
        self._payload = payload

    @property
    def payload(self) -> bytes:
        """The body as JSON bytes (uncompressed)."""
        if self._payload is None:
            self._payload = b"".join(self._pieces())
        return self._payload

    @property
    def size(self) -> int:
        """``len(self.payload)``, without joining it."""
        return len(self._payload) if self._payload is not None else sum(map(len, self._pieces()))

    def _pieces(self) -> list[Union[bytes, memoryview]]:
        """The body's bytes in order, for one join (a body can be tens of megabytes: copy it once)."""
        if len(self.parts) == 1 and self.parts[0].properties is not None:
            part = self.parts[0]
            pieces = _listed(b'{"events":[', part.events)
            pieces += (b'],"is_single_session":true,"session_properties":', *part.record(), b"}")
            return pieces
        records: list[Pieces] = []
        for part in self.parts:
            own = part.session_event()
            if own is not None:
                records.append(own)
            records.extend(part.events)
        pieces = _listed(b'{"events":[', records)
        pieces.append(b'],"is_single_session":false}')
        return pieces

    @property
    def events(self) -> int:
        """Span events in the body (the session records that travel as events are not counted)."""
        return sum(len(part.events) for part in self.parts)

    def split(self, limit: int) -> Optional[list[Body]]:
        """Bodies of at most ``limit`` bytes holding the same records (a session split across bodies carries its
        record in each; the receiver merges them); ``None`` for a body of a single event."""
        if sum(len(part.events) for part in self.parts) < 2:
            return None
        bodies: list[Body] = []
        current: list[Part] = []
        size = _WRAPPER
        for whole in self.parts:
            for part in whole.runs(limit) if whole.size() + _WRAPPER > limit else (whole,):
                needed = part.size()
                if current and size + needed > limit:
                    bodies.append(Body(current))
                    current, size = [], _WRAPPER
                current.append(part)
                size += needed
        bodies.append(Body(current))
        return bodies if len(bodies) > 1 else self.halves()

    def halves(self) -> Optional[list[Body]]:
        """The records in two bodies of about equal length; ``None`` for a body of a single event."""
        if len(self.parts) > 1:
            middle = len(self.parts) // 2
            return [Body(self.parts[:middle]), Body(self.parts[middle:])]
        (part,) = self.parts
        if len(part.events) < 2:
            return None
        middle = len(part.events) // 2
        return [Body([part._with(part.events[:middle])]), Body([part._with(part.events[middle:])])]

    def shrunk(self, limit: int) -> tuple[Body, int]:
        """A body of one event, with its largest string values cut until it fits ``limit``; returns the body and
        how many values were cut. Never drops the event."""
        body, payload, cut = shrink_to_fit(json.loads(self.payload), limit)
        return Body(_decoded_parts(body), payload), cut

    @classmethod
    def decode(cls, payload: bytes) -> Body:
        """A body from JSON bytes (a spooled request), so that it can be split."""
        return cls(_decoded_parts(json.loads(payload)), payload)


def _listed(head: bytes, records: list[Pieces]) -> list[Union[bytes, memoryview]]:
    """``head``, then the pieces of ``records`` with a comma between each two records."""
    pieces: list[Union[bytes, memoryview]] = [head]
    for record in records:
        pieces += record
        pieces.append(b",")
    if records:
        pieces.pop()
    return pieces


def _length(record: Pieces) -> int:
    return sum(map(len, record))


def _decoded_parts(body: dict[str, Any]) -> list[Part]:
    events = [e for e in body.get("events") or () if isinstance(e, dict)]
    if body.get("is_single_session"):
        return [Part([(to_json(event),) for event in events], body.get("session_properties"))]
    parts: dict[Any, Part] = {}
    for event in events:
        part = parts.get(event.get("session_id"))
        if part is None:
            part = parts[event.get("session_id")] = Part([])
        if event.get("event_type") == "session" and part._session_event is None:
            part._session_event = (to_json(event),)
        else:
            part.events.append((to_json(event),))
    return list(parts.values())


class Encoded(NamedTuple):
    body: Body
    redacted: int
    """Sensitive values replaced."""
    truncated: int
    """Values cut to the size limit while mapping."""


def encode(
    mapped: Iterable[Optional[tuple[Event, SessionHint]]], defaults: Defaults, mask: Optional[_privacy.Mask] = None
) -> Encoded:
    """Group, redact, mask and encode a batch's records.

    ``mapped`` is consumed one record at a time, and each record is encoded and let go before the next (a
    ``mask`` needs whole, grouped records, so with one the batch is grouped first).
    """
    if mask is not None:
        return _encode_masked(mapped, defaults, mask)
    sessions: Sessions[tuple[Any, ...]] = Sessions(defaults)
    fragments: dict[int, tuple[Any, bytes]] = {}
    redacted = truncated = 0
    plain = True
    for pair in mapped:
        if pair is None:
            continue
        event, hint = pair
        truncated += hint.truncated
        redacted += _privacy.redact_record(cast("dict[str, Any]", event)) if hint.redacted is None else hint.redacted
        dumps = _json.dumps_plain if hint.plain else to_json
        plain = plain and hint.plain
        entry = sessions.add(event, hint, ())
        record = cast("dict[str, Any]", event)
        del record["event_type"], record["children_ids"]  # settled once the batch is grouped
        pieces: tuple[Any, ...] = ()
        if hint.root:  # the session takes these: encode them once for both records
            for key in ("inputs", "outputs"):
                if record[key]:
                    value = record.pop(key)
                    text = dumps(value)
                    fragments[id(value)] = (value, text)
                    pieces += (_KEYS[key], text, b",")
        entry.body = (*pieces, memoryview(dumps(record))[1:])
    parts = []
    dumps = _json.dumps_plain if plain else to_json  # session records draw on every span of the batch
    for session in sessions.finish():
        redacted += _privacy.redact_record(cast("dict[str, Any]", session.properties))
        events = [_event_json(entry.event_type, entry.children, entry.body) for entry in session.entries]
        parts.append(_part(session, events, fragments, dumps))
    return Encoded(Body(parts), redacted, truncated)


_TYPE_HEADS: dict[str, bytes] = {}


_KEYS = {key: b'"%s":' % key.encode() for key in ("inputs", "outputs")}


def _event_json(event_type: Optional[str], children: Optional[list[str]], rest: tuple[Any, ...]) -> Pieces:
    """An event's JSON from its settled type and children and the rest of it, encoded earlier."""
    head = _TYPE_HEADS.get(event_type or "")
    if head is None:
        head = _TYPE_HEADS.setdefault(event_type or "", b'{"event_type":' + to_json(event_type or "tool"))
    return (head, b',"children_ids":', _json.dumps_plain(children) if children else b"[]", b",", *rest)


def _part(
    session: Session[Any],
    events: list[Pieces],
    fragments: Optional[dict[int, tuple[Any, bytes]]] = None,
    dumps: Callable[[Any], bytes] = to_json,
) -> Part:
    return Part(
        events,
        session.properties,
        project=session.project,
        start_end_ms=(session.start_ms, session.end_ms),
        roots=tuple(root.event_id for root in session.roots or ()),
        fragments=fragments,
        dumps=dumps,
    )


def _encode_masked(
    mapped: Iterable[Optional[tuple[Event, SessionHint]]], defaults: Defaults, mask: _privacy.Mask
) -> Encoded:
    """Whole grouped records, redacted, rewritten by the user's ``mask``, then encoded."""
    pairs = [pair for pair in mapped if pair is not None]
    redacted = 0
    parts = []
    for group in group_sessions(pairs, defaults):
        records: list[dict[str, Any]] = [cast("dict[str, Any]", e) for e in group.events]
        redacted += sum(_privacy.redact_record(record) for record in records)
        properties = cast("dict[str, Any]", group.properties)
        redacted += _privacy.redact_record(properties)
        events = [cast(Event, _privacy.apply_mask(mask, record)) for record in records]
        group.properties = cast(SessionProperties, _privacy.apply_mask(mask, properties))
        times, roots = _extent(events, group.properties.get("session_id"))
        project = events[0].get("project", "") if events else ""
        parts.append(
            Part([(to_json(e),) for e in events], group.properties, project=project, start_end_ms=times, roots=roots)
        )
    return Encoded(Body(parts), redacted, sum(hint.truncated for _, hint in pairs))


def _extent(events: list[Event], session_id: Any) -> tuple[tuple[int, int], tuple[str, ...]]:
    """First start, last end (epoch ms) and top events of a session's records, which a ``mask`` may have edited
    (a missing or non-numeric time is skipped)."""
    starts, ends = ([e.get(key) for e in events] for key in ("start_time", "end_time"))
    first = min((int(t) for t in starts if isinstance(t, (int, float)) and math.isfinite(t)), default=0)
    last = max((int(t) for t in ends if isinstance(t, (int, float)) and math.isfinite(t)), default=0)
    return (first, last), tuple(e.get("event_id") for e in events if e.get("parent_id") == session_id)


def batch_body(groups: list[SessionGroup]) -> dict[str, Any]:
    """The request body for a batch of grouped records, as records: what :func:`encode` sends, decoded."""
    if len(groups) == 1:
        group = groups[0]
        return {"events": group.events, "is_single_session": True, "session_properties": group.properties}
    events: list[Any] = []
    for group in groups:
        (start, end), roots = _extent(group.events, group.properties["session_id"])
        events.append(session_event(group.properties, group.project, start, end, roots))
        events.extend(group.events)
    return {"events": events, "is_single_session": False}


def session_event(props: SessionProperties, project: str, start: int, end: int, roots: tuple[str, ...]) -> Event:
    """A session's properties as the ``session`` event that carries them in a coalesced request."""
    sid = props["session_id"]
    return {
        "project": project,
        "source": props["source"],
        "event_name": props["session_name"] or "Session",
        "event_type": "session",
        "event_id": sid,
        "session_id": sid,
        "parent_id": None,
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
