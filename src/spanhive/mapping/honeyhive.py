"""HoneyHive's own span attributes (highest precedence).

Source: honeyhiveai/python-sdk ``tracer/instrumentation/span_utils.py`` (``honeyhive_<bucket>.<path>`` leaves,
dicts walked into dotted keys and lists into ``.0``, ``.1``…), ``decorators.py`` (JSON-string leaves for dict
and list arguments) and ``processing/span_processor.py`` (the ``honeyhive.*`` protocol keys).
"""

from __future__ import annotations

from typing import Any

from spanhive._records import DICT_FIELDS, Event
from spanhive.mapping._attrs import SpanAttrs
from spanhive.mapping._values import is_absent, json_leaf, unflatten

BUCKET_PREFIX = "honeyhive_"
BUCKETS = {BUCKET_PREFIX + name: name for name in DICT_FIELDS}
"""``honeyhive_inputs`` → ``inputs`` and so on, for every dict field of the event record."""

EVENT_TYPE_KEYS = ("honeyhive_event_type_raw", "honeyhive_event_type", "honeyhive.event_type")
EVENT_NAME_KEYS = ("honeyhive_event_name", "honeyhive.event_name")
EVENT_ID_KEYS = ("honeyhive_event_id",)
ERROR_KEYS = ("honeyhive_error",)
SESSION_ID_KEYS = ("honeyhive.session_id", "honeyhive_session_id")
SESSION_NAME_KEYS = ("honeyhive.session_name", "honeyhive_session_name")
PROJECT_KEYS = ("honeyhive.project", "honeyhive_project")
SOURCE_KEYS = ("honeyhive.source", "honeyhive_source")
USER_ID_KEYS = ("honeyhive_user_id",)
PROTOCOL_KEYS = ("honeyhive.session_auto_create", "honeyhive.tracer_version")
"""Routing flags of HoneyHive's SDK that carry no data of their own."""


def apply(attrs: SpanAttrs, event: Event) -> None:
    """Fill the event's dict fields from ``honeyhive_<bucket>`` attributes."""
    grouped: dict[str, list[tuple[str, Any]]] = {}
    for key in attrs.data:
        if not key.startswith(BUCKET_PREFIX):
            continue
        bucket, _, path = key.partition(".")
        field = BUCKETS.get(bucket)
        if field is not None:
            grouped.setdefault(field, []).append((path, key))
    for field, entries in grouped.items():
        target: dict[str, Any] = event[field]  # type: ignore[literal-required]
        if target:
            continue  # a higher-precedence source already filled it
        _fill(attrs, target, entries)
    for key in PROTOCOL_KEYS:
        attrs.take(key)


def _fill(attrs: SpanAttrs, target: dict[str, Any], entries: list[tuple[str, str]]) -> None:
    data = attrs.data
    whole = [key for path, key in entries if not path]
    leaves = [(path, data[key]) for path, key in entries if path and not is_absent(data[key])]
    nested, conflicts = unflatten(leaves)
    if not isinstance(nested, dict):  # honeyhive_inputs.0, .1 … : a list where a dict belongs
        nested = {"items": nested}
    for key in whole:  # `honeyhive_inputs` itself: a JSON object, or a bare value worth keeping
        value = json_leaf(data[key])
        if isinstance(value, dict):
            for k, v in value.items():
                nested.setdefault(k, v)
        elif not is_absent(value):
            nested.setdefault("value", value)
    target.update(nested)
    unplaced = set(conflicts)
    attrs.used.update(key for path, key in entries if path not in unplaced)
