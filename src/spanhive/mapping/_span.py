"""One finished span → one event record: ids, names, times, error, then each convention in precedence order.

Pure and stateless: the result depends only on the span and the exporter's defaults, so the same span maps to
the same record in any process, on any retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from spanhive import _ids
from spanhive._records import EVENT_TYPES, Event
from spanhive.mapping import honeyhive
from spanhive.mapping._attrs import SpanAttrs

SESSION_ID_KEYS = (
    *honeyhive.SESSION_ID_KEYS,
    "traceloop.association.properties.session_id",
    "session.id",
    "langfuse.session.id",
    "gen_ai.conversation.id",
)
"""Where a span names its session, most specific first (HoneyHive's own resolution order leads)."""

USER_ID_KEYS = (*honeyhive.USER_ID_KEYS, "user.id")

CONVENTIONS = (honeyhive.apply,)
"""Convention modules in precedence order; each fills only the fields still empty."""

RESOURCE_METADATA_KEYS = (
    "service.name",
    "service.version",
    "deployment.environment",
    "deployment.environment.name",
)
_UNKNOWN_SERVICE = "unknown_service"


@dataclass(frozen=True)
class Defaults:
    """What the exporter's configuration contributes to every record (``None``: derive it per span)."""

    project: Optional[str] = None
    source: Optional[str] = None
    session_name: Optional[str] = None


class SessionHint(NamedTuple):
    """What one span tells about its session beyond the event itself."""

    name: Optional[str]
    """A session name the span states explicitly."""
    root: bool
    """The span is the top span of its trace."""
    typed: bool
    """``event_type`` came from the span; otherwise it is settled once the batch's tree is known."""
    start_ns: int
    """Exact start, to order siblings that start within the same millisecond."""


def map_span(span: ReadableSpan, defaults: Defaults) -> tuple[Event, SessionHint]:
    ctx = span.context
    trace_id = ctx.trace_id if ctx is not None else 0
    span_id = ctx.span_id if ctx is not None else 0
    attrs = SpanAttrs(span.attributes)
    resource = span.resource.attributes if span.resource is not None else {}
    system: dict[str, Any] = {"trace_id": format(trace_id, "032x"), "span_id": format(span_id, "016x")}

    raw_session = attrs.take_str(*SESSION_ID_KEYS)
    if raw_session is not None:
        session_id, converted = _ids.session_id_for(raw_session)
        if converted:
            system["external_session_id"] = raw_session
    else:
        session_id = _ids.trace_session_id(trace_id)

    explicit_id = attrs.take_str(*honeyhive.EVENT_ID_KEYS)
    event_id = (explicit_id and _ids.canonical_uuid(explicit_id)) or _ids.event_id(trace_id, span_id)
    parent = span.parent
    start = span.start_time or 0
    end = span.end_time or start

    explicit_type = attrs.take_str(*honeyhive.EVENT_TYPE_KEYS)
    event_type = explicit_type.lower() if explicit_type else None
    if event_type == "session":  # the session record is separate; keep what the span said
        event_type, system["span_kind"] = "chain", "session"
    elif event_type not in EVENT_TYPES:
        if explicit_type is not None:
            system["invalid_event_type"] = explicit_type
        event_type = None

    event = new_event(
        project=defaults.project
        or attrs.take_str(*honeyhive.PROJECT_KEYS)
        or _service(resource)
        or "default",
        source=attrs.take_str(*honeyhive.SOURCE_KEYS) or defaults.source or _environment(resource) or "dev",
        name=attrs.take_str(*honeyhive.EVENT_NAME_KEYS) or span.name or "unknown",
        event_type=event_type or "tool",
        event_id=event_id,
        session_id=session_id,
        parent_id=_ids.event_id(trace_id, parent.span_id) if parent is not None else session_id,
        start_ns=start,
        end_ns=end,
    )
    session_name = attrs.take_str(*honeyhive.SESSION_NAME_KEYS)
    for convention in CONVENTIONS:
        convention(attrs, event)

    user_id = attrs.take_str(*USER_ID_KEYS)
    if user_id is not None:
        event["user_properties"].setdefault("user_id", user_id)
    event["error"] = _error(span, attrs, system)
    _describe_span(span, resource, system)
    event["metadata"] = _merge_metadata(attrs.leftovers(), event["metadata"], system)
    return event, SessionHint(session_name, parent is None, event_type is not None, start)


def new_event(
    *,
    project: str,
    source: str,
    name: str,
    event_type: str,
    event_id: str,
    session_id: str,
    parent_id: Optional[str],
    start_ns: int,
    end_ns: int,
) -> Event:
    """An event record with every dict field present and empty, times converted to milliseconds."""
    return {
        "project": project,
        "source": source,
        "event_name": name,
        "event_type": event_type,
        "event_id": event_id,
        "session_id": session_id,
        "parent_id": parent_id,
        "children_ids": [],
        "config": {},
        "inputs": {},
        "outputs": {},
        "error": None,
        "start_time": start_ns // 1_000_000,
        "end_time": end_ns // 1_000_000,
        "duration": (end_ns - start_ns) / 1e6,
        "metadata": {},
        "feedback": {},
        "metrics": {},
        "user_properties": {},
    }


def _service(resource: Any) -> Optional[str]:
    name = resource.get("service.name")
    return name if isinstance(name, str) and name and not name.startswith(_UNKNOWN_SERVICE) else None


def _environment(resource: Any) -> Optional[str]:
    env = resource.get("deployment.environment.name") or resource.get("deployment.environment")
    return env if isinstance(env, str) and env else None


def _error(span: ReadableSpan, attrs: SpanAttrs, system: dict[str, Any]) -> Optional[str]:
    """Explicit error › status description › the last ``exception`` event as ``"Type: message"``."""
    explicit = attrs.take_str(*honeyhive.ERROR_KEYS)
    exception = next((e for e in reversed(span.events) if e.name == "exception"), None)
    described = None
    if exception is not None:
        exc = exception.attributes or {}
        exc_type, message = exc.get("exception.type"), exc.get("exception.message")
        described = ": ".join(str(part) for part in (exc_type, message) if part) or "exception"
        if exc_type:
            system["exception.type"] = exc_type
        if message:
            system["exception.message"] = message
        if exc.get("exception.stacktrace"):
            system["exception.stacktrace"] = exc["exception.stacktrace"]
    if explicit is not None:
        return explicit
    status = span.status
    if status.status_code is StatusCode.ERROR:
        return status.description or described or "error"
    if status.status_code is StatusCode.UNSET:
        return described
    return None


def _describe_span(span: ReadableSpan, resource: Any, system: dict[str, Any]) -> None:
    """Facts about the span itself that no attribute carries: kind, scope, resource, events, links."""
    if span.kind is not SpanKind.INTERNAL:
        system["otel.span_kind"] = span.kind.name.lower()
    scope = span.instrumentation_scope
    if scope is not None and scope.name:
        system["otel.scope.name"] = scope.name
    for key in RESOURCE_METADATA_KEYS:
        value = resource.get(key)
        if value is not None:
            system[key] = value
    events = [
        {"name": e.name, "time": e.timestamp // 1_000_000, "attributes": dict(e.attributes or {})}
        for e in span.events
        if e.name != "exception"
    ]
    if events:
        system["events"] = events
    if span.links:
        system["links"] = [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
            }
            for link in span.links
        ]
    if span.dropped_attributes:
        system["otel.dropped_attributes"] = span.dropped_attributes


def _merge_metadata(
    leftovers: dict[str, Any], explicit: dict[str, Any], system: dict[str, Any]
) -> dict[str, Any]:
    """Unconsumed attributes, under the span's explicit metadata, under spanhive's own facts.

    A leftover attribute whose key the explicit metadata also uses moves to ``span_attributes`` rather than
    being overwritten.
    """
    if not explicit:
        leftovers.update(system)
        return leftovers
    clashes = {key: leftovers.pop(key) for key in list(leftovers) if key in explicit}
    leftovers.update(explicit)
    if clashes:
        leftovers.setdefault("span_attributes", {}).update(clashes)
    leftovers.update(system)
    return leftovers


def map_span_safely(span: ReadableSpan, defaults: Defaults) -> tuple[Event, SessionHint]:
    """:func:`map_span`, or, if the span defeats it, a minimal record that still keeps every attribute."""
    try:
        return map_span(span, defaults)
    except Exception as exc:  # noqa: BLE001 - bad span data must never crash an export
        ctx = span.context
        trace_id = getattr(ctx, "trace_id", 0) or 0
        span_id = getattr(ctx, "span_id", 0) or 0
        session_id = _ids.trace_session_id(trace_id)
        start = span.start_time if isinstance(span.start_time, int) else 0
        end = span.end_time if isinstance(span.end_time, int) else start
        parent = getattr(span.parent, "span_id", None)
        event = new_event(
            project=defaults.project or "default",
            source=defaults.source or "dev",
            name=str(span.name),
            event_type="tool",
            event_id=_ids.event_id(trace_id, span_id),
            session_id=session_id,
            parent_id=_ids.event_id(trace_id, parent) if parent is not None else session_id,
            start_ns=start,
            end_ns=end,
        )
        event["metadata"] = {
            "trace_id": format(trace_id, "032x"),
            "span_id": format(span_id, "016x"),
            "mapping_error": f"{type(exc).__name__}: {exc}",
            "attributes": {str(k): repr(v) for k, v in dict(span.attributes or {}).items()},
        }
        return event, SessionHint(None, parent is None, False, start)
