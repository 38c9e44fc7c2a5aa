"""A read-once view of a span's attributes that remembers which keys a rule consumed.

Whatever no rule consumes lands in ``metadata`` under its own key, so nothing a span carried is lost. Keys
are indexed by their first dotted segment, so a convention whose namespaces are absent costs one dict lookup;
the index and every prefix scan are worked out once per key layout, not once per span.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Optional, TypeVar, Union, cast

from spanhive import _json
from spanhive.mapping._values import is_absent

T = TypeVar("T")


class SpanAttrs:
    __slots__ = ("_layout", "data", "used")

    def __init__(self, data: Optional[dict[str, Any]]) -> None:
        self.data: dict[str, Any] = data or {}
        self.used: set[str] = set()
        self._layout: Optional[KeyLayout] = None

    @property
    def layout(self) -> KeyLayout:
        layout = self._layout
        if layout is None:
            layout = self._layout = _layout(tuple(self.data))
        return layout

    @property
    def namespaces(self) -> dict[str, tuple[str, ...]]:
        """Keys grouped by their first segment (``llm.input_messages.0…`` → ``llm``)."""
        return self.layout.namespaces

    def take(self, key: str) -> Any:
        """The value at ``key`` (``None`` when absent), marking it consumed."""
        value = self.data.get(key)
        if value is not None:
            self.used.add(key)
        return value

    def peek_str(self, *keys: str) -> Optional[str]:
        """The first non-blank string among ``keys``, without consuming it."""
        data = self.data
        for key in self.layout.among(keys):
            value = data[key]
            if isinstance(value, str) and not is_absent(value):
                return value.strip()
        return None

    def take_str(self, *keys: str) -> Optional[str]:
        """The first non-blank string among ``keys``, marking only that one consumed."""
        return self.take_present_str(self.layout.among(keys))

    def take_present_str(self, keys: tuple[str, ...]) -> Optional[str]:
        """:meth:`take_str` for keys the span is known to have (:meth:`KeyLayout.among`)."""
        data = self.data
        for key in keys:
            value = data[key]
            if isinstance(value, str) and not is_absent(value):
                self.used.add(key)
                return value.strip()
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

    def under(self, prefix: str) -> tuple[tuple[str, str], ...]:
        """``(rest, key)`` for every key strictly below ``prefix`` (``prefix.rest``), not consuming them."""
        return self.layout.under(prefix)

    def numbered(self, prefix: str) -> tuple[tuple[int, str, str, str], ...]:
        """``(i, field, rest, key)`` for every key ``prefix.<i>.<field>`` (``rest`` is ``<i>.<field>``): the
        flattened lists of OpenInference and OpenLLMetry. ``i`` is -1 for a digit that is not a number."""
        return self.layout.numbered(prefix)

    def leftovers(self) -> dict[str, Any]:
        """Unconsumed attributes as sent, OTel sequences (tuples) as lists."""
        used = self.used
        return {key: list(v) if type(v) is tuple else v for key, v in self.data.items() if key not in used}


class KeyLayout:
    """What a span's attribute keys alone decide, worked out once per distinct key order.

    An instrumentation writes the same keys in the same order for every call of one kind, so a handful of
    layouts cover a whole process, and each span only looks its own up.
    """

    __slots__ = ("_derived", "_numbered", "_present", "_under", "keys", "namespaces")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = frozenset(keys)
        grouped: dict[str, list[str]] = {}
        for key in keys:
            head = key.split(".", 1)[0]
            bucket = grouped.get(head)
            if bucket is None:
                grouped[head] = [key]
            else:
                bucket.append(key)
        self.namespaces = {head: tuple(bucket) for head, bucket in grouped.items()}
        # Answers worked out on first use. Every question comes from a constant in the code (a prefix, a
        # list of keys, a function), so each of these stays small.
        self._under: dict[str, tuple[tuple[str, str], ...]] = {}
        self._numbered: dict[str, tuple[tuple[int, str, str, str], ...]] = {}
        self._present: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._derived: dict[Callable[[KeyLayout], Any], Any] = {}

    def derive(self, make: Callable[[KeyLayout], T]) -> T:
        """``make(self)``, worked out once: what a rule decides from the keys alone."""
        found = self._derived.get(make)
        if found is None:
            found = self._derived[make] = make(self)
        return cast("T", found)

    def among(self, keys: tuple[str, ...]) -> tuple[str, ...]:
        """Those of ``keys`` the layout has, in the order given (rules ask for a dozen; a span has one or none)."""
        found = self._present.get(keys)
        if found is None:
            names = self.keys
            found = self._present[keys] = tuple(key for key in keys if key in names)
        return found

    def under(self, prefix: str) -> tuple[tuple[str, str], ...]:
        """See :meth:`SpanAttrs.under`."""
        found = self._under.get(prefix)
        if found is None:
            keys = self.namespaces.get(prefix.split(".", 1)[0], ())
            start = prefix + "."
            cut = len(start)
            found = self._under[prefix] = tuple((key[cut:], key) for key in keys if key.startswith(start))
        return found

    def numbered(self, prefix: str) -> tuple[tuple[int, str, str, str], ...]:
        """See :meth:`SpanAttrs.numbered`."""
        found = self._numbered.get(prefix)
        if found is None:
            entries = []
            for rest, key in self.under(prefix):
                index, _, field = rest.partition(".")
                if index.isdigit():
                    entries.append((int(index) if index.isdecimal() else -1, field, rest, key))
            found = self._numbered[prefix] = tuple(entries)
        return found


_LAYOUTS: dict[tuple[str, ...], KeyLayout] = {}
_LAYOUT_CACHE_SIZE = 1024  # distinct key orders remembered; the cache is cleared past it


def _layout(keys: tuple[str, ...]) -> KeyLayout:
    layout = _LAYOUTS.get(keys)
    if layout is None:
        if len(_LAYOUTS) >= _LAYOUT_CACHE_SIZE:
            _LAYOUTS.clear()
        layout = _LAYOUTS[keys] = KeyLayout(keys)
    return layout


def as_count(value: Any) -> Optional[float]:
    """A token count or cost: a finite number ≥ 0 (``bool`` is not a number here); ints stay ints."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value) if "." in value or "e" in value or "E" in value else int(value)
        except ValueError:
            return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(value) if value.is_integer() else value
    return None
