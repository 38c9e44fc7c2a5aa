"""Value helpers shared by every convention: absence, JSON leaves, and rebuilding flattened attributes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

from spanhive import _json

_ABSENT_STRINGS = frozenset({"", "{}", "[]", "null"})


def is_absent(value: Any) -> bool:
    """``None``, blank strings, ``"{}"``, ``"[]"`` and empty containers carry no information."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in _ABSENT_STRINGS
    if isinstance(value, (list, tuple, dict)):
        return not value
    return False


def plain(value: Any) -> Any:
    """An attribute value as JSON-ready data (OTel sequences arrive as tuples)."""
    return list(value) if isinstance(value, tuple) else value


def json_leaf(value: Any) -> Any:
    """Parse a string that holds a JSON object or array; anything else is returned unchanged.

    Conventions mix plain strings and JSON-encoded structures under the same prefix, so only a string that
    starts with ``{`` or ``[`` and parses is taken as JSON.
    """
    if isinstance(value, str):
        text = value.lstrip()
        if text[:1] in ("{", "["):
            try:
                return _json.loads(text)
            except (ValueError, RecursionError):
                return value
        return value
    return plain(value)


def json_value(value: Any) -> Any:
    """Parse a string an attribute's convention defines as JSON (any JSON value, ``"shipped"`` included);
    text that does not parse is returned unchanged."""
    if isinstance(value, str):
        try:
            return _json.loads(value)
        except (ValueError, RecursionError):
            return value
    return plain(value)


def call_arguments(value: Any) -> Optional[dict[str, Any]]:
    """A decorated function's call as the Traceloop and Langfuse decorators record it, ``{"args": […],
    "kwargs": {…}}``, as inputs: the keyword arguments at the top level, the positional ones under ``args``;
    ``None`` for any other value."""
    if not (isinstance(value, dict) and value and set(value) <= {"args", "kwargs"}):
        return None
    kwargs = value.get("kwargs")
    inputs = dict(kwargs) if isinstance(kwargs, dict) else {}
    if value.get("args"):
        inputs.setdefault("args", value["args"])
    return inputs


def string_list(value: Any) -> Optional[list[Any]]:
    """Tags and similar lists: an OTel sequence, a JSON array string, or one bare string; else ``None``."""
    if isinstance(value, (tuple, list)):
        return list(value) if value else None
    if isinstance(value, str) and value.strip():
        parsed = json_leaf(value)
        return parsed if isinstance(parsed, list) else [value]
    return None


class _Node(dict):  # type: ignore[type-arg]
    """A dict built by :func:`unflatten` (as opposed to one parsed from JSON), so only these become lists."""

    __slots__ = ()


def unflatten(items: Iterable[tuple[str, Any]]) -> tuple[Any, list[str]]:
    """Rebuild ``a.0.b``-style dotted paths into nested dicts and lists.

    Returns the nested value (a dict, or a list when every top-level key is an index) and the paths that
    could not be placed because a leaf and a subtree claim the same place (``a = 1`` next to ``a.b = 2``);
    callers keep those in ``metadata`` so nothing is lost.
    """
    root = _Node()
    conflicts: list[str] = []
    for path, value in items:
        *parents, last = path.split(".")
        node: dict[str, Any] = root
        for part in parents:
            child = node.get(part)
            if child is None:
                child = node[part] = _Node()
            elif not isinstance(child, dict):
                conflicts.append(path)
                break
            node = child
        else:
            leaf = json_leaf(value)
            existing = node.get(last)
            if isinstance(existing, dict):
                if isinstance(leaf, dict):
                    existing.update((k, v) for k, v in leaf.items() if k not in existing)
                else:
                    conflicts.append(path)
            else:
                node[last] = leaf
    return _listify(root), conflicts


def _is_index(key: str) -> bool:
    return key.isdigit() and (key == "0" or key[0] != "0")


def _listify(node: _Node) -> Any:
    for key, value in node.items():
        if isinstance(value, _Node):
            node[key] = _listify(value)
    if node and all(_is_index(key) for key in node):
        return [node[key] for key in sorted(node, key=int)]
    return dict(node)
