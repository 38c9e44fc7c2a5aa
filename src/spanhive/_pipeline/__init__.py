"""The export path: a batch of finished spans through named stages, each a module that only uses the ones
before it::

    hold ──► map ──► assemble ──► privacy ──► encode ──► pack ──► deliver ──► drain
    whole    span →   sessions,    redact,     JSON       bodies    retry,      413 → smaller,
    traces   event    trees        mask        pieces     ≤ limit   spool       spool replay

``hold`` keeps a trace's spans until its local root ends; ``map`` is pure and per span; ``assemble`` puts
each trace in one session, groups a batch's events by session and links their trees;
``privacy`` redacts secrets and applies the user's ``mask``; ``encode`` turns records into JSON pieces;
``pack`` joins them into request bodies under the size limit; ``deliver`` gets a body to its sink (one
module per sink in ``sinks/``) or keeps it in the spool; ``drain`` sends smaller bodies after a ``413`` and
replays the spool. :func:`prepare` runs the first six over one batch (:func:`prepare_traces` from the
map stage on, for traces a hold releases on its own); the exporter hands the bodies to
:func:`~spanhive._pipeline.drain.send_bodies`.

Records stream through the first four stages one at a time (each is encoded and let go before the next
span is mapped) unless something needs them whole: a ``mask``, and the embedded store, which takes records
rather than bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple, Optional, cast

from opentelemetry.sdk.trace import ReadableSpan

from spanhive._pipeline import pack as _pack
from spanhive._pipeline import privacy
from spanhive._pipeline.assemble import Assembly, SessionGroup, resolve_trace, whole_sessions
from spanhive._pipeline.encode import Encoder, encode_whole
from spanhive._pipeline.hold import Hold, Released, by_trace
from spanhive._pipeline.map import Defaults, Mapped, map_span_safely
from spanhive._pipeline.pack import Body
from spanhive._records import Event, Mask, SessionProperties


class Prepared(NamedTuple):
    bodies: list[Body]
    """Request bodies, each under the size limit (one, for a sink that takes records)."""
    redacted: int
    """Sensitive values replaced."""
    truncated: int
    """Values cut to the size limit while mapping."""


def prepare(
    spans: Sequence[ReadableSpan],
    defaults: Defaults,
    max_request_bytes: int,
    *,
    mask: Optional[Mask] = None,
    whole_records: bool = False,
    hold: Optional[Hold] = None,
) -> Prepared:
    """Hold, map, assemble, redact (and mask), encode and pack one batch. ``whole_records``: the sink takes
    records (one body of whole records, encoded only if it must be spooled). Without a ``hold``, the batch's
    traces are taken as they are."""
    traces = hold.add(spans) if hold is not None else by_trace(spans)
    return prepare_traces(traces, defaults, max_request_bytes, mask=mask, whole_records=whole_records, hold=hold)


def prepare_traces(
    traces: list[Released],
    defaults: Defaults,
    max_request_bytes: int,
    *,
    mask: Optional[Mask] = None,
    whole_records: bool = False,
    hold: Optional[Hold] = None,
) -> Prepared:
    """:func:`prepare` from the map stage on, for traces already released; each trace's session is
    remembered in ``hold``."""
    if mask is None and not whole_records:
        return _streamed(traces, defaults, max_request_bytes, hold)
    truncated = 0

    def counted(mapped: Iterator[Mapped]) -> Iterator[Mapped]:
        nonlocal truncated
        for pair in mapped:
            truncated += pair[1].truncated
            yield pair

    groups = whole_sessions(counted(_resolved(traces, defaults, hold)), defaults, hold)
    redacted = 0
    for group in groups:
        events: list[dict[str, Any]] = cast("list[dict[str, Any]]", group.events)
        properties = cast("dict[str, Any]", group.properties)
        redacted += sum(privacy.redact_record(event) for event in events) + privacy.redact_record(properties)
        if mask is not None:
            group.events = [cast(Event, privacy.apply_mask(mask, event)) for event in events]
            group.properties = cast(SessionProperties, privacy.apply_mask(mask, properties))
    if not groups:
        return Prepared([], redacted, truncated)
    bodies = [Body.of_records(groups)] if whole_records else _pack.pack(encode_whole(groups), max_request_bytes)
    return Prepared(bodies, redacted, truncated)


def _mapped(trace: Released, defaults: Defaults, hold: Optional[Hold]) -> list[Mapped]:
    """One trace's records, in its session (remembered in ``hold`` for the trace's later spans)."""
    mapped = []
    for span in trace.spans:
        pair = map_span_safely(span, defaults)
        if pair is not None:
            mapped.append(pair)
    joined = resolve_trace(mapped, trace.known)
    if hold is not None:
        hold.remember(trace.trace_id, joined)
    return mapped


def _resolved(traces: Iterable[Released], defaults: Defaults, hold: Optional[Hold]) -> Iterator[Mapped]:
    for trace in traces:
        yield from _mapped(trace, defaults, hold)


def _streamed(traces: list[Released], defaults: Defaults, max_request_bytes: int, hold: Optional[Hold]) -> Prepared:
    """:func:`prepare` one trace at a time: each trace's records are assembled, redacted and encoded before
    the next trace is mapped, so a batch's records never all live at once."""
    assembly = Assembly(defaults, hold)
    encoder = Encoder()
    redacted = truncated = 0
    for trace in traces:
        for event, facts in _mapped(trace, defaults, hold):
            truncated += facts.truncated
            entry = assembly.add(event, facts)
            redacted += privacy.redact_record(cast("dict[str, Any]", event))
            encoder.add(entry, event, facts)
    sessions = assembly.finish()
    if not sessions:
        return Prepared([], redacted, truncated)
    for session in sessions:
        redacted += privacy.redact_record(cast("dict[str, Any]", session.properties))
    return Prepared(_pack.pack(encoder.parts(sessions), max_request_bytes), redacted, truncated)


__all__ = ["Hold", "Prepared", "SessionGroup", "prepare", "prepare_traces"]
