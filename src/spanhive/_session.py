"""Sessions from context: ``session()`` puts a session into OpenTelemetry baggage, ``SessionSpanProcessor``
stamps it onto every span started inside, and ``enrich_span`` / ``enrich_session`` attach what becomes known
later.

Baggage is what the standard W3C propagators carry between services, so a downstream service with the
processor joins the same session. Spans are stamped with HoneyHive's own attribute names
(``honeyhive.session_id``, ``honeyhive.session_name``, ``honeyhive_user_properties``), so they stay readable
by HoneyHive's OTLP ingestion too; session-level values use the ``spanhive.session.*`` family (one JSON
attribute per field), which the exporter folds into the SessionProperties record.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Optional

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from spanhive._internals import baggage_entries, span_attributes, stamp_attributes
from spanhive.environment_variables import SPANHIVE_TRUST_BAGGAGE
from spanhive.mapping._span import SESSION_ID_KEYS, USER_ID_KEYS

_logger = logging.getLogger(__name__)

BAGGAGE_SESSION_ID = "spanhive.session_id"
BAGGAGE_SESSION_NAME = "spanhive.session_name"
BAGGAGE_USER_PROPERTIES = "spanhive.user_properties"
SESSION_PREFIX = "spanhive.session."
_BAGGAGE_SESSION_KEYS = (BAGGAGE_SESSION_ID, "session.id", "langfuse_session_id")
_BAGGAGE_USER_KEYS = ("user.id", "langfuse_user_id")

_pending: contextvars.ContextVar[Optional[_Pending]] = contextvars.ContextVar("spanhive_session_pending", default=None)
_own_session: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("spanhive_own_session", default=None)
"""The session ``session()`` set in this process: what baggage may say when baggage is not trusted."""
_local_roots: OrderedDict[int, tuple[int, Span]] = OrderedDict()
_MAX_LOCAL_ROOTS = 10_000  # traces open at once in one process
"""The recording top span of each trace in this process, with its span id, by trace id (kept by
``SessionSpanProcessor``, oldest first): session-level values set from anywhere in the trace are written there,
so they travel with the trace's last batch."""


class _Pending:
    """Session-level values from ``session(...)`` still to be stamped on the session's first span here."""

    __slots__ = ("attributes", "done")

    def __init__(self, attributes: dict[str, str]) -> None:
        self.attributes = attributes
        self.done = False


def _trust_baggage() -> bool:
    raw = os.environ.get(SPANHIVE_TRUST_BAGGAGE)
    if raw is None or not raw.strip():
        return True
    value = raw.strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value not in ("1", "true", "yes", "on"):
        _logger.warning("spanhive: %s=%r is not a boolean; trusting baggage (the default)", SPANHIVE_TRUST_BAGGAGE, raw)
    return True


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class session:
    """Run a block as one session: every span started inside (in any trace, any task, and in other services
    reached with the W3C propagators) joins it. Nested sessions: the inner one wins inside its block.

    Works with ``with`` and ``async with``. Threads you start inside the block inherit it when they run in a
    copied context (``contextvars.copy_context().run``) or with OpenTelemetry's threading instrumentation.
    """

    def __init__(
        self,
        name: Optional[str] = None,
        session_id: Optional[str] = None,
        user_properties: Optional[Mapping[str, Any]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        inputs: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.session_id = session_id or str(uuid.uuid4())
        self.name = name
        self.user_properties = dict(user_properties or {})
        self.metadata = dict(metadata or {})
        self.inputs = dict(inputs or {})
        self._tokens: list[Any] = []

    def __enter__(self) -> session:
        ctx = baggage.set_baggage(BAGGAGE_SESSION_ID, self.session_id)
        if self.name:
            ctx = baggage.set_baggage(BAGGAGE_SESSION_NAME, self.name, ctx)
        else:  # an outer session's name must not leak into this one
            ctx = baggage.remove_baggage(BAGGAGE_SESSION_NAME, ctx)
        if self.user_properties:
            ctx = baggage.set_baggage(BAGGAGE_USER_PROPERTIES, _json(self.user_properties), ctx)
        else:
            ctx = baggage.remove_baggage(BAGGAGE_USER_PROPERTIES, ctx)
        stamped = {SESSION_PREFIX + f: _json(v) for f, v in (("metadata", self.metadata), ("inputs", self.inputs)) if v}
        pending = _pending.set(_Pending(stamped) if stamped else None)
        self._tokens.append((otel_context.attach(ctx), pending, _own_session.set(self.session_id)))
        return self

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        context_token, pending_token, own_token = self._tokens.pop()
        _own_session.reset(own_token)
        _pending.reset(pending_token)
        otel_context.detach(context_token)

    async def __aenter__(self) -> session:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.__exit__(exc_type, exc, tb)


_INHERITED_SESSION = "honeyhive.session_id"
_INHERITED_USER = "honeyhive_user_id"
_USER_PROPERTIES = "honeyhive_user_properties"


class SessionSpanProcessor(SpanProcessor):
    """Stamps the session onto every span as it starts: the one found in baggage, else the one its local
    parent names, with its user (on the application thread, so it is kept to a few dictionary lookups).

    A span started under a local parent that names a session or a user (in any convention spanhive reads:
    ``session.id``, ``gen_ai.conversation.id``, ``langfuse.session.id``, Traceloop's association
    properties, ``user.id``…) gets them in HoneyHive's names, unless it names its own. So a session set
    on an agent's top span reaches the LLM spans an instrumentation starts under it, whatever exports them.
    """

    def __init__(self, *, trust_baggage: Optional[bool] = None) -> None:
        """``trust_baggage=False`` (or ``SPANHIVE_TRUST_BAGGAGE=false``): a session or user arriving in
        baggage from another process is ignored; only ``spanhive.session()`` here sets them."""
        self.trust_baggage = _trust_baggage() if trust_baggage is None else trust_baggage
        self._stamps: dict[tuple[str, Any, Any], dict[str, Any]] = {}
        self._last: tuple[Any, Optional[dict[str, Any]]] = (None, None)
        """The last baggage seen and its stamp: every span of a session sees the same baggage object."""
        self._parent: tuple[Any, int, Optional[dict[str, Any]]] = (None, -1, None)
        """The last parent seen, its attribute count then, and what it passes on: siblings share it."""

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        entries = baggage_entries(parent_context)
        if entries and not self.trust_baggage:
            own = _own_session.get()
            if own is None or entries.get(BAGGAGE_SESSION_ID) != own:
                entries = {}  # a caller's baggage: not ours to believe
        if not entries:
            inherited = self._inherited(span, parent_context)
            if inherited:
                stamp_attributes(span, inherited)
            return
        last = self._last
        if last[0] is entries:  # baggage is never changed in place: a new value is a new mapping
            stamp = last[1]
        else:
            stamp = self._stamp_for(entries)
            self._last = (entries, stamp)
        if stamp is None:
            inherited = self._inherited(span, parent_context)
            if inherited:
                stamp_attributes(span, inherited)
            return
        pending = _pending.get()
        if pending is not None and not pending.done:
            pending.done = True
            stamp = {**stamp, **pending.attributes}
        stamp_attributes(span, stamp)
        parent = span.parent
        if parent is None or parent.is_remote:  # a trace's top span here: enrich_session writes to it
            if len(_local_roots) >= _MAX_LOCAL_ROOTS:  # spans that never end must not pile up
                _local_roots.popitem(last=False)
            context = span.get_span_context()
            _local_roots[context.trace_id] = (context.span_id, span)

    def _inherited(self, span: Span, parent_context: Optional[Context]) -> Optional[dict[str, Any]]:
        """What ``span`` takes from its local parent: the session and user it names, minus what ``span``
        names itself."""
        parent = trace.get_current_span(parent_context)
        attributes = span_attributes(parent) if parent.is_recording() else None
        if not attributes:
            return None
        last = self._parent
        if last[0] is parent and last[1] == len(attributes):
            passed = last[2]
        else:
            passed = _passed_on(attributes)
            self._parent = (parent, len(attributes), passed)
        if not passed:
            return None
        own = span_attributes(span)
        if not own:
            return passed
        kept = dict(passed)
        if any(key in own for key in SESSION_ID_KEYS):
            kept.pop(_INHERITED_SESSION, None)
        if any(key in own for key in USER_ID_KEYS):
            kept.pop(_INHERITED_USER, None)
        if _USER_PROPERTIES in own:
            kept.pop(_USER_PROPERTIES, None)
        return kept

    def _stamp_for(self, entries: Mapping[str, object]) -> Optional[dict[str, Any]]:
        """The stamp for the session the baggage carries: spanhive's own entries, else the ones other stacks
        propagate (``session.id`` / ``user.id``, Langfuse's ``langfuse_session_id`` / ``langfuse_user_id``)."""
        session_id = next((entries[k] for k in _BAGGAGE_SESSION_KEYS if entries.get(k)), None)
        if not session_id:
            return None
        users = entries.get(BAGGAGE_USER_PROPERTIES)
        if not users:
            user = next((entries[k] for k in _BAGGAGE_USER_KEYS if entries.get(k)), None)
            users = _json({"user_id": str(user)}) if user else None
        key = (str(session_id), entries.get(BAGGAGE_SESSION_NAME), users)
        return self._stamps.get(key) or self._stamp(*key)

    def _stamp(self, session_id: str, name: Any, users: Any) -> dict[str, Any]:
        """The attributes for one session, built once: id, name, and user properties as one JSON object
        (``honeyhive_user_properties``, which the mapping reads whole)."""
        stamp: dict[str, Any] = {"honeyhive.session_id": session_id}
        if name:
            stamp["honeyhive.session_name"] = str(name)
        if users:
            stamp["honeyhive_user_properties"] = str(users)
        if len(self._stamps) >= 1024:
            self._stamps.clear()
        self._stamps[(session_id, name, users)] = stamp
        return stamp

    def on_end(self, span: ReadableSpan) -> None:
        if _local_roots:
            context = span.context  # on_end gets a read-only copy: match the root by its span id
            if context is not None:
                root = _local_roots.get(context.trace_id)
                if root is not None and root[0] == context.span_id:
                    _local_roots.pop(context.trace_id, None)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _passed_on(attributes: Mapping[str, Any]) -> Optional[dict[str, Any]]:
    """The session and user a parent's attributes name (the first of each in the mapping's precedence), as
    the attributes a child gets."""
    passed: dict[str, Any] = {}
    for key in SESSION_ID_KEYS:
        value = attributes.get(key)
        if value:
            passed[_INHERITED_SESSION] = str(value)
            break
    for key in USER_ID_KEYS:
        value = attributes.get(key)
        if value:
            passed[_INHERITED_USER] = str(value)
            break
    users = attributes.get(_USER_PROPERTIES)
    if isinstance(users, str) and users:
        passed[_USER_PROPERTIES] = users
    return passed or None


# --- enrichment -----------------------------------------------------------------------------------------


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """HoneyHive's flattening: dicts into ``prefix.key``, lists into ``prefix.0``…; ``None`` skipped; anything
    that is not a primitive becomes JSON (or its ``str`` when not JSON-able)."""
    out: dict[str, Any] = {}
    stack: list[tuple[str, Any, int]] = [(prefix, value, 0)]
    while stack:
        key, item, depth = stack.pop()
        if item is None:
            continue
        if isinstance(item, (str, bool, int, float)):
            out[key] = item
        elif isinstance(item, Mapping) and depth < 32:
            stack.extend((f"{key}.{k}", v, depth + 1) for k, v in item.items())
        elif isinstance(item, (list, tuple)) and depth < 32:
            stack.extend((f"{key}.{i}", v, depth + 1) for i, v in enumerate(item))
        else:
            out[key] = _json(item)
    return out


def _fields(
    *,
    inputs: Optional[Mapping[str, Any]],
    outputs: Optional[Mapping[str, Any]],
    config: Optional[Mapping[str, Any]],
    metadata: Optional[Mapping[str, Any]],
    metrics: Optional[Mapping[str, Any]],
    feedback: Optional[Mapping[str, Any]],
    user_properties: Optional[Mapping[str, Any]],
) -> dict[str, Mapping[str, Any]]:
    """The record fields an enrichment call was given (non-empty), by name: the seven dict fields of
    :data:`spanhive._records.DICT_FIELDS`."""
    given: dict[str, Optional[Mapping[str, Any]]] = {
        "inputs": inputs, "outputs": outputs, "config": config, "metadata": metadata, "metrics": metrics,
        "feedback": feedback, "user_properties": user_properties,
    }  # fmt: skip
    return {field: values for field, values in given.items() if values}


def _current_span(what: str) -> Optional[trace.Span]:
    span = trace.get_current_span()
    if not span.is_recording():
        _logger.debug("spanhive: %s called with no recording span; nothing set", what)
        return None
    return span


def enrich_span(
    *,
    inputs: Optional[Mapping[str, Any]] = None,
    outputs: Optional[Mapping[str, Any]] = None,
    config: Optional[Mapping[str, Any]] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    metrics: Optional[Mapping[str, Any]] = None,
    feedback: Optional[Mapping[str, Any]] = None,
    user_properties: Optional[Mapping[str, Any]] = None,
    error: Optional[str] = None,
    event_type: Optional[str] = None,
    event_name: Optional[str] = None,
) -> None:
    """Set record fields on the current span, with HoneyHive's attribute names (``honeyhive_inputs.*``…).

    Values that are not JSON-able are stored as their ``str``; nothing here raises. With no recording span,
    it does nothing (and says so at debug level).
    """
    span = _current_span("enrich_span")
    if span is None:
        return
    attributes: dict[str, Any] = {}
    given = _fields(
        inputs=inputs,
        outputs=outputs,
        config=config,
        metadata=metadata,
        metrics=metrics,
        feedback=feedback,
        user_properties=user_properties,
    )
    for bucket, values in given.items():
        attributes.update(flatten("honeyhive_" + bucket, dict(values)))
    for key, value in (
        ("honeyhive_error", error),
        ("honeyhive_event_type", event_type),
        ("honeyhive_event_name", event_name),
    ):
        if value is not None:
            attributes[key] = str(value)
    try:
        span.set_attributes(attributes)
    except Exception:
        _logger.debug("spanhive: enrich_span could not set attributes", exc_info=True)


def enrich_session(
    *,
    name: Optional[str] = None,
    inputs: Optional[Mapping[str, Any]] = None,
    outputs: Optional[Mapping[str, Any]] = None,
    config: Optional[Mapping[str, Any]] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    metrics: Optional[Mapping[str, Any]] = None,
    feedback: Optional[Mapping[str, Any]] = None,
    user_properties: Optional[Mapping[str, Any]] = None,
) -> None:
    """Set session-level fields from wherever the code is: stored on the current span as
    ``spanhive.session.<field>`` (JSON), folded by the exporter into the session's SessionProperties.
    Calling it again merges into what was set before on the same span."""
    span = _current_span("enrich_session")
    if span is None:
        return
    root = _local_roots.get(span.get_span_context().trace_id)
    if root is not None and root[1].is_recording():
        span = root[1]
    current: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    attributes: dict[str, Any] = {}
    given = _fields(
        inputs=inputs,
        outputs=outputs,
        config=config,
        metadata=metadata,
        metrics=metrics,
        feedback=feedback,
        user_properties=user_properties,
    )
    for field, values in given.items():
        key = SESSION_PREFIX + field
        merged: dict[str, Any] = {}
        try:
            earlier = json.loads(current.get(key) or "{}")
            merged.update(earlier if isinstance(earlier, dict) else {})
        except ValueError:
            pass
        merged.update(values)
        attributes[key] = _json(merged)
    if name:
        attributes[SESSION_PREFIX + "name"] = str(name)
    try:
        span.set_attributes(attributes)
    except Exception:
        _logger.debug("spanhive: enrich_session could not set attributes", exc_info=True)
