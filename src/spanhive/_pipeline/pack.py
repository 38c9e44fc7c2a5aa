"""Stage 5, pack: encoded parts become request bodies for ``POST /events/batch`` under the size limit.

One session per request goes out as ``single_session: true`` with its ``session_properties``; several
sessions are coalesced into one request, each session carried as an ``event_type: "session"`` event whose
``event_id`` is the session id (how the HoneyHive data model stores sessions). A body over the limit is
split by joining parts, never by encoding again; a lone event over it has its largest values cut, never
dropped; a body the server calls too large (``413``) is halved here too.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from typing import Any, Optional, Union

from spanhive import _gzip
from spanhive._native import mypyc_attr
from spanhive._pipeline.assemble import SessionGroup
from spanhive._pipeline.encode import Part, Pieces, encode_whole, length, to_json
from spanhive.mapping._limits import truncate

_WRAPPER = len(b'{"events":[],"single_session":false,"session_properties":}')
"""Bytes a body adds around its records."""


def compress(data: bytes) -> bytes:
    """A body's gzip bytes (see :mod:`spanhive._gzip`)."""
    return _gzip.compress(data)


def decompress(wire: bytes, encoding: str) -> bytes:
    """A body's JSON bytes from its bytes on the wire (``gzip`` or ``identity``)."""
    return _gzip.decompress(wire) if encoding == "gzip" else wire


@mypyc_attr(acyclic=True)
class Body:
    """One request body, held as encoded parts (one per session) until its bytes are needed.

    A body for a sink that takes records (the embedded store) also carries them, whole: such a sink never
    decodes what was encoded for it, and the bytes are joined only if the body has to be spooled.
    """

    __slots__ = ("_listing", "_parts", "_payload", "cut", "records")

    def __init__(
        self,
        parts: Optional[list[Part]],
        payload: Optional[bytes] = None,
        records: Optional[list[SessionGroup]] = None,
    ) -> None:
        self._parts = parts
        self._payload = payload
        self._listing: Optional[list[Union[bytes, memoryview]]] = None
        """The body's pieces in order, listed once for :attr:`size` and the join."""
        self.records = records
        self.cut = 0
        """Values cut to make the body fit a size limit (see :func:`shrunk`)."""

    @classmethod
    def of_records(cls, groups: list[SessionGroup]) -> Body:
        """A body of whole records, encoded only when its bytes are asked for."""
        return cls(None, records=groups)

    @property
    def parts(self) -> list[Part]:
        """The body's encoded parts, one per session."""
        if self._parts is None:
            self._parts = encode_whole(self.records or [])
        return self._parts

    @property
    def payload(self) -> bytes:
        """The body as JSON bytes (uncompressed)."""
        if self._payload is None:
            self._payload = b"".join(self._pieces())
            self._listing = None
        return self._payload

    def wire(self, encoding: str) -> bytes:
        """The body's bytes as sent with ``Content-Encoding: encoding``."""
        return compress(self.payload) if encoding == "gzip" else self.payload

    @property
    def size(self) -> int:
        """``len(self.payload)``, without joining it."""
        return len(self._payload) if self._payload is not None else sum(map(len, self._pieces()))

    def _pieces(self) -> list[Union[bytes, memoryview]]:
        """The body's bytes in order, for one join (a body can be tens of megabytes: copy it once)."""
        if self._listing is None:
            self._listing = self._list()
        return self._listing

    def _list(self) -> list[Union[bytes, memoryview]]:
        if len(self.parts) == 1 and self.parts[0].properties is not None:
            part = self.parts[0]
            pieces = _listed(b'{"events":[', part.events)
            pieces += (b'],"single_session":true,"session_properties":', *part.record(), b"}")
            return pieces
        records: list[Pieces] = []
        for part in self.parts:
            own = part.session_event()
            if own is not None:
                records.append(own)
            records.extend(part.events)
        pieces = _listed(b'{"events":[', records)
        pieces.append(b'],"single_session":false}')
        return pieces

    @property
    def events(self) -> int:
        """Span events in the body (the session records that travel as events are not counted)."""
        if self._parts is None and self.records is not None:
            return sum(len(group.events) for group in self.records)
        return sum(len(part.events) for part in self.parts)


def _listed(head: bytes, records: list[Pieces]) -> list[Union[bytes, memoryview]]:
    """``head``, then the pieces of ``records`` with a comma between each two records."""
    pieces: list[Union[bytes, memoryview]] = [head]
    for record in records:
        pieces += record
        pieces.append(b",")
    if records:
        pieces.pop()
    return pieces


def pack(parts: list[Part], limit: int) -> list[Body]:
    """Bodies of at most ``limit`` bytes holding ``parts`` (usually one body); a lone event too large even
    alone comes back with its largest values cut (:func:`shrunk`)."""
    body = Body(parts)
    if body.size <= limit:
        return [body]
    bodies = split(body, limit)
    if bodies is None:
        return [shrunk(body, limit)]
    return [b for piece in bodies for b in (pack(piece.parts, limit) if piece.size > limit else [piece])]


def split(body: Body, limit: int) -> Optional[list[Body]]:
    """Bodies of at most ``limit`` bytes holding the same records (a session split across bodies carries its
    record in each; the receiver merges them); ``None`` for a body of a single event."""
    if body.events < 2:
        return None
    bodies: list[Body] = []
    current: list[Part] = []
    size = _WRAPPER
    for whole in body.parts:
        for part in _runs(whole, limit) if whole.size() + _WRAPPER > limit else (whole,):
            needed = part.size()
            if current and size + needed > limit:
                bodies.append(Body(current))
                current, size = [], _WRAPPER
            current.append(part)
            size += needed
    bodies.append(Body(current))
    return bodies if len(bodies) > 1 else halves(body)


def _runs(part: Part, limit: int) -> Iterator[Part]:
    """``part`` as parts of at most ``limit`` bytes each (counting its session record with every run)."""
    own = part.session_event()
    room = limit - _WRAPPER - (length(own) + 1 if own is not None else 0)
    run: list[Pieces] = []
    size = 0
    for event in part.events:
        size_of = length(event)
        if run and size + size_of + 1 > room:
            yield part.with_events(run)
            run, size = [], 0
        run.append(event)
        size += size_of + 1
    if run:
        yield part.with_events(run)


def halves(body: Body) -> Optional[list[Body]]:
    """The records in two bodies of about equal length; ``None`` for a body of a single event."""
    if len(body.parts) > 1:
        middle = len(body.parts) // 2
        return [Body(body.parts[:middle]), Body(body.parts[middle:])]
    (part,) = body.parts
    if len(part.events) < 2:
        return None
    middle = len(part.events) // 2
    return [Body([part.with_events(part.events[:middle])]), Body([part.with_events(part.events[middle:])])]


def smaller(body: Body) -> Optional[list[Body]]:
    """What to send instead of a body the server refused as too large (``413``): its halves, or for a lone
    event its largest values cut to half its size; ``None`` for a lone event too small to cut (1 KiB) or with
    no value long enough to cut."""
    parts = halves(body)
    if parts is not None:
        return parts
    if body.size <= 1024:
        return None
    cut = shrunk(body, body.size // 2)
    return [cut] if cut.cut else None


def shrunk(body: Body, limit: int) -> Body:
    """A body of one event, with its largest string values cut until it fits ``limit`` (never dropped); its
    ``cut`` says how many were cut."""
    record, payload, cut = shrink_to_fit(json.loads(body.payload), limit)
    result = Body(_decoded_parts(record), payload)
    result.cut = cut
    return result


def decode(wire: bytes, encoding: str) -> Body:
    """A body from its bytes on the wire (a spooled request), so that it can be halved."""
    payload = decompress(wire, encoding)
    return Body(_decoded_parts(json.loads(payload)), payload)


def remainder(wire: bytes, encoding: str, stored: Collection[str]) -> Optional[Body]:
    """The request without the span events whose ids the server said it ``stored`` (session records kept,
    as they are merged on arrival); ``None`` when no span event is left."""
    body = json.loads(decompress(wire, encoding))
    events = [e for e in body.get("events") or () if isinstance(e, dict)]
    body["events"] = [e for e in events if e.get("event_type") == "session" or e.get("event_id") not in stored]
    rest = Body(_decoded_parts(body))
    return rest if rest.events else None


def _decoded_parts(body: dict[str, Any]) -> list[Part]:
    events = [e for e in body.get("events") or () if isinstance(e, dict)]
    if body.get("single_session") or body.get("is_single_session"):  # the legacy name, in bodies spooled before
        return [Part([(to_json(event),) for event in events], body.get("session_properties"))]
    parts: dict[Any, list[Any]] = {}
    for event in events:
        found = parts.setdefault(event.get("session_id"), [None, []])
        if event.get("event_type") == "session" and found[0] is None:
            found[0] = (to_json(event),)
        else:
            found[1].append((to_json(event),))
    return [Part(events_, session_event=own) for own, events_ in parts.values()]


def shrink_to_fit(body: dict[str, Any], max_bytes: int) -> tuple[dict[str, Any], bytes, int]:
    """A one-event body over the size limit, with its largest string values cut (with a marker) until the
    JSON fits; returns the body, its JSON and how many values were cut. Never drops the event, and never cuts
    its ids and names: a body that holds nothing left to cut stays over the limit."""
    cut = 0
    payload = to_json(body)
    while len(payload) > max_bytes:
        largest = _largest_string(body)
        if largest is None:
            break
        container, key, text = largest
        excess = len(payload) - max_bytes
        shorter = truncate(text, max(0, len(text) - excess - 256))
        if len(shorter) >= len(text):  # the marker would not make it shorter: every cut must gain, or it ends
            break
        container[key] = shorter
        cut += 1
        payload = to_json(body)
    return body, payload, cut


_NEVER_CUT = frozenset(
    {"event_id", "session_id", "parent_id", "children_ids", "event_type", "event_name", "session_name", "source",
     "project"}
)  # fmt: skip
"""Keys whose values say what a record is and where it belongs: cutting them would break the session."""
MIN_CUT_CHARS = 64
"""Strings this short are never cut: ids, names, a marker; only values worth cutting are."""


def _largest_string(value: Any) -> Optional[tuple[Any, Any, str]]:
    best: Optional[tuple[Any, Any, str]] = None
    longest = MIN_CUT_CHARS
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            items: Any = ((k, v) for k, v in node.items() if k not in _NEVER_CUT)
        else:
            items = enumerate(node) if isinstance(node, list) else ()
        for key, item in items:
            if isinstance(item, str):
                if len(item) > longest:
                    best, longest = (node, key, item), len(item)
            elif isinstance(item, (dict, list)):
                stack.append(item)
    return best
