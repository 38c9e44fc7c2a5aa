"""A small JSON Schema validator (the subset the server's schemas use), so the server needs no dependency.

Supported: ``type`` (one or a list), ``enum``, ``required``, ``properties``, ``additionalProperties``
(boolean or schema), ``items``, ``minLength``, ``minItems``, ``maxItems``, ``anyOf`` and local ``$ref``
(``#/$defs/...``). Errors name the path of the first offending value: ``events[3].event_type``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Optional

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


class SchemaError(ValueError):
    """A value does not match its schema; ``str()`` names where and why."""


@cache
def load(name: str) -> dict[str, Any]:
    """A schema shipped in ``spanhive/server/schemas/``."""
    text = resources.files("spanhive.server").joinpath("schemas").joinpath(name).read_text(encoding="utf-8")
    return dict(json.loads(text))


def validate(value: Any, schema: dict[str, Any]) -> None:
    """Raise :class:`SchemaError` if ``value`` does not match ``schema``."""
    error = _check(value, schema, schema, "")
    if error is not None:
        raise SchemaError(error)


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[kind])


def _check(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str) -> Optional[str]:
    where = path or "body"
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return _check(value, target, root, path)
    if "anyOf" in schema:
        errors = [_check(value, option, root, path) for option in schema["anyOf"]]
        if all(errors):
            return errors[0]
    kinds = schema.get("type")
    if kinds is not None:
        options = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(value, kind) for kind in options):
            return f"{where}: expected {' or '.join(options)}, got {_describe(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where}: expected one of {', '.join(map(json.dumps, schema['enum']))}, got {json.dumps(value)[:60]}"
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        return f"{where}: expected at least {schema['minLength']} characters"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"{where}: expected at least {schema['minItems']} items"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{where}: expected at most {schema['maxItems']} items"
        items = schema.get("items")
        if items is not None:
            for i, item in enumerate(value):
                error = _check(item, items, root, f"{path}[{i}]")
                if error is not None:
                    return error
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                return f"{where}: missing required field {key!r}"
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if key in properties:
                error = _check(item, properties[key], root, child)
            elif extra is False:
                error = f"{child}: unknown field"
            elif isinstance(extra, dict):
                error = _check(item, extra, root, child)
            else:
                error = None
            if error is not None:
                return error
    return None


def _describe(value: Any) -> str:
    for kind in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is(value, kind):
            return kind
    return type(value).__name__
