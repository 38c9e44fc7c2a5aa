"""Size limits on single values: a string longer than the limit is cut, with a visible marker saying how much,
and bulky inline data (an image or a file as base64) is replaced by a marker saying how big it was.

The walk only runs for spans that carried a long attribute or one holding inline data, so ordinary spans pay
nothing for it.
"""

from __future__ import annotations

import re
from typing import Any

from spanhive._records import Event

MARKER = "…[truncated {} chars]"
INLINE_DATA_MAX_CHARS = 8192
"""The longest run of base64 (about 6 KB of data) a record keeps; a longer one is replaced by
:data:`INLINE_DATA_MARKER`. Where the run is a data URL's payload, or a message part's ``data``/``content``, the
URL's media type and the part's ``type`` and ``mime_type`` stay as sent: only the bytes go."""
INLINE_DATA_MARKER = "[inline data omitted: {} bytes]"

_BASE64 = "A-Za-z0-9+/_-"  # the standard and the URL-safe alphabet
_RUN = re.compile(f"[{_BASE64}]{{{INLINE_DATA_MAX_CHARS + 1},}}={{0,2}}")
_STRIDE = 32
_IN_ALPHABET = bytes(
    ord("a") if re.fullmatch(f"[{_BASE64}]", chr(byte)) else ord(" ") for byte in range(256)
)  # fmt: skip
"""Each ASCII byte as ``a`` if base64 has it, else a space."""
_SAMPLED_RUN = b"a" * (INLINE_DATA_MAX_CHARS // _STRIDE - 1)
"""What a longer run leaves in every ``_STRIDE``-th character of a text: a run of more than
``INLINE_DATA_MAX_CHARS`` characters holds at least ``INLINE_DATA_MAX_CHARS // _STRIDE`` consecutive samples.
Prose and JSON never do (a space or a quote breaks them), so the exact search runs only where data is."""


def truncate(text: str, limit: int) -> str:
    return text[:limit] + MARKER.format(len(text) - limit)


def may_hold_inline_data(text: str) -> bool:
    """Whether ``text`` may hold a base64 run longer than :data:`INLINE_DATA_MAX_CHARS`: a substring search
    in a 1/32 sample with every character made ``a`` or a space (a few µs for 200 KB, all in C). Never wrong
    when it says no; when it says yes, :func:`limit_value` looks for the runs themselves."""
    if len(text) <= INLINE_DATA_MAX_CHARS:
        return False
    return _SAMPLED_RUN in text[::_STRIDE].encode("ascii", "replace").translate(_IN_ALPHABET)


def is_bulky(text: str, limit: int) -> bool:
    """Whether :func:`limit_value` may change ``text``."""
    return len(text) > limit or may_hold_inline_data(text)


def limit_value(text: str, limit: int) -> str:
    """``text`` with each base64 run longer than :data:`INLINE_DATA_MAX_CHARS` replaced by a marker giving the
    size of the data it encoded, then cut to ``limit`` characters; ``text`` itself when neither applies."""
    if may_hold_inline_data(text):
        replaced = _RUN.sub(_inline_data_marker, text)
        if replaced != text:
            text = replaced
    return truncate(text, limit) if len(text) > limit else text


def _inline_data_marker(match: re.Match[str]) -> str:
    """Encoded data has digits or symbols among its letters; a run of letters alone (``xxxx…``) is no data."""
    run = match.group()
    return run if run.isalpha() else INLINE_DATA_MARKER.format(len(run.rstrip("=")) * 3 // 4)


def truncate_long_strings(event: Event, limit: int) -> int:
    """Cut every string in ``event`` longer than ``limit``, and take the bulky inline data out of every
    string; returns how many strings changed."""
    count = 0
    floor = min(limit, INLINE_DATA_MAX_CHARS)

    def walk(value: Any) -> Any:
        nonlocal count
        if isinstance(value, str):
            if len(value) > floor:
                limited = limit_value(value, limit)
                if limited is not value:
                    count += 1
                return limited
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
