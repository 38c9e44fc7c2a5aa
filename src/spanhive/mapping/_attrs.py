"""A read-once view of a span's attributes that remembers which keys a rule consumed.

Whatever no rule consumes lands in ``metadata`` under its own key, so nothing a span carried is lost. Keys
are indexed once by their first dotted segment, so a convention whose namespaces are absent costs one dict
lookup, and a prefix scan only walks the keys of its own namespace.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Optional, Union

from spanhive import _json
from spanhive.mapping._values import is_absent


class SpanAttrs:
    __slots__ = ("_ns", "data", "used")

    def __init__(self, data: Optional[Mapping[str, Any]]) -> None:
        self.data: Mapping[str, Any] = data or {}
        self.used: set[str] = set()
        self._ns: Optional[dict[str, list[str]]] = None

    @property
    def namespaces(self) -> dict[str, list[str]]:
        """Keys grouped by their first segment (``llm.input_messages.0…`` → ``llm``)."""
        ns = self._ns
        if ns is None:
            ns = self._ns = {}
            for key in self.data:
                head = key.split(".", 1)[0]
                bucket = ns.get(head)
                if bucket is None:
                    ns[head] = [key]
                else:
                    bucket.append(key)
        return ns

    def has(self, *namespaces: str) -> bool:
        ns = self.namespaces
        return any(name in ns for name in namespaces)

    def take(self, key: str) -> Any:
        """The value at ``key`` (``None`` when absent), marking it consumed."""
        value = self.data.get(key)
        if value is not None:
            self.used.add(key)
        return value

    def peek_str(self, *keys: str) -> Optional[str]:
        """The first non-blank string among ``keys``, without consuming it."""
        for key in keys:
            value = self.data.get(key)
            if isinstance(value, str) and not is_absent(value):
                return value.strip()
        return None

    def take_str(self, *keys: str) -> Optional[str]:
        """The first non-blank string among ``keys``, marking only that one consumed."""
        for key in keys:
            value = self.data.get(key)
            if isinstance(value, str) and not is_absent(value):
                self.used.add(key)
                return value.strip()
        return None

    def take_number(self, *keys: str) -> Optional[float]:
        """The first finite, non-negative number among ``keys`` (numeric strings accepted).

        A value that is not such a number is left unconsumed, so it still reaches ``metadata`` as sent.
        """
        for key in keys:
            number = as_count(self.data.get(key))
            if number is not None:
                self.used.add(key)
                return number
        return None

    def take_json(self, key: str, expect: Union[type, tuple[type, ...]] = object) -> Any:
        """The value at ``key`` parsed as JSON (when it is a string) if the result is an ``expect``.

        Otherwise ``None``, and the key stays unconsumed, so a malformed value is kept raw in ``metadata``.
        """
        value = self.data.get(key)
        if value is None or is_absent(value):
            if value is not None:
                self.used.add(key)
            return None
        if isinstance(value, str):
            try:
                value = _json.loads(value)
            except (ValueError, RecursionError):
                return None
        elif isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, expect):
            return None
        self.used.add(key)
        return value

    def under(self, prefix: str) -> list[tuple[str, str]]:
        """``(rest, key)`` for every key strictly below ``prefix`` (``prefix.rest``), not consuming them."""
        head = prefix.split(".", 1)[0]
        keys = self.namespaces.get(head)
        if not keys:
            return []
        start = prefix + "."
        cut = len(start)
        return [(key[cut:], key) for key in keys if key.startswith(start)]

    def leftovers(self) -> dict[str, Any]:
        """Unconsumed attributes as sent, OTel sequences (tuples) as lists."""
        used = self.used
        return {key: list(v) if v.__class__ is tuple else v for key, v in self.data.items() if key not in used}


def as_count(value: Any) -> Optional[float]:
    """A token count or cost: a finite number ≥ 0 (``bool`` is not a number here); ints stay ints."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(value) if value.is_integer() else value
    return None
