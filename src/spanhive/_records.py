"""The two record shapes spanhive produces: one event per span, one SessionProperties per session.

Records are plain dicts (typed with ``TypedDict``) because they are JSON-encoded on the hot path and read by
the embedded store and server, which share only these shapes with the exporter side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, TypedDict

EVENT_TYPES = frozenset({"model", "chain", "tool", "session"})

DICT_FIELDS: tuple[str, ...] = ("config", "inputs", "outputs", "metadata", "feedback", "metrics", "user_properties")
"""The seven fields both records have, always present as (possibly empty) objects: HoneyHive's attribute
buckets (``honeyhive_<field>.*``), the ``spanhive.session.<field>`` enrichment family and the store's JSON
columns are all named after them."""

DEFAULT_MAX_VALUE_CHARS = 1024 * 1024
"""Characters of one string value in a record before it is cut, with a marker (``max_value_chars``)."""

Mask = Callable[[dict[str, Any]], Optional[dict[str, Any]]]
"""A user's ``mask(record)``: returns the record to send, or ``None`` after editing it in place."""


class Event(TypedDict):
    """An event record (``docs/architecture.md``, Records): times in epoch milliseconds, ``duration`` in ms."""

    project: str
    source: str
    event_name: str
    event_type: str
    event_id: str
    session_id: str
    parent_id: Optional[str]
    children_ids: list[str]
    config: dict[str, Any]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: Optional[str]
    start_time: int
    end_time: int
    duration: float
    metadata: dict[str, Any]
    feedback: dict[str, Any]
    metrics: dict[str, Any]
    user_properties: dict[str, Any]


class SessionProperties(TypedDict):
    """The session record (``docs/architecture.md``, Records); all eleven fields are always present."""

    session_name: Optional[str]
    source: str
    session_id: str
    config: dict[str, Any]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: Optional[str]
    user_properties: dict[str, Any]
    metrics: dict[str, Any]
    feedback: dict[str, Any]
    metadata: dict[str, Any]


EVENT_FIELDS = tuple(Event.__annotations__)
"""An event record's nineteen fields, in the order they are written."""
SESSION_FIELDS = tuple(SessionProperties.__annotations__)
"""A SessionProperties record's eleven fields, in the order they are written."""
