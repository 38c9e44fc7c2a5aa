"""HoneyHive's own span attributes (highest precedence).

Source: honeyhiveai/python-sdk ``tracer/instrumentation/span_utils.py`` (``honeyhive_<bucket>.<path>`` leaves,
dicts walked into dotted keys and lists into ``.0``, ``.1``…), ``decorators.py`` (JSON-string leaves for dict
and list arguments), ``processing/span_processor.py`` (the ``honeyhive.*`` protocol keys) and
``utils/event_type.py`` (``_raw`` copies); legacy ``_params_`` and ``honeyhive_prompt_template`` from the
pre-1.0 ``tracer/custom.py`` and typescript-sdk ``src/sdk/tracer.ts`` (conventions.md §1).
"""

from __future__ import annotations

from typing import Any

from spanhive._records import DICT_FIELDS
from spanhive.mapping._attrs import KeyLayout, SpanAttrs
from spanhive.mapping._draft import Draft
from spanhive.mapping._values import is_absent, json_leaf, unflatten

BUCKET_PREFIX = "honeyhive_"
BUCKETS = {BUCKET_PREFIX + name: name for name in DICT_FIELDS}
"""``honeyhive_inputs`` → ``inputs`` and so on, for every dict field of the event record."""
DOT_BUCKETS = {"honeyhive." + name: name for name in DICT_FIELDS}
"""``honeyhive.inputs.*``: not routed by HoneyHive's backend, accepted here at lower precedence."""

EVENT_TYPE_KEYS = ("honeyhive_event_type_raw", "honeyhive_event_type", "honeyhive.event_type")
EVENT_NAME_KEYS = ("honeyhive_event_name", "honeyhive.event_name")
EVENT_ID_KEYS = ("honeyhive_event_id",)
ERROR_KEYS = ("honeyhive_error", "honeyhive_error_raw")
SESSION_ID_KEYS = ("honeyhive.session_id", "honeyhive_session_id")
SESSION_NAME_KEYS = ("honeyhive.session_name", "honeyhive_session_name")
PROJECT_KEYS = ("honeyhive.project", "honeyhive_project")
SOURCE_KEYS = ("honeyhive.source", "honeyhive_source")
USER_ID_KEYS = ("honeyhive_user_id",)
HEADS = frozenset({*BUCKETS, *(bucket + "_raw" for bucket in BUCKETS), "honeyhive", "honeyhive_prompt_template"})
"""First segments of the attributes it reads: a span with none of them (and no span events) is skipped."""
PROTOCOL_KEYS = ("honeyhive.session_auto_create", "honeyhive.tracer_version")
"""Routing flags of HoneyHive's SDK that carry no data of their own."""
_PARAMS = "_params_"
_TEMPLATE = "honeyhive_prompt_template"


def apply(attrs: SpanAttrs, draft: Draft) -> None:
    """Fill the event's dict fields from ``honeyhive_<bucket>`` (then ``honeyhive.<bucket>``) attributes."""
    layout = attrs.layout
    buckets, protocol = layout.derive(_plan)
    for key in protocol:
        attrs.take(key)
    for field, entries in buckets:
        if draft.empty(field):
            _fill(attrs, draft.event[field], entries)  # type: ignore[literal-required]
    if _TEMPLATE in layout.namespaces:
        _template(attrs, draft)


def _plan(layout: KeyLayout) -> tuple[tuple[tuple[str, tuple[tuple[str, str], ...]], ...], tuple[str, ...]]:
    """For one key layout: ``(field, ((path, key), …))`` for every bucket it fills, ``honeyhive_<bucket>``
    before ``honeyhive.<bucket>``, and the protocol keys it has."""
    ns = layout.namespaces
    grouped: dict[str, list[tuple[str, str]]] = {}
    dotted: dict[str, list[tuple[str, str]]] = {}
    for head, keys in ns.items():
        if head.startswith(BUCKET_PREFIX):
            field = BUCKETS.get(head) or BUCKETS.get(head[: -len("_raw")] if head.endswith("_raw") else "")
            if field is not None:
                for key in keys:
                    grouped.setdefault(field, []).append((key.partition(".")[2], key))
    protocol: tuple[str, ...] = ()
    if "honeyhive" in ns:
        for key in ns["honeyhive"]:
            bucket, _, path = key.partition(".")[2].partition(".")
            field = DOT_BUCKETS.get("honeyhive." + bucket)
            if field is not None:
                dotted.setdefault(field, []).append((path, key))
        protocol = PROTOCOL_KEYS
    buckets = tuple(
        (field, tuple(sorted(entries, key=_raw_last)))
        for source in (grouped, dotted)
        for field, entries in source.items()
    )
    return buckets, protocol


def _raw_last(entry: tuple[str, str]) -> tuple[bool, str]:
    """``honeyhive_inputs_raw.*`` are legacy copies: they only fill what the plain keys did not."""
    return (entry[1].split(".", 1)[0].endswith("_raw"), entry[1])


def _fill(attrs: SpanAttrs, target: dict[str, Any], entries: tuple[tuple[str, str], ...]) -> None:
    data = attrs.data
    whole = [key for path, key in entries if not path]
    leaves: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for path, key in entries:
        if path and path not in seen and not is_absent(data[key]):
            seen.add(path)
            leaves.append((path, data[key]))
    nested, conflicts = unflatten(leaves)
    if not isinstance(nested, dict):  # honeyhive_inputs.0, .1 … : a list where a dict belongs
        nested = {"items": nested}
    params = nested.pop(_PARAMS, None)
    if isinstance(params, dict):  # legacy: arguments were nested under _params_
        for name, value in params.items():
            nested.setdefault(name, value)
    elif params is not None:
        nested[_PARAMS] = params
    for key in whole:  # `honeyhive_inputs` itself: a JSON object, or a bare value worth keeping
        value = json_leaf(data[key])
        if isinstance(value, dict):
            for name, item in value.items():
                nested.setdefault(name, item)
        elif not is_absent(value):
            nested.setdefault("value", value)
    target.update(nested)
    unplaced = set(conflicts)
    attrs.used.update(key for path, key in entries if path not in unplaced)


def _template(attrs: SpanAttrs, draft: Draft) -> None:
    """Legacy ``honeyhive_prompt_template.{template,prompt,inputs}``: template to config, variables to inputs."""
    entries = attrs.under(_TEMPLATE)
    rebuilt, conflicts = unflatten((rest, attrs.data[key]) for rest, key in entries)
    if not isinstance(rebuilt, dict):
        return
    template = rebuilt.get("template", rebuilt.get("prompt"))
    if template is not None:
        draft.put("config", "template", template)
    if isinstance(rebuilt.get("inputs"), dict):
        draft.merge("inputs", rebuilt["inputs"])
    unplaced = set(conflicts)
    attrs.used.update(key for rest, key in entries if rest not in unplaced)
