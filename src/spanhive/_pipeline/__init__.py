"""The export path: a batch of finished spans through named stages, each a module that only uses the ones
before it::

    map ──► assemble ──► privacy ──► encode ──► pack ──► deliver ──► drain
    span →   sessions,    redact,     JSON       bodies    retry,      413 → smaller,
    event    trees        mask        pieces     ≤ limit   spool       spool replay

``map`` is pure and per span; ``assemble`` groups a batch's events by session and links their trees;
``privacy`` redacts secrets and applies the user's ``mask``; ``encode`` turns records into JSON pieces;
``pack`` joins them into request bodies under the size limit; ``deliver`` gets a body to its sink (one
module per sink in ``sinks/``) or keeps it in the spool; ``drain`` sends smaller bodies after a ``413`` and
replays the spool. :func:`prepare` runs the first five over one batch; the exporter hands the bodies to
:func:`~spanhive._pipeline.drain.send_bodies`.

Records stream through the first four stages one at a time (each is encoded and let go before the next
span is mapped) unless something needs them whole: a ``mask``, and the embedded store, which takes records
rather than bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple, Optional, cast

from opentelemetry.sdk.trace import ReadableSpan

from spanhive._pipeline import pack as _pack
from spanhive._pipeline import privacy
from spanhive._pipeline.assemble import Assembly, SessionGroup, whole_sessions
from spanhive._pipeline.encode import Encoder, encode_whole
from spanhive._pipeline.map import Defaults, Mapped, map_span_safely, map_spans
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
    spans: Iterable[ReadableSpan],
    defaults: Defaults,
    max_request_bytes: int,
    *,
    mask: Optional[Mask] = None,
    whole_records: bool = False,
) -> Prepared:
    """Map, assemble, redact (and mask), encode and pack one batch. ``whole_records``: the sink takes records
    (one body of whole records, encoded only if it must be spooled)."""
    if mask is None and not whole_records:
        return _streamed(spans, defaults, max_request_bytes)
    truncated = 0

    def counted(mapped: Iterator[Mapped]) -> Iterator[Mapped]:
        nonlocal truncated
        for pair in mapped:
            truncated += pair[1].truncated
            yield pair

    groups = whole_sessions(counted(map_spans(spans, defaults)), defaults)
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


def _streamed(spans: Iterable[ReadableSpan], defaults: Defaults, max_request_bytes: int) -> Prepared:
    """:func:`prepare` one record at a time: each is assembled, redacted and encoded before the next span is
    mapped, so a batch's records never all live at once."""
    assembly = Assembly(defaults)
    encoder = Encoder()
    redacted = truncated = 0
    for span in spans:  # map_spans, without a generator's frame per span
        mapped = map_span_safely(span, defaults)
        if mapped is None:
            continue
        event, facts = mapped
        truncated += facts.truncated
        entry = assembly.add(event, facts)
        if facts.flat:
            redacted += privacy.redact_flat(event["metadata"])
        else:
            redacted += privacy.redact_record(cast("dict[str, Any]", event))
        encoder.add(entry, event, facts)
    sessions = assembly.finish()
    if not sessions:
        return Prepared([], redacted, truncated)
    for session in sessions:
        redacted += privacy.redact_record(cast("dict[str, Any]", session.properties))
    return Prepared(_pack.pack(encoder.parts(sessions), max_request_bytes), redacted, truncated)


__all__ = ["Prepared", "SessionGroup", "prepare"]
