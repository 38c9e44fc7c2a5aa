"""The working state of one span's mapping, shared by the convention modules.

Conventions run in precedence order and each only fills what is still empty: ``inputs`` and ``outputs``
take the first source that has them (two conventions' chat histories are never merged); dict fields such as
``config`` and ``metadata`` merge key by key, the earlier convention winning each key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from opentelemetry.sdk.trace import Event as Event_
from opentelemetry.sdk.trace import ReadableSpan

from spanhive._records import Event
from spanhive.mapping._attrs import SpanAttrs


class Draft:
    __slots__ = ("answered_model", "event", "events", "events_used", "is_model", "session", "span")

    def __init__(self, span: ReadableSpan, event: Event, is_model: bool, events: Sequence[Event_] = ()) -> None:
        self.span = span
        self.events = events
        """The span's events (read once: the SDK builds a new tuple on every access)."""
        self.event = event
        self.is_model = is_model
        """The span is an LLM call: outputs take the assistant-message shape."""
        self.answered_model: Optional[str] = None
        """The model a provider answered with; becomes ``config.model`` only if nothing says what was asked."""
        self.session: dict[str, Any] = {}
        """Session-level fields this span states (name, inputs, outputs, metrics, feedback, metadata…)."""
        self.events_used: set[int] = set()
        """Indexes of span events a convention turned into record fields (not repeated in metadata)."""

    def fill(self, field: str, value: Optional[dict[str, Any]]) -> bool:
        """Set ``inputs``/``outputs``… to ``value`` if still empty; ``True`` if it was used."""
        target = self.event[field]  # type: ignore[literal-required]
        if target or not value:
            return False
        target.update(value)
        return True

    def empty(self, field: str) -> bool:
        return not self.event[field]  # type: ignore[literal-required]

    def put(self, field: str, key: str, value: Any) -> bool:
        """Set ``field[key]`` unless an earlier source set it; ``True`` if it was used."""
        if value is None:
            return False
        target: dict[str, Any] = self.event[field]  # type: ignore[literal-required]
        if key in target:
            return False
        target[key] = value
        return True

    def copy(self, attrs: SpanAttrs, field: str, name: str, *keys: str) -> Optional[str]:
        """The first non-blank string among ``keys`` (consumed) as ``field[name]``, unless already set."""
        value = attrs.take_str(*keys)
        if value is not None:
            self.put(field, name, value)
        return value

    def answered(self, attrs: SpanAttrs, *keys: str) -> None:
        """The model the provider answered with: ``metadata.response_model``, and ``config.model`` only if
        nothing says which model was requested."""
        answered = attrs.take_str(*keys)
        if answered is not None:
            self.answered_model = self.answered_model or answered
            self.put("metadata", "response_model", answered)

    def merge(self, field: str, values: dict[str, Any]) -> None:
        target: dict[str, Any] = self.event[field]  # type: ignore[literal-required]
        for key, value in values.items():
            target.setdefault(key, value)
