"""Stage 3, privacy: secrets never leave the process. Sensitive keys are redacted in every record, then the
user's ``mask`` rewrites whole records.

Redaction works on keys (``authorization``, ``api_key``, ``password``, ``secret``, ``*_token``…) in every
dict field, at any depth, and on flat dotted metadata keys by their last segment. ``prompt_tokens`` and
friends are counts, not secrets: only names *ending* in ``token`` match. Key verdicts are cached, so the walk
costs a set lookup per key.
"""

from __future__ import annotations

import logging
from typing import Any

from spanhive._log import limited
from spanhive._records import DICT_FIELDS, Mask

REDACTED = "[REDACTED]"

_EXACT = frozenset(
    {
        "authorization", "proxy_authorization", "password", "passwd", "secret", "token", "api_key", "apikey",
        "access_token", "refresh_token", "id_token", "auth_token", "client_secret", "private_key", "cookie",
        "set_cookie", "x_api_key", "session_token", "bearer", "credential", "credentials",
    }
)  # fmt: skip
_SUFFIXES = ("_password", "_secret", "_api_key", "_apikey", "_token", "_private_key", "_credentials")


_SAFE: set[Any] = set()
_SECRET: set[Any] = set()
"""Keys already judged, each in one of the two; both are cleared past :data:`_CACHE_SIZE` keys."""
_CACHE_SIZE = 8192  # distinct keys remembered


def is_sensitive(key: Any) -> bool:
    """Whether a key names a secret (only a string can); answered once per distinct key."""
    if key in _SAFE:
        return False
    if key in _SECRET:
        return True
    if key.__class__ is str:
        name = key.rsplit(".", 1)[-1].lower().replace("-", "_")
        known = name in _EXACT or name.endswith(_SUFFIXES)
    else:
        known = False
    if len(_SAFE) + len(_SECRET) >= _CACHE_SIZE:
        _SAFE.clear()
        _SECRET.clear()
    (_SECRET if known else _SAFE).add(key)
    return known


def redact(value: Any) -> int:
    """Replace the values of sensitive keys in ``value``, at any depth, by ``[REDACTED]``; returns how many.

    One loop over each dict's items, a set lookup per key: on records with nested values this measured faster
    than comparing whole key views with sets, from the source and about twice as fast compiled.
    """
    count = 0
    if value.__class__ is dict:
        safe = _SAFE
        for key, item in value.items():
            if item is None:
                continue
            if key in safe or not is_sensitive(key):
                if item.__class__ is dict or item.__class__ is list:
                    count += redact(item)
            elif item != REDACTED:
                value[key] = REDACTED  # the same key: safe while iterating
                count += 1
    elif value.__class__ is list:
        for item in value:
            if item.__class__ is dict or item.__class__ is list:
                count += redact(item)
    return count


def redact_record(record: dict[str, Any]) -> int:
    """:func:`redact` over a record's dict fields (an event's or a session's); returns how many."""
    count = 0
    for field in DICT_FIELDS:
        value = record.get(field)
        if value:
            count += redact(value)
    return count


def redact_flat(values: dict[str, Any]) -> int:
    """:func:`redact` for a dict known to hold nothing to look into (a flat record's ``metadata``): only its
    keys are judged, in one set comparison when all of them are known to be safe (faster than the loop here,
    where there is nothing to descend into)."""
    count = 0
    if not values.keys() <= _SAFE:
        for key in values.keys() - _SAFE:
            if is_sensitive(key) and values[key] is not None and values[key] != REDACTED:
                values[key] = REDACTED
                count += 1
    return count


def apply_mask(mask: Mask, record: dict[str, Any]) -> dict[str, Any]:
    """The user's ``mask(record)``: its return value replaces the record (``None``: edited in place).

    If it raises, the record's content fields are emptied rather than sent unmasked, and the failure is
    logged (rate-limited) and noted in ``metadata.mask_error``.
    """
    try:
        result = mask(record)
    except Exception as exc:  # noqa: BLE001 - a user's mask must not break export, nor leak what it hides
        limited.log(logging.WARNING, "mask", "spanhive: the mask function raised %r; record content withheld", exc)
        for field in DICT_FIELDS:
            if field in record:
                record[field] = {}
        record.setdefault("metadata", {})["mask_error"] = f"{type(exc).__name__}: {exc}"
        return record
    return record if result is None else result
