"""Size limits on single values: a string longer than the limit is cut, with a visible marker saying how much.

The walk only runs for spans that carried a long attribute, so ordinary spans pay nothing for it.
"""

from __future__ import annotations

from typing import Any

from spanhive._records import Event

MARKER = "…[truncated {} chars]"


def truncate(text: str, limit: int) -> str:
    return text[:limit] + MARKER.format(len(text) - limit)


def truncate_long_strings(event: Event, limit: int) -> int:
    """Cut every string in ``event`` longer than ``limit``; returns how many were cut."""
    count = 0

    def walk(value: Any) -> Any:
        nonlocal count
        if isinstance(value, str):
            if len(value) > limit:
                count += 1
                return truncate(value, limit)
            return value
        if isinstance(value, dict):
            for key, item in value.items():
                value[key] = walk(item)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                value[i] = walk(item)
        return value

    record: dict[str, Any] = event  # type: ignore[assignment]
    for key, value in record.items():
        record[key] = walk(value)
    return count
