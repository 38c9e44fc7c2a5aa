"""The two record shapes spanhive produces: one event per span, one SessionProperties per session.

Records are plain dicts (typed with ``TypedDict``) because they are JSON-encoded on the hot path and read by
the embedded store and server, which share only these shapes with the exporter side.
"""

from __future__ import annotations

from typing import Any, Optional, TypedDict

EVENT_TYPES = frozenset({"model", "chain", "tool", "session"})

DICT_FIELDS = ("config", "inputs", "outputs", "metadata", "feedback", "metrics", "user_properties")
"""Record fields that are always present as (possibly empty) objects."""


class Event(TypedDict):
    """An event record (DESIGN §2): times in epoch milliseconds, ``duration`` in milliseconds."""

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
    """The session record (DESIGN §2); all eleven fields are always present."""

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


SESSION_FIELDS = tuple(SessionProperties.__annotations__)
