"""A read-once view of a span's attributes that remembers which keys a rule consumed.

Whatever no rule consumes lands in ``metadata`` under its own key, so nothing a span carried is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from spanhive.mapping._values import is_absent


class SpanAttrs:
    __slots__ = ("data", "used")

    def __init__(self, data: Optional[Mapping[str, Any]]) -> None:
        self.data: Mapping[str, Any] = data or {}
        self.used: set[str] = set()

    def take(self, key: str) -> Any:
        """The value at ``key`` (``None`` when absent), marking it consumed."""
        value = self.data.get(key)
        if value is not None:
            self.used.add(key)
        return value

    def take_str(self, *keys: str) -> Optional[str]:
        """The first non-blank string among ``keys``, marking only that one consumed."""
        for key in keys:
            value = self.data.get(key)
            if isinstance(value, str) and not is_absent(value):
                self.used.add(key)
                return value.strip()
        return None

    def leftovers(self) -> dict[str, Any]:
        used = self.used
        return {
            key: list(v) if isinstance(v, tuple) else v for key, v in self.data.items() if key not in used
        }
