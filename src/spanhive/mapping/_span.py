"""One finished span → one event record: ids, names, times and type, then each convention in precedence
order, then error, leftovers and size limits.

Pure and stateless: the result depends only on the span and the exporter's defaults, so the same span maps to
the same record in any process, on any retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from spanhive import _ids
from spanhive._internals import SpanFields, span_attributes, span_fields
from spanhive._log import limited
from spanhive._native import mypyc_attr
from spanhive._records import DEFAULT_MAX_VALUE_CHARS, Event
from spanhive.mapping import (
    _types,
    _usage,
    enrichment,
    genai,
    generic,
    honeyhive,
    langfuse,
    langsmith,
    logfire,
    openinference,
    openllmetry,
    pydantic_ai,
)
from spanhive.mapping._attrs import KeyLayout, SpanAttrs
from spanhive.mapping._draft import Draft
from spanhive.mapping._limits import INLINE_DATA_MAX_CHARS, is_bulky, truncate_long_strings

SESSION_ID_KEYS = (
    *honeyhive.SESSION_ID_KEYS,
    "traceloop.association.properties.session_id",
    "session.id",
    "langfuse.session.id",
    "gen_ai.conversation.id",
    "langsmith.metadata.session_id",
    "langsmith.metadata.thread_id",
    "langsmith.metadata.conversation_id",
    "langfuse.trace.metadata.langfuse_session_id",
    "langfuse.observation.metadata.langfuse_session_id",
)
"""Where a span names its session, most specific first (HoneyHive's own resolution order leads)."""

SESSION_NAME_KEYS = (
    "spanhive.session.name",
    *honeyhive.SESSION_NAME_KEYS,
    "langfuse.trace.name",
    "traceloop.workflow.name",
    "gen_ai.workflow.name",
)
EVENT_NAME_KEYS = (*honeyhive.EVENT_NAME_KEYS, "logfire.msg")
SOURCE_KEYS = (*honeyhive.SOURCE_KEYS, "traceloop.association.properties.source", "langfuse.environment")
USER_ID_KEYS = (
    *honeyhive.USER_ID_KEYS,
    "user.id",
    "langfuse.user.id",
    "traceloop.association.properties.user_id",
    "gen_ai.user",
    "llm.user",
    "langsmith.metadata.user_id",
)

_MODULES = (
    enrichment, honeyhive, _usage, genai, pydantic_ai, openinference, openllmetry, langfuse, langsmith, logfire,
    generic,
)  # fmt: skip
CONVENTIONS = tuple(module.apply for module in _MODULES)
"""Convention modules in precedence order (``docs/conventions.md``); each fills only what is still empty."""

RESOURCE_METADATA_KEYS = (
    "service.name",
    "service.version",
    "deployment.environment",
    "deployment.environment.name",
)
_UNKNOWN_SERVICE = "unknown_service"
_NOTHING_USED: frozenset[int] = frozenset()
_KIND_NAMES = {id(kind): kind.name.lower() for kind in SpanKind}
"""By the member's identity: hashing an enum member runs Python code (``Enum.__hash__``)."""
_ERROR: Final = StatusCode.ERROR
_OK: Final = StatusCode.OK
_INTERNAL: Final = SpanKind.INTERNAL
"""Enum members read once: compiled, ``StatusCode.ERROR`` is a Python attribute lookup on the enum's class."""
CONVENTION_HEADS = frozenset(
    {
        *honeyhive.BUCKETS, *(bucket + "_raw" for bucket in honeyhive.BUCKETS),
        "honeyhive", "honeyhive_prompt_template",
        "honeyhive_event_type", "honeyhive_event_type_raw", "honeyhive_event_name", "honeyhive_event_id",
        "honeyhive_error", "honeyhive_error_raw", "honeyhive_session_id", "honeyhive_session_name",
        "honeyhive_project", "honeyhive_source", "honeyhive_user_id",
        "gen_ai", "llm", "openinference", "input", "output", "retrieval", "reranker", "embedding", "tool",
        "metadata", "tag", "annotations", "evaluations", "session", "user", "error", "traceloop", "langfuse",
        "langsmith", "logfire", "spanhive", "operation", "pydantic_ai", "final_result", "anthropic",
    }
)  # fmt: skip
"""First segments of every attribute a rule reads; a span with none of them takes the short path."""


@dataclass(frozen=True)
class Defaults:
    """What the exporter's configuration contributes to every record (``None``: derive it per span)."""

    project: Optional[str] = None
    source: Optional[str] = None
    session_name: Optional[str] = None
    max_value_chars: int = DEFAULT_MAX_VALUE_CHARS


@mypyc_attr(acyclic=True)
class SpanFacts:
    """What mapping learnt about a span beyond its event record, for the stages after it.

    A class with slots rather than a ``NamedTuple``: one is made per span, and compiled, constructing a
    ``NamedTuple`` runs the Python ``__new__`` it generates (five times as long)."""

    __slots__ = (
        "primitive", "root", "session_fields", "session_name", "start_ns", "stated", "truncated", "typed",
    )  # fmt: skip

    def __init__(  # noqa: PLR0917 - the facts, in the order every caller knows them
        self,
        session_name: Optional[str],
        root: bool,
        typed: bool,
        start_ns: int,
        session_fields: Optional[dict[str, Any]] = None,
        truncated: int = 0,
        primitive: bool = False,
        stated: bool = False,
    ) -> None:
        self.session_name = session_name
        """A session name the span states explicitly."""
        self.root = root
        """The span is the top span of its trace."""
        self.typed = typed
        """``event_type`` came from the span; otherwise it is settled once the batch's tree is known."""
        self.start_ns = start_ns
        """Exact start, to order siblings that start within the same millisecond."""
        self.session_fields = session_fields
        """Session-level values the span states (``inputs``, ``outputs``, ``metrics``, ``feedback``…)."""
        self.truncated = truncated
        """How many string values were cut to the size limit."""
        self.primitive = primitive
        """Every value in the record is a JSON primitive with finite floats (see :mod:`spanhive._json`)."""
        self.stated = stated
        """The span names its session (else ``session_id`` is the trace-derived one, which the trace's other
        spans may override: :func:`spanhive._pipeline.assemble.resolve_trace`)."""

    def __repr__(self) -> str:
        return f"SpanFacts({', '.join(f'{name}={getattr(self, name)!r}' for name in self.__slots__)})"


Mapped = tuple[Event, SpanFacts]
"""One span, mapped: its event record and the facts the later stages need."""


def map_span(span: ReadableSpan, defaults: Defaults) -> Optional[Mapped]:
    """The span's event and facts; ``None`` for a span that only duplicates another (Logfire pending)."""
    result = _map(span, defaults)
    return None if result is None else (result[0], result[1])


def map_span_traced(span: ReadableSpan, defaults: Defaults) -> Optional[tuple[Event, SpanFacts, SpanAttrs]]:
    """:func:`map_span`, also returning the attribute view, whose ``used`` set says which keys a rule consumed."""
    result = _map(span, defaults)
    if result is None:
        return None
    event, facts, attrs = result
    return event, facts, attrs if attrs is not None else SpanAttrs(span_attributes(span))


def _map(span: ReadableSpan, defaults: Defaults) -> Optional[tuple[Event, SpanFacts, Optional[SpanAttrs]]]:
    """:func:`map_span_traced`, with no attribute view for a span no rule reads (:func:`_plain`)."""
    fields = span_fields(span)
    data, events = fields[13], fields[14]
    # Spans that carry no attribute any convention reads (most web and database spans) skip every rule: one
    # pass over their attributes makes the metadata.
    limit = defaults.max_value_chars
    if not events:
        survey = _survey(data, limit)
        if survey is not None:
            return _plain(fields, defaults, survey)
    if logfire.is_pending(data):
        return None
    name, trace_id, span_id, parent_id, _, _, start, end, _, _, resource, _, _, _, _, _ = fields
    attrs = SpanAttrs(data)
    facts = _resource_facts(resource)
    system = _ids_of(trace_id, span_id)
    probes = attrs.layout.derive(_probes)
    take = attrs.take_present_str
    raw_session = probes.session_id and take(probes.session_id)
    if raw_session:
        session_id, converted = _ids.session_id_for(raw_session)
        if converted:
            system["external_session_id"] = raw_session
    else:
        session_id = _ids.trace_session_id(trace_id)
    explicit_id = probes.event_id and take(probes.event_id)
    event_id = (explicit_id and _ids.canonical_uuid(explicit_id)) or _ids.event_id(trace_id, span_id, own=True)
    event_type, kind = _types.event_type(attrs)
    if kind is not None:
        system["span_kind"] = kind
    event: Event = {
        "project": defaults.project or (probes.project and take(probes.project)) or facts.project,
        "source": (probes.source and take(probes.source)) or defaults.source or facts.source,
        "event_name": (probes.event_name and take(probes.event_name)) or name or "unknown",
        "event_type": event_type or _types.TOOL,
        "event_id": event_id,
        "session_id": session_id,
        "parent_id": _ids.event_id(trace_id, parent_id) if parent_id is not None else session_id,
        "children_ids": [],
        "config": {},
        "inputs": {},
        "outputs": {},
        "error": None,
        "start_time": start // 1_000_000,
        "end_time": end // 1_000_000,
        "duration": (end - start) / 1e6,
        "metadata": {},
        "feedback": {},
        "metrics": {},
        "user_properties": {},
    }
    session_name, draft_session = _apply_conventions(
        span, fields, event, event_type, events, attrs, facts, probes, system
    )
    long, primitive = _scan(data.values(), limit)
    for span_event in events:  # their attributes land in the record too (metadata.events, messages)
        event_long, event_primitive = _scan((span_event.attributes or {}).values(), limit)
        long, primitive = long or event_long, primitive and event_primitive
    truncated = truncate_long_strings(event, limit) if long else 0
    span_facts = SpanFacts(
        session_name, parent_id is None, event_type is not None, start, draft_session, truncated,
        primitive and facts.primitive, bool(raw_session),
    )  # fmt: skip
    return event, span_facts, attrs


def _plain(
    fields: SpanFields, defaults: Defaults, survey: tuple[dict[str, Any], bool, bool]
) -> tuple[Event, SpanFacts, None]:
    """A span with no span events and no attribute any rule reads (most web and database spans): its
    attributes, as :func:`_survey` gathered them, are its metadata, beside the facts of the span itself."""
    name, trace_id, span_id, parent_id, _, _, start, end, status_code, description, resource, _, _, _, _, _ = fields
    facts = _resource_facts(resource)
    project, source = defaults.project or facts.project, defaults.source or facts.source
    event = _trace_event(project, source, name or "unknown", trace_id, span_id, parent_id, start, end)
    metadata, long, primitive = survey
    # spanhive's own facts are written over the attributes in place, in the order a merge would put them
    _put_ids(metadata, trace_id, span_id)
    if status_code is _ERROR:
        stacktrace: dict[str, Any] = {}
        event["error"] = _without_traceback(description, stacktrace) or "error"
        metadata.update(stacktrace)
    _describe_span(fields, (), facts, metadata, _NOTHING_USED)
    event["metadata"] = metadata
    truncated = truncate_long_strings(event, defaults.max_value_chars) if long else 0
    facts_ = SpanFacts(None, parent_id is None, False, start, None, truncated, primitive and facts.primitive)
    return event, facts_, None


def _ids_of(trace_id: int, span_id: int) -> dict[str, Any]:
    """The span's OTel ids as metadata, in hex."""
    ids: dict[str, Any] = {}
    _put_ids(ids, trace_id, span_id)
    return ids


def _put_ids(metadata: dict[str, Any], trace_id: int, span_id: int) -> None:
    """The span's OTel ids into ``metadata``, in hex (from their bytes: a third faster than formatting the
    ints)."""
    try:
        metadata["trace_id"] = trace_id.to_bytes(16, "big").hex()
        metadata["span_id"] = span_id.to_bytes(8, "big").hex()
    except OverflowError:  # no OTel id (negative, or too wide): a span built by hand
        metadata["trace_id"] = format(trace_id, "032x")
        metadata["span_id"] = format(span_id, "016x")


class _Probes(NamedTuple):
    """Which of the keys asked of every span a key layout has, in precedence order: usually one or none."""

    session_id: tuple[str, ...]
    event_id: tuple[str, ...]
    project: tuple[str, ...]
    source: tuple[str, ...]
    event_name: tuple[str, ...]
    session_name: tuple[str, ...]
    user_id: tuple[str, ...]
    error: tuple[str, ...]
    error_type: tuple[str, ...]


_PROBE_KEYS = (
    SESSION_ID_KEYS, honeyhive.EVENT_ID_KEYS, honeyhive.PROJECT_KEYS, SOURCE_KEYS, EVENT_NAME_KEYS,
    SESSION_NAME_KEYS, USER_ID_KEYS, honeyhive.ERROR_KEYS, ("error.type",),
)  # fmt: skip
_NO_PROBES = _Probes(*((),) * len(_PROBE_KEYS))


def _probes(layout: KeyLayout) -> _Probes:
    return _Probes(*map(layout.among, _PROBE_KEYS))


def _applicable(layout: KeyLayout) -> tuple[Callable[[SpanAttrs, Draft], None], ...]:
    """The conventions, in precedence order, that read any of a layout's namespaces (for a span without span
    events: the others have nothing to read)."""
    ns = layout.namespaces
    return tuple(module.apply for module in _MODULES if not module.HEADS.isdisjoint(ns))


def _scan(values: Iterable[Any], limit: int) -> tuple[bool, bool]:
    """Whether any string is too long or holds bulky inline data (:func:`~spanhive.mapping._limits.is_bulky`),
    and whether every value is a JSON primitive (or an OTel sequence of them) with every float finite. Parsed
    JSON is always primitive, so a span whose attributes all are maps to a record that any JSON encoder writes
    the same way."""
    long = False
    primitive = True
    floor = min(limit, INLINE_DATA_MAX_CHARS)
    for value in values:
        cls = type(value)
        if cls is str:
            text: str = value  # typed: compiled, its length is then read without a call
            if not long and len(text) > floor and is_bulky(text, limit):
                long = True
        elif cls is float:
            number: float = value
            if number - number:  # NaN or an infinity
                primitive = False
        elif cls is not int and cls is not bool and not (cls is tuple and _primitive_items(value)):
            primitive = False
    return long, primitive


def _primitive_items(values: tuple[Any, ...]) -> bool:
    for value in values:
        cls = type(value)
        if cls is float:
            number: float = value
            if number - number:
                return False
        elif cls is not str and cls is not int and cls is not bool:
            return False
    return True


def _apply_conventions(  # noqa: PLR0917 - the state one mapping shares, passed on, not rebuilt
    span: ReadableSpan,
    fields: SpanFields,
    event: Event,
    event_type: Optional[str],
    events: Sequence[Any],
    attrs: SpanAttrs,
    facts: _ResourceFacts,
    probes: _Probes,
    system: dict[str, Any],
) -> tuple[Optional[str], Optional[dict[str, Any]]]:
    """Every convention's rules, in precedence order, then error and metadata; returns the session name and
    the session-level fields the span states."""
    session_name = (probes.session_name and attrs.take_present_str(probes.session_name)) or None
    draft = Draft(span, event, event_type == _types.MODEL, events)
    for convention in CONVENTIONS if events else attrs.layout.derive(_applicable):
        convention(attrs, draft)
    _usage.complete_total(draft)
    if draft.answered_model is not None:
        event["config"].setdefault("model", draft.answered_model)
    _usage.estimate_cost(draft, fields[6])
    user_id = probes.user_id and attrs.take_present_str(probes.user_id)
    if user_id:
        event["user_properties"].setdefault("user_id", user_id)
    event["error"] = _error(fields, events, attrs, probes, system)
    _describe_span(fields, events, facts, system, draft.events_used)
    event["metadata"] = _merge_metadata(attrs.leftovers(), event["metadata"], system)
    return session_name, draft.session or None


def _survey(data: dict[str, Any], limit: int) -> Optional[tuple[dict[str, Any], bool, bool]]:
    """For a span whose attributes no convention reads, in one pass: its metadata (the attributes, OTel
    sequences as lists) and :func:`_scan`'s answers. ``None`` as soon as a key belongs to a convention."""
    conventional = _CONVENTIONAL_KEYS
    metadata: dict[str, Any] = {}
    long = False
    primitive = True
    floor = min(limit, INLINE_DATA_MAX_CHARS)
    for key, value in data.items():
        known = conventional.get(key)
        if known is None:
            known = _is_conventional(key)
        if known:
            return None
        cls = type(value)
        if cls is str:
            text: str = value  # typed: compiled, its length is then read without a call
            long = long or (len(text) > floor and is_bulky(text, limit))
        elif cls is tuple:
            primitive = primitive and _primitive_items(value)
            metadata[key] = list(value)
            continue
        elif cls is float:
            number: float = value
            primitive = primitive and not number - number
        elif cls is not int and cls is not bool:
            primitive = False
        metadata[key] = value
    return metadata, long, primitive


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


def _trace_event(  # noqa: PLR0917 - an event's identity and times, in the order new_event takes them
    project: str, source: str, name: str, trace_id: int, span_id: int, parent_id: Optional[int], start: int, end: int
) -> Event:
    """An event in its trace's own session, typed ``tool`` until the batch's tree says otherwise."""
    session_id = _ids.trace_session_id(trace_id)
    return new_event(
        project=project,
        source=source,
        name=name,
        event_type=_types.TOOL,
        event_id=_ids.event_id(trace_id, span_id, own=True),
        session_id=session_id,
        parent_id=_ids.event_id(trace_id, parent_id) if parent_id is not None else session_id,
        start_ns=start,
        end_ns=end,
    )


_CONVENTIONAL_KEYS: dict[str, bool] = {}
_KEY_CACHE_SIZE = 8192  # distinct attribute keys remembered; the cache is cleared past it


def _is_conventional(key: str) -> bool:
    """Whether a key belongs to a convention's namespace; answered once per distinct key."""
    if len(_CONVENTIONAL_KEYS) >= _KEY_CACHE_SIZE:
        _CONVENTIONAL_KEYS.clear()
    known = _CONVENTIONAL_KEYS[key] = key.partition(".")[0] in CONVENTION_HEADS
    return known


class _ResourceFacts(NamedTuple):
    project: str
    source: str
    metadata: dict[str, Any]
    primitive: bool


_RESOURCE_FACTS: dict[int, tuple[Any, _ResourceFacts]] = {}
_RESOURCE_CACHE_SIZE = 64  # providers per process; the cache is cleared past it


def _resource_facts(resource: Any) -> _ResourceFacts:
    """What a span's resource contributes, computed once per resource (one per provider, shared by all its
    spans). Keyed by identity: hashing a ``Resource`` serialises all its attributes."""
    cached = _RESOURCE_FACTS.get(id(resource))
    if cached is not None and cached[0] is resource:
        return cached[1]
    attributes = resource.attributes if resource is not None else {}
    name = attributes.get("service.name")
    service = name if isinstance(name, str) and name and not name.startswith(_UNKNOWN_SERVICE) else None
    env = attributes.get("deployment.environment.name") or attributes.get("deployment.environment")
    metadata = {key: attributes[key] for key in RESOURCE_METADATA_KEYS if attributes.get(key) is not None}
    if service is None:
        metadata.pop("service.name", None)
    env = env if isinstance(env, str) and env else "dev"
    facts = _ResourceFacts(service or "default", env, metadata, _scan(metadata.values(), 0)[1])
    if len(_RESOURCE_FACTS) >= _RESOURCE_CACHE_SIZE:
        _RESOURCE_FACTS.clear()
    _RESOURCE_FACTS[id(resource)] = (resource, facts)
    return facts


def _error(fields: SpanFields, events: Any, attrs: SpanAttrs, probes: _Probes, system: dict[str, Any]) -> Optional[str]:
    """Explicit error › the last ``exception`` event as ``"Type: message"`` › the status description (without
    the traceback some instrumentations append to it, which goes to ``exception.stacktrace``) › a Langfuse
    ``ERROR`` level's status message › ``error.type``. The exception event comes first because a description is
    often only the message (``boom``, ``Error code: 404 - {…}``): the type would be lost."""
    explicit = (probes.error and attrs.take_present_str(probes.error)) or None
    exception = next((e for e in reversed(events) if e.name == "exception"), None) if events else None
    described = None
    if exception is not None:
        exc = exception.attributes or {}
        exc_type, message = exc.get("exception.type"), exc.get("exception.message")
        short_type = str(exc_type).rsplit(".", 1)[-1] if exc_type else None  # the full one stays in metadata
        described = ": ".join(str(part) for part in (short_type, message) if part) or "exception"
        for key in ("exception.type", "exception.message", "exception.stacktrace"):
            if exc.get(key):
                system[key] = exc[key]
    error_type = (probes.error_type and attrs.take_present_str(probes.error_type)) or None
    if error_type is not None:
        system["error_type"] = error_type
    observation_error = langfuse.error(attrs)
    if explicit is not None:
        return explicit
    status_code = fields[8]
    if status_code is _ERROR:
        return described or _without_traceback(fields[9], system) or observation_error or error_type or "error"
    if status_code is _OK:
        return None
    return described or observation_error or error_type


_TRACEBACK = "Traceback (most recent call last)"


def _without_traceback(description: Optional[str], system: dict[str, Any]) -> Optional[str]:
    """A status description with any Python traceback cut off (OpenInference's LangChain instrumentation
    writes ``repr(exc)`` and the traceback into it): the traceback, with its local paths, is kept as
    ``exception.stacktrace`` unless an exception event gave one."""
    if not description or _TRACEBACK not in description:
        return description or None
    head, _, tail = description.partition(_TRACEBACK)
    system.setdefault("exception.stacktrace", _TRACEBACK + tail)
    return head.strip() or None


def _describe_span(
    fields: SpanFields,
    events: Any,
    facts: _ResourceFacts,
    system: dict[str, Any],
    consumed_events: AbstractSet[int],
) -> None:
    """Facts about the span itself that no attribute carries: kind, scope, resource, events, links."""
    kind, scope_name, dropped = fields[5], fields[11], fields[12]
    if kind is not _INTERNAL:
        system["otel.span_kind"] = _KIND_NAMES.get(id(kind)) or str(kind)
    if scope_name:
        system["otel.scope.name"] = scope_name
    system.update(facts.metadata)
    if events:
        kept = [
            {"name": e.name, "time": e.timestamp // 1_000_000, "attributes": _listed(e.attributes)}
            for i, e in enumerate(events)
            if e.name != "exception" and i not in consumed_events
        ]
        if kept:
            system["events"] = kept
    links = fields[15]
    if links:
        system["links"] = [
            {"trace_id": format(link.context.trace_id, "032x"), "span_id": format(link.context.span_id, "016x")}
            for link in links
        ]
    if dropped:
        system["otel.dropped_attributes"] = dropped
        limited.log(
            logging.WARNING,
            "dropped-attributes",
            "spanhive: span %r lost %d attributes to the SDK's attribute limit; raise "
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT (default 128) to keep long conversations whole",
            fields[0],
            dropped,
        )


def _listed(attributes: Any) -> dict[str, Any]:
    """Span event attributes with OTel sequences as lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in (attributes or {}).items()}


def _merge_metadata(leftovers: dict[str, Any], explicit: dict[str, Any], system: dict[str, Any]) -> dict[str, Any]:
    """Unconsumed attributes, under the conventions' metadata, under spanhive's own facts.

    A leftover attribute whose key the conventions' metadata also uses moves to ``span_attributes`` rather
    than being overwritten.
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


def map_span_safely(span: ReadableSpan, defaults: Defaults) -> Optional[Mapped]:
    """:func:`map_span`, or, if the span defeats it, a minimal record that still keeps every attribute."""
    try:
        return map_span(span, defaults)
    except Exception as exc:  # noqa: BLE001 - bad span data must never crash an export
        limited.log(logging.WARNING, "mapping-error", "spanhive: could not map span %r: %r", span.name, exc)
        ctx = span.context
        trace_id = getattr(ctx, "trace_id", 0) or 0
        span_id = getattr(ctx, "span_id", 0) or 0
        start = span.start_time if isinstance(span.start_time, int) else 0
        end = span.end_time if isinstance(span.end_time, int) else start
        parent = getattr(span.parent, "span_id", None)
        project, source = defaults.project or "default", defaults.source or "dev"
        event = _trace_event(project, source, str(span.name), trace_id, span_id, parent, start, end)
        event["metadata"] = {
            **_ids_of(trace_id, span_id),
            "mapping_error": f"{type(exc).__name__}: {exc}",
            "attributes": {str(k): repr(v) for k, v in dict(span.attributes or {}).items()},
        }
        truncated = truncate_long_strings(event, defaults.max_value_chars)
        return event, SpanFacts(None, parent is None, False, start, None, truncated)
