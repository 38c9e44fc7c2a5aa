"""Deterministic ids: the same span always maps to the same event and session ids.

That is what makes retries and spool replays idempotent and lets any process map any span without shared
state. Ids are shaped as random (version 4, RFC 4122 variant) UUIDs because the HoneyHive API validates them
as such; they are derived with BLAKE2b, keyed by a domain label so an event id never equals a session id.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from hashlib import blake2b
from typing import Optional

_EVENT = b"spanhive:event"  # BLAKE2b personalisation: at most 16 bytes
_TRACE_SESSION = b"spanhive:trace"
_NAMED_SESSION = b"spanhive:session"


_VARIANT = {digit: "89ab"[int(digit, 16) & 0x3] for digit in "0123456789abcdef"}
"""The RFC 4122 variant's hex digit (``10xx``) for the digest's own digit there."""


def _uuid4_shaped(h: str) -> str:
    """A 16-byte digest's hex as a version 4 UUID: its version digit set to 4, its variant digit's two top
    bits to 10 (on the hex, which is a third faster than setting the bits in the bytes first)."""
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_EVENT_HASH = blake2b(digest_size=16, person=_EVENT)
_TRACE_SESSION_HASH = blake2b(digest_size=16, person=_TRACE_SESSION)
"""Hash states set up once and copied for each id: a third less than setting one up (never updated, so any
thread may copy them)."""


EVENT_IDS_KEPT = 1024
"""Event ids remembered: a child asks for its parent's id, then the parent for its own (children end
first). A span's own id is not remembered when no child asked for it first: no one else asks for it, but a
child that ends after it, which derives it again."""
TRACE_SESSIONS_KEPT = 256
"""Trace-derived session ids remembered: every span of a trace asks for the same one.

Both are small on purpose. Spans are mapped a trace at a time (the hold releases whole traces), so what is
asked again is asked within the trace in hand. A small dict stays in the CPU's cache; at 16,384 and 4,096
entries, a look-up in an export among other work was often a cache miss: 0.5 µs per small span in
``benchmarks.run``, compiled."""
_event_ids: dict[int, tuple[int, str]] = {}
"""``(trace id, event id)`` by span id: a span's id is an int the span already holds, where a key made of
both ids would be a new 192-bit int to make and hash on every call. One dict, so that a look-up on another
thread never pairs one span's trace with another's id."""
_trace_sessions: dict[int, str] = {}
# Plain dicts, emptied when full, rather than ``lru_cache``: compiled, a call through its wrapper cost more
# than the look-up itself, three times per span. Each id is computed afresh when it is not found, so what
# is forgotten, and when, never changes an id.


def event_id(trace_id: int, span_id: int, *, own: bool = False) -> str:
    """The event id of span ``span_id`` in trace ``trace_id``, from the trace id's 16 bytes and the span id's
    8 (an id that does not fit them is no OpenTelemetry id: ``OverflowError``); ``own``: asked for by that
    span itself, so not remembered (:data:`EVENT_IDS_KEPT`; a store in a dict this large costs a quarter of a
    derivation)."""
    found = _event_ids.get(span_id)
    if found is not None and found[0] == trace_id:
        return found[1]
    digest = _EVENT_HASH.copy()
    digest.update(trace_id.to_bytes(16, "big"))
    digest.update(span_id.to_bytes(8, "big"))
    known = _uuid4_shaped(digest.hexdigest())
    if not own:
        if len(_event_ids) >= EVENT_IDS_KEPT:
            _event_ids.clear()
        _event_ids[span_id] = (trace_id, known)
    return known


def trace_session_id(trace_id: int) -> str:
    """The session id of a trace that names no session of its own."""
    known = _trace_sessions.get(trace_id)
    if known is None:
        digest = _TRACE_SESSION_HASH.copy()
        digest.update(trace_id.to_bytes(16, "big"))
        known = _uuid4_shaped(digest.hexdigest())
        if len(_trace_sessions) >= TRACE_SESSIONS_KEPT:
            _trace_sessions.clear()
        _trace_sessions[trace_id] = known
    return known


def forget() -> None:
    """Empty every cache of ids (for tests that must derive ids afresh)."""
    _event_ids.clear()
    _trace_sessions.clear()
    session_id_for.cache_clear()


def canonical_uuid(value: str) -> Optional[str]:
    """``value`` as a lower-case hyphenated UUID if it is one, else ``None``."""
    if not 32 <= len(value) <= 38:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def session_id_for(value: str) -> tuple[str, bool]:
    """A session id for an explicit session attribute: ``(id, True)`` when ``value`` had to be converted.

    A value that is already a UUID is used as is (canonicalised); anything else becomes a deterministic UUID,
    so every process and every retry turns the same external id into the same session.
    """
    canonical = canonical_uuid(value)
    if canonical is not None:
        return canonical, False
    digest = blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16, person=_NAMED_SESSION).hexdigest()
    return _uuid4_shaped(digest), True
