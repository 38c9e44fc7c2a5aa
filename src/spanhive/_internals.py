"""Every reach into a private part of the OpenTelemetry SDK or API, or of the standard library, lives here.

Each one is a fast path: the public accessor does the same work with a copy, a wrapper or a per-call setup
that costs more than the rest of the job. Each is taken only when the object has the exact layout it reads,
checked once at import or on every call, and each has a public fallback. :data:`FAST_PATHS` says which are
active on the versions in use; the test suite asserts that every one is, and runs every fallback too, so a
new SDK release that moves a field shows up as a failing test, not as a silent slowdown or a crash.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextvars import Token
from json import encoder as _json_encoder
from typing import Any, Final, Optional

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

# --- span attributes, events and links -----------------------------------------------------------------


def span_attributes(span: Any) -> dict[str, Any]:
    """The span's attributes as a plain dict, read without copying.

    The SDK's public ``attributes`` wraps a ``BoundedAttributes`` (a ``MutableMapping`` whose every lookup
    runs Python code) in a proxy; its inner dict answers the dozens of lookups a mapping makes at C speed.
    Any other span object goes through the public accessor.
    """
    inner = getattr(getattr(span, "_attributes", None), "_dict", None)
    if isinstance(inner, dict):
        return inner
    attributes = span.attributes
    return attributes if isinstance(attributes, dict) else dict(attributes or {})


def span_events(span: Any) -> Sequence[Any]:
    """``span.events`` without the tuple copy the SDK makes on every access."""
    held = _in_place(getattr(span, "_events", None))
    return held if held is not None else span.events or ()


def span_links(span: Any) -> Sequence[Any]:
    """``span.links`` without the tuple copy the SDK makes on every access."""
    held = _in_place(getattr(span, "_links", None))
    return held if held is not None else span.links or ()


def _in_place(held: Any) -> Optional[Sequence[Any]]:
    """The sequence a span holds its events or links in, if it is the SDK's ``BoundedList`` (its deque) or a
    plain tuple or list (a span built by hand, or from OTLP): by class, so that no lookup of a missing
    attribute raises and catches an ``AttributeError`` on every span."""
    kind = type(held)
    if kind is BoundedList:
        inner = getattr(held, "_dq", None)
        return inner if isinstance(inner, deque) else None
    return held if kind is tuple or kind is list else None


SpanFields = tuple[
    str, int, int, Optional[int], bool, Any, int, int, Any, Optional[str], Any, Optional[str], int,
    dict[str, Any], Sequence[Any], Sequence[Any],
]  # fmt: skip
"""What mapping reads of every span, in this order: name, trace id, span id, the parent's span id (``None``
for a root) and whether the parent is remote, kind, start and end (ns), status code and description, resource,
instrumentation scope name, how many attributes the SDK dropped, and its attributes, events and links (as
:func:`span_attributes`, :func:`span_events` and :func:`span_links` read them)."""


def span_fields(span: Any) -> SpanFields:
    """A finished span's :data:`SpanFields`, each read once.

    Every public field of a ``ReadableSpan`` is a Python property, and so are those of its ``SpanContext``,
    ``Status`` and ``InstrumentationScope``: a dozen Python calls per span, 40 % of mapping a web span in the
    compiled build (where a property costs twice what it costs the interpreter). An SDK ``ReadableSpan``, the
    class every SDK span is exported as, is read from its instance dict, and a ``SpanContext`` (a tuple) by
    index; anything else through the public properties.
    """
    data: Optional[dict[str, Any]] = None
    events: Optional[Sequence[Any]] = None
    links: Optional[Sequence[Any]] = None
    if _FAST_FIELDS and type(span) is ReadableSpan:
        fields = span.__dict__
        name, context, parent = fields["_name"], fields["_context"], fields["_parent"]
        kind, start, end = fields["_kind"], fields["_start_time"], fields["_end_time"]
        status, resource, scope = fields["_status"], fields["_resource"], fields["_instrumentation_scope"]
        attributes = fields["_attributes"]
        if type(attributes) is BoundedAttributes:
            dropped = attributes.dropped
            inner = attributes._dict
            data = inner if type(inner) is dict else None
        else:
            dropped = 0
        events, links = _in_place(fields["_events"]), _in_place(fields["_links"])
    else:
        name, context, parent, kind = span.name, span.context, span.parent, span.kind
        start, end, status, resource = span.start_time, span.end_time, span.status, span.resource
        scope, dropped = span.instrumentation_scope, span.dropped_attributes
    trace_id, span_id = _ids_of(context)
    if parent is None:
        parent_id, remote = None, False
    elif _FAST_FIELDS and type(parent) is SpanContext:
        parent_id, remote = parent[1], parent[2]
    else:
        parent_id, remote = parent.span_id, parent.is_remote
    if _FAST_FIELDS and type(status) is Status:
        code, description = status._status_code, status._description
    else:
        code, description = status.status_code, status.description
    if scope is None:
        scope_name = None
    elif _FAST_FIELDS and type(scope) is InstrumentationScope:
        scope_name = scope._name
    else:
        scope_name = scope.name
    return (
        name, trace_id, span_id, parent_id, bool(remote), kind, start or 0, end or start or 0, code, description,
        resource, scope_name, dropped or 0, data if data is not None else span_attributes(span),
        events if events is not None else span_events(span), links if links is not None else span_links(span),
    )  # fmt: skip


def span_trace(span: Any) -> tuple[int, bool]:
    """A span's trace id, and whether it is its trace's local root (no parent, or a remote one): what grouping
    a batch by trace reads of every span, read as :func:`span_fields` reads it."""
    if _FAST_FIELDS and type(span) is ReadableSpan:
        fields = span.__dict__
        context, parent = fields["_context"], fields["_parent"]
    else:
        context, parent = span.context, span.parent
    trace_id = _ids_of(context)[0]
    if parent is None:
        return trace_id, True
    return trace_id, bool(parent[2] if _FAST_FIELDS and type(parent) is SpanContext else parent.is_remote)


def _ids_of(context: Any) -> tuple[int, int]:
    """A span context's trace and span ids: by index from a ``SpanContext`` (a tuple), else its properties."""
    if _FAST_FIELDS and type(context) is SpanContext:
        return context[0], context[1]
    if context is None:
        return 0, 0
    return context.trace_id, context.span_id


def _fields_layout_known() -> bool:
    """Whether the SDK's span, context, status and scope hold their fields where :func:`span_fields` reads
    them (checked once, on objects built through their public constructors)."""
    context = SpanContext(11, 22, True)
    status = Status(StatusCode.ERROR, "why")
    scope = InstrumentationScope("scope")
    attributes = BoundedAttributes(attributes={"a": 1})
    span = ReadableSpan(
        name="probe", context=context, parent=context, kind=SpanKind.CLIENT, start_time=3, end_time=4,
        status=status, attributes=attributes, instrumentation_scope=scope,
    )  # fmt: skip
    try:
        fields = vars(span)
        return (
            tuple(context[:3]) == (context.trace_id, context.span_id, context.is_remote) == (11, 22, True)
            and (fields["_name"], fields["_context"], fields["_parent"]) == (span.name, span.context, span.parent)
            and (fields["_kind"], fields["_start_time"], fields["_end_time"]) == (span.kind, 3, 4)
            and fields["_status"] is span.status
            and fields["_resource"] is span.resource
            and fields["_instrumentation_scope"] is span.instrumentation_scope
            and fields["_attributes"].dropped == span.dropped_attributes == 0
            and fields["_attributes"]._dict == dict(span.attributes or {}) == {"a": 1}
            and _in_place(fields["_events"]) is not None
            and _in_place(fields["_links"]) is not None
            and (status._status_code, status._description) == (status.status_code, status.description)
            and scope._name == scope.name
        )
    except (AttributeError, KeyError, TypeError):
        return False


_FAST_FIELDS: Final = _fields_layout_known()


def _attributes_layout_known() -> bool:
    """Whether the SDK's ``BoundedAttributes`` has the fields :func:`stamp_attributes` reads (checked once)."""
    probe = BoundedAttributes(maxlen=None, immutable=False, max_value_len=None)
    return all(hasattr(probe, name) for name in ("_dict", "_immutable", "maxlen", "max_value_len"))


_FAST_STAMP = _attributes_layout_known()


def stamp_attributes(span: Any, stamp: dict[str, Any]) -> None:
    """``span.set_attributes(stamp)``, minus the SDK's per-value cleaning, which costs most of the session
    processor's time on the application thread. Only taken when it changes nothing: the values are plain
    strings spanhive built, the span's attribute container is the SDK's, mutable, without a value-length limit
    and with room left; otherwise the public call does it. No lock: a span in ``on_start`` is not yet visible
    to any other thread."""
    attributes = getattr(span, "_attributes", None)
    if (
        _FAST_STAMP
        and isinstance(attributes, BoundedAttributes)
        and type(attributes) is BoundedAttributes
        and attributes._immutable is False
        and attributes.max_value_len is None
        and (attributes.maxlen is None or len(attributes._dict) + len(stamp) <= attributes.maxlen)
    ):
        attributes._dict.update(stamp)
    else:
        span.set_attributes(stamp)


# --- context: baggage and instrumentation suppression ----------------------------------------------------

_BAGGAGE_KEY: Optional[str] = getattr(baggage, "_BAGGAGE_KEY", None)


def baggage_entries(parent_context: Optional[Context]) -> Mapping[str, object]:
    """The baggage in ``parent_context`` (else the current context), read without the read-only copy the public
    ``baggage.get_all`` wraps it in, when the API's layout is the one known here."""
    if _BAGGAGE_KEY is None:
        return baggage.get_all(parent_context)
    context = parent_context if parent_context is not None else otel_context.get_current()
    value = context.get(_BAGGAGE_KEY)
    return value if isinstance(value, dict) else {}


_SUPPRESS_KEYS = tuple(
    key
    for key in (
        getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None),
        getattr(otel_context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None),
    )
    if key is not None
)
"""The context keys instrumentations check before tracing a call: the API exports them under private names
only, and ``requests``/``urllib3`` instrumentations would otherwise trace spanhive's own requests."""


def suppressed() -> Token[Context]:
    """Attach a context in which instrumentations (``requests``, ``urllib3``…) do not trace our own calls;
    detach the token when done."""
    ctx = otel_context.get_current()
    for key in _SUPPRESS_KEYS:
        ctx = otel_context.set_value(key, True, ctx)
    return otel_context.attach(ctx)


# --- the SDK's provider and processors -------------------------------------------------------------------


def span_processors(provider: Any) -> list[Any]:
    """The processors on an SDK provider (read from its multi-processor; empty for anything else): the SDK
    has no public way to list them, and ``configure()`` must not add spanhive twice."""
    active = getattr(provider, "_active_span_processor", None)
    return list(getattr(active, "_span_processors", ()) or ())


def processor_exporter(processor: Any) -> Any:
    """The exporter a simple or batch span processor sends to (``None`` when it cannot be told)."""
    return getattr(processor, "span_exporter", None) or getattr(
        getattr(processor, "_batch_processor", None), "_exporter", None
    )


# --- the standard library's JSON encoder -----------------------------------------------------------------


def json_text_encoder() -> Callable[[Any], str]:
    """Compact JSON text, non-ASCII kept as is, unknown objects as ``str``, NaN refused (``ValueError``).

    The C encoder is built once and kept (``json.dumps`` builds one per call), without the circular-reference
    bookkeeping: records are trees made from span attributes and parsed JSON.
    """
    make = getattr(_json_encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return json_text_encoder_public()
    chunks = make(None, str, _json_encoder.encode_basestring, None, ":", ",", False, False, False)
    return lambda value: "".join(chunks(value, 0))


def json_text_encoder_public() -> Callable[[Any], str]:
    """:func:`json_text_encoder` through the public API (the same text, a few times slower on small values)."""
    return json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str).encode


FAST_PATHS: Mapping[str, bool] = {
    "span_fields": _FAST_FIELDS,
    "stamp_attributes": _FAST_STAMP,
    "baggage_entries": _BAGGAGE_KEY is not None,
    "suppressed": len(_SUPPRESS_KEYS) == 2,
    "json_text_encoder": getattr(_json_encoder, "c_make_encoder", None) is not None,
}
"""The fast paths decided once at import, and whether each is active here (the per-span ones are checked per
call; the tests probe those on real spans and providers)."""
