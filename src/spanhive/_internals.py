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
from typing import Any, Optional

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context

# --- span attributes, events and links -----------------------------------------------------------------


def span_attributes(span: Any) -> Mapping[str, Any]:
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
    inner = getattr(getattr(span, "_events", None), "_dq", None)
    return inner if isinstance(inner, deque) else span.events or ()


def span_links(span: Any) -> Sequence[Any]:
    """``span.links`` without the tuple copy the SDK makes on every access."""
    inner = getattr(getattr(span, "_links", None), "_dq", None)
    return inner if isinstance(inner, deque) else span.links or ()


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
        and attributes.__class__ is BoundedAttributes
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
    "stamp_attributes": _FAST_STAMP,
    "baggage_entries": _BAGGAGE_KEY is not None,
    "suppressed": len(_SUPPRESS_KEYS) == 2,
    "json_text_encoder": getattr(_json_encoder, "c_make_encoder", None) is not None,
}
"""The fast paths decided once at import, and whether each is active here (the per-span ones are checked per
call; the tests probe those on real spans and providers)."""
