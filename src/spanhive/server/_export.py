"""HoneyHive's event filters (``POST /v1/events/export`` and ``/v1/events/search``) as SQL over the store's
event columns, every value a bound parameter.

A filter is ``{"field", "operator", "value", "type"}``: ``field`` is a column (``session_id``,
``event_type``, ``start_time``, …) or a dotted path into one of the JSON fields (``metadata.cost``,
``user_properties.user_id``); the operators are HoneyHive's (``is``, ``is not``, ``contains``, ``not
contains``, ``greater than``, ``less than``, ``after``, ``before``, ``exists``, ``not exists``), and ``type``
(``string``, ``number``, ``boolean``, ``datetime``) says how ``value`` compares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Optional

from spanhive._records import DICT_FIELDS

MAX_LIMIT = 7500
"""The most events one page holds, as HoneyHive's API caps it."""
_COLUMNS = frozenset(
    {"event_id", "session_id", "parent_id", "project", "source", "event_name", "event_type", "start_time",
     "end_time", "duration", "error", "children_ids", *DICT_FIELDS}
)  # fmt: skip
_COMPARE = {"is": "=", "greater than": ">", "less than": "<", "after": ">", "before": "<"}


class FilterError(ValueError):
    """A filter that cannot be read; the message names it."""


def where(filters: Any, date_range: Any = None) -> tuple[str, list[Any]]:
    """The SQL condition (``1`` for none) and its parameters for HoneyHive ``filters`` and a ``dateRange``
    (``{"$gte": ISO, "$lte": ISO}``, on ``start_time``)."""
    if filters is None:
        filters = []
    if not isinstance(filters, list):
        raise FilterError("filters: expected a list of {field, operator, value, type}")
    clauses: list[str] = []
    params: list[Any] = []
    for n, item in enumerate(filters):
        clause, values = _clause(item, f"filters[{n}]")
        clauses.append(clause)
        params += values
    if isinstance(date_range, Mapping):
        for key, op in (("$gte", ">="), ("$lte", "<=")):
            if date_range.get(key) is not None:
                clauses.append(f"start_time {op} ?")
                params.append(_epoch_ms(date_range[key], f"dateRange.{key}"))
    elif date_range is not None:
        raise FilterError("dateRange: expected an object with $gte and $lte")
    return (" AND ".join(clauses) or "1"), params


def page(limit: Any, number: Any) -> tuple[int, int]:
    """``LIMIT`` and ``OFFSET`` for HoneyHive's ``limit`` (default 1000, at most 7500) and 1-based ``page``."""
    size = _count(limit, 1000, "limit")
    start = _count(number, 1, "page")
    return min(size, MAX_LIMIT), (start - 1) * min(size, MAX_LIMIT)


def project(events: list[dict[str, Any]], projections: Any) -> list[dict[str, Any]]:
    """Only the fields ``projections`` names (all of them without)."""
    if not projections:
        return events
    if not isinstance(projections, list) or not all(isinstance(p, str) for p in projections):
        raise FilterError("projections: expected a list of field names")
    return [{key: event[key] for key in projections if key in event} for event in events]


def _clause(item: Any, where_: str) -> tuple[str, list[Any]]:
    if not isinstance(item, Mapping) or not isinstance(item.get("field"), str) or "operator" not in item:
        raise FilterError(f"{where_}: expected {{field, operator, value, type}}")
    operator = str(item["operator"]).strip().lower()
    column, path = _column(item["field"], where_)
    target = f"json_extract({column}, ?)" if path is not None else column
    params: list[Any] = [path] if path is not None else []
    if operator in ("exists", "not exists"):
        return f"{target} IS {'NOT ' if operator == 'exists' else ''}NULL", params
    value = _value(item.get("value"), str(item.get("type") or "string"), f"{where_}.value")
    if operator in ("is", "is not") and value is None:
        return f"{target} IS {'NOT ' if operator == 'is not' else ''}NULL", params
    if operator == "is not":
        return f"({target} IS NULL OR {target} != ?)", [*params, *params, value]
    if operator in ("contains", "not contains"):
        found = f"instr(CAST({target} AS TEXT), ?) > 0"
        if operator == "contains":
            return found, [*params, str(value)]
        return f"({target} IS NULL OR NOT {found})", [*params, *params, str(value)]
    if operator in _COMPARE:
        return f"{target} {_COMPARE[operator]} ?", [*params, value]
    raise FilterError(f"{where_}.operator: {item['operator']!r} is not one of: {', '.join(_OPERATORS)}")


_OPERATORS = ("is", "is not", "contains", "not contains", "greater than", "less than", "after", "before",
              "exists", "not exists")  # fmt: skip


def _column(field: str, where_: str) -> tuple[str, Optional[str]]:
    """The column a field names, and the JSON path into it for a dotted field."""
    head, _, rest = field.partition(".")
    if head not in _COLUMNS or (rest and head not in DICT_FIELDS):
        raise FilterError(f"{where_}.field: unknown field {field!r}")
    if not rest:
        return head, None
    return head, "$" + "".join('."' + part.replace('"', '""') + '"' for part in rest.split("."))


def _value(value: Any, kind: str, where_: str) -> Any:
    if value is None:
        return None
    if kind == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise FilterError(f"{where_}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise FilterError(f"{where_}: {value!r} is not a finite number")
        return number
    if kind == "boolean":
        if isinstance(value, bool):
            return int(value)
        return int(str(value).strip().lower() == "true")
    if kind == "datetime":
        return _epoch_ms(value, where_)
    return value if isinstance(value, (str, int, float)) else str(value)


def _epoch_ms(value: Any, where_: str) -> int:
    """An ISO 8601 time, or epoch milliseconds, as epoch milliseconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f"{where_}: {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _count(value: Any, default: int, name: str) -> int:
    if value is None:
        return default
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise FilterError(f"{name}: {value!r} is not a whole number") from None
    if not 1 <= number <= 10**9:
        raise FilterError(f"{name}: must be between 1 and 1000000000")
    return number


__all__ = ["MAX_LIMIT", "FilterError", "page", "project", "where"]
