"""Secrets never leave the process: sensitive keys are redacted, then the user's ``mask`` rewrites records.

Redaction works on keys (``authorization``, ``api_key``, ``password``, ``secret``, ``*_token``…) in every
dict field, at any depth, and on flat dotted metadata keys by their last segment. ``prompt_tokens`` and
friends are counts, not secrets: only names *ending* in ``token`` match. The key walk is skipped for a batch
whose encoded JSON contains none of the words involved, which is nearly every batch.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable, Optional

from spanhive._log import limited
from spanhive._records import DICT_FIELDS

REDACTED = "[REDACTED]"
Mask = Callable[[dict[str, Any]], Optional[dict[str, Any]]]

_EXACT = frozenset(
    {
        "authorization", "proxy_authorization", "password", "passwd", "secret", "token", "api_key", "apikey",
        "access_token", "refresh_token", "id_token", "auth_token", "client_secret", "private_key", "cookie",
        "set_cookie", "x_api_key", "session_token", "bearer", "credential", "credentials",
    }
)  # fmt: skip
_SUFFIXES = ("_password", "_secret", "_api_key", "_apikey", "_token", "_private_key", "_credentials")
_HINT = re.compile(rb"(?i)authori[sz]ation|api.?key|passw|secret|token\"|private.?key|cookie|credential|bearer")
_CONTENT_FIELDS = ("inputs", "outputs", "config", "metadata", "feedback", "metrics", "user_properties")


def is_sensitive(key: str) -> bool:
    name = key.rsplit(".", 1)[-1].lower().replace("-", "_")
    return name in _EXACT or name.endswith(_SUFFIXES)


def may_hold_secrets(payload: bytes) -> bool:
    """Cheap pre-check on the encoded batch: ``False`` means no record can contain a sensitive key."""
    return _HINT.search(payload) is not None


def redact(value: Any) -> int:
    """Replace the values of sensitive keys in ``value`` (recursively) by ``[REDACTED]``; returns how many."""
    count = 0
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and is_sensitive(key) and item is not None and item != REDACTED:
                value[key] = REDACTED
                count += 1
            else:
                count += redact(item)
    elif isinstance(value, list):
        for item in value:
            count += redact(item)
    return count


def redact_record(record: dict[str, Any]) -> int:
    return sum(redact(record.get(field)) for field in DICT_FIELDS)


def apply_mask(mask: Mask, record: dict[str, Any]) -> dict[str, Any]:
    """The user's ``mask(record)``: its return value replaces the record (``None``: edited in place).

    If it raises, the record's content fields are emptied rather than sent unmasked, and the failure is
    logged (rate-limited) and noted in ``metadata.mask_error``.
    """
    try:
        result = mask(record)
    except Exception as exc:  # noqa: BLE001 - a user's mask must not break export, nor leak what it hides
        limited.log(logging.WARNING, "mask", "spanhive: the mask function raised %r; record content withheld", exc)
        for field in _CONTENT_FIELDS:
            if field in record:
                record[field] = {}
        record.setdefault("metadata", {})["mask_error"] = f"{type(exc).__name__}: {exc}"
        return record
    return record if result is None else result
