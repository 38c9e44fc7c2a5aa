"""Stage 3, privacy: secrets never leave the process. Sensitive keys and secret-shaped values are redacted in
every record, then the user's ``mask`` rewrites whole records.

- **By key** (``authorization``, ``api_key``, ``password``, ``secret``, ``*_token``, ``accessToken``…) in
  every dict field, at any depth, and on flat dotted metadata keys by their last segment, camelCase read as
  words. ``prompt_tokens`` and friends are counts, not secrets: only names *ending* in ``token`` match. Key
  verdicts are cached, so the walk costs a set lookup per key.
- **By value**, in every string (prompts, errors, stack traces, URLs): API keys (``sk-…``), ``Bearer``
  credentials, AWS access key ids (``AKIA…``), JWTs, PEM private keys, passwords in connection strings, and in URLs the
  user and password and the query values OpenTelemetry's URL conventions call sensitive. A shape is
  looked for only in a string holding the characters it cannot do without (``in`` tests, no regular
  expression), so a prompt of no secret costs no regular expression.
- **Inside JSON strings**: a string that is a JSON object or array naming a sensitive key is parsed,
  redacted, and written again only if something changed.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from spanhive._log import limited
from spanhive._records import DICT_FIELDS, Mask

REDACTED = "[REDACTED]"

_EXACT = frozenset(
    {
        "authorization", "proxy_authorization", "password", "passwd", "secret", "token", "api_key", "apikey",
        "access_token", "refresh_token", "id_token", "auth_token", "client_secret", "private_key", "cookie",
        "set_cookie", "x_api_key", "session_token", "bearer", "credential", "credentials", "jwt", "passphrase",
        "connection_string", "connectionstring", "dsn", "secret_key", "secret_access_key", "signature", "sig",
    }
)  # fmt: skip
_SUFFIXES = (
    "_password", "_secret", "_api_key", "_apikey", "_token", "_private_key", "_credentials", "_secret_key",
    "_access_key", "_connection_string", "_passphrase", "_jwt",
)  # fmt: skip
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


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
    if type(key) is str:
        name = _CAMEL.sub("_", key.rsplit(".", 1)[-1]).lower().replace("-", "_")
        known = name in _EXACT or name.endswith(_SUFFIXES)
    else:
        known = False
    if len(_SAFE) + len(_SECRET) >= _CACHE_SIZE:
        _SAFE.clear()
        _SECRET.clear()
    (_SECRET if known else _SAFE).add(key)
    return known


_SK = re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}")
_BEARER = re.compile(r"(\b[Bb]earer\s+)(?=[A-Za-z0-9._~+/=\-]*\d)[A-Za-z0-9._~+/=\-]{8,}")
"""A credential after ``Bearer``: eight characters or more, a digit among them (so that prose is left
alone)."""
_AWS_KEY_ID = re.compile(r"\bAKIA[0-9A-Z]{16}\b")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL)
_URL_USER = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^/\s:@?#]+(?::[^/\s@?#]*)?@")
_QUERY = re.compile(
    r"(?i)([?&;](?:awsaccesskeyid|signature|sig|x-goog-signature|x-amz-signature|x-amz-credential|"
    r"x-amz-security-token|api[_-]?key|key|token|access[_-]?token|password|passwd|secret|client[_-]?secret|"
    r"code|auth)=)[^&#\s]*"
)
_CONNECTION = re.compile(r"(?i)((?:password|pwd)\s*=\s*)[^;\s]+")
_JSON_KEY = re.compile(
    r'(?i)"[^"]{0,64}(?:key|token|secret|passw|credential|authoriz|cookie|jwt|passphrase|signature|dsn)[^"]{0,64}"'
    r"\s*:"
)


_SHORTEST = 12
"""Strings shorter than this are neither searched nor passed to :func:`scrub`: the shortest shape, a JWT, has
13 characters, and a connection string's password comes with its server's name."""


def scrub(text: str) -> str:
    """``text`` with every secret shape in it replaced (the same object when there was none).

    Each shape is looked for only in a string holding a character it cannot do without (``-`` for ``sk-`` and
    PEM blocks, ``:`` for URLs, ``=`` for connection strings, ``K`` for ``AKIA``, ``J`` for ``eyJ``): a
    one-character test is a ``memchr`` in C, several times faster than a substring search, so a prompt of no
    secret costs five of them and one search for ``earer`` (``benchmarks/README.md``).
    """
    if len(text) < _SHORTEST or not (
        "-" in text or ":" in text or "=" in text or "K" in text or "J" in text or "earer" in text
        or text[0] in "{["
    ):  # fmt: skip
        return text
    out = text
    if "-" in out and "sk-" in out:
        out = _SK.sub(REDACTED, out)
    if "earer" in out:
        out = _BEARER.sub(_after_prefix, out)
    if "K" in out and "AKIA" in out:
        out = _AWS_KEY_ID.sub(REDACTED, out)
    if "J" in out and "eyJ" in out:
        out = _JWT.sub(REDACTED, out)
    if "-" in out and "PRIVATE KEY" in out:
        out = _PEM.sub(REDACTED, out)
    if ":" in out and "://" in out:  # OpenTelemetry's URL conventions: credentials and signature-like query values
        out = _QUERY.sub(_query_value, _URL_USER.sub(r"\1REDACTED:REDACTED@", out))
    if "=" in out and ("assword" in (low := out.lower()) or "pwd" in low):
        out = _CONNECTION.sub(_after_prefix, out)
    if out[0] in "{[" and _JSON_KEY.search(out):
        out = _scrub_json(out)
    return out if out != text else text


def _after_prefix(match: re.Match[str]) -> str:
    """What a pattern's first group kept (``Bearer ``, ``Password=``), then ``[REDACTED]``. Module functions,
    not lambdas: compiled, a function holding a lambda allocates its closure on every call."""
    return match.group(1) + REDACTED


def _query_value(match: re.Match[str]) -> str:
    """A sensitive query parameter's name, then ``REDACTED``, as OpenTelemetry's URL conventions write it."""
    return match.group(1) + "REDACTED"


def _scrub_json(text: str) -> str:
    """A JSON string redacted as a record would be, written again only if that changed something."""
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return text
    holder = [parsed]
    if not redact(holder):
        return text
    return json.dumps(holder[0], ensure_ascii=False, separators=(",", ":"), default=str)


def redact(value: Any) -> int:
    """Replace the values of sensitive keys in ``value``, at any depth, by ``[REDACTED]``, and secret shapes
    in its strings (:func:`scrub`); returns how many.

    One loop over each dict's items, a set lookup per key: on records with nested values this measured faster
    than comparing whole key views with sets, from the source and about twice as fast compiled.
    """
    count = 0
    shortest = _SHORTEST
    text: str  # a string item, typed: compiled, its length is then read without a call
    if type(value) is dict:
        safe = _SAFE
        for key, item in value.items():
            if item is None:
                continue
            if key in safe or not is_sensitive(key):
                kind = type(item)
                if kind is str:
                    text = item
                    if len(text) >= shortest:
                        clean = scrub(text)
                        if clean is not text:
                            value[key] = clean  # the same key: safe while iterating
                            count += 1
                elif kind is dict or kind is list:
                    count += redact(item)
            elif item != REDACTED:
                value[key] = REDACTED
                count += 1
    elif type(value) is list:
        for index, item in enumerate(value):
            kind = type(item)
            if kind is str:
                text = item
                if len(text) >= shortest:
                    clean = scrub(text)
                    if clean is not text:
                        value[index] = clean
                        count += 1
            elif kind is dict or kind is list:
                count += redact(item)
    return count


def redact_record(record: dict[str, Any]) -> int:
    """:func:`redact` over a record's dict fields (an event's or a session's); returns how many."""
    count = 0
    for field in DICT_FIELDS:
        value = record.get(field)
        if value:
            count += redact(value)
    error = record.get("error")
    if type(error) is str:
        clean = scrub(error)
        if clean is not error:
            record["error"] = clean
            count += 1
    return count


WITHHELD = "[withheld]"
_STRUCTURE = frozenset({"role", "type", "name", "tool_call_id", "id", "finish_reason", "model"})
"""Keys whose text says what a part is, not what was said: kept when content is withheld."""


def withhold_content(record: dict[str, Any]) -> None:
    """``SPANHIVE_CAPTURE_CONTENT=false``, as a mask: every text in ``inputs`` and ``outputs`` becomes
    ``[withheld]`` but for the names of structure (roles, types, tool call ids); numbers, lists and keys are
    kept, and so are the other fields (tokens, costs, timings, errors)."""
    for field in ("inputs", "outputs"):
        value = record.get(field)
        if type(value) is dict:
            _withhold(value)


def _withhold(value: Any) -> None:
    stack = [value]
    while stack:
        node = stack.pop()
        items: Any = node.items() if type(node) is dict else enumerate(node)
        for key, item in list(items):
            if type(item) is str:
                if not (type(node) is dict and key in _STRUCTURE):
                    node[key] = WITHHELD
            elif type(item) is dict or type(item) is list:
                stack.append(item)


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
