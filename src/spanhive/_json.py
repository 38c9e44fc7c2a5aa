"""JSON in and out of records, with the same result whichever encoder runs.

Encoding is most of an exporter's cost after mapping. The standard library's C encoder is always there;
``orjson`` (``pip install 'spanhive[fast]'``) encodes the same records about ten times faster, so it is used
when installed, for records known to hold nothing it would write differently: JSON primitives only, every
float finite (it writes NaN as ``null``, where spanhive writes the string ``"nan"``). Anything else, and
anything orjson refuses (integers past 64 bits, unpaired surrogates), goes through the standard library.

Parsing stays with the standard library, which keeps big integers exact; non-finite numbers in parsed text
(``NaN``, ``Infinity``, ``1e400``) become the strings spanhive writes for them, so parsed data is always plain.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from spanhive._internals import json_text_encoder

try:
    import orjson as _orjson
except ImportError:  # the optional extra is not installed
    _orjson = None  # type: ignore[assignment]


_text = json_text_encoder()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    """Strict JSON bytes of anything: NaN and Infinity as strings, unpaired surrogates replaced, never raising
    for bad data."""
    try:
        text = _text(value)
    except ValueError:  # NaN or Infinity somewhere: rare, so the walk happens only then
        text = _text(_finite(value))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate from a bad attribute
        return text.encode("utf-8", "replace")


_COMPACT_BELOW = 64 * 1024
"""orjson hands over the buffer it wrote into, a page or more whatever the length of the text, so every small
result kept alive holds (and faults in) pages of its own. A batch keeps hundreds until its body is joined:
copied to their length they share pages: 5x cheaper than the faults, measured (``benchmarks/README.md``).
Above this size a copy costs more than the slack it saves."""


def _orjson_dumps(value: Any) -> bytes:
    try:
        encoded = _orjson.dumps(value)
    except TypeError:  # JSONEncodeError: a big integer, a surrogate, an unknown type
        return dumps(value)
    return encoded if len(encoded) >= _COMPACT_BELOW else memoryview(encoded).tobytes()


dumps_primitive: Callable[[Any], bytes] = dumps if _orjson is None else _orjson_dumps
""":func:`dumps` for values made of JSON primitives only, with finite floats: the fastest encoder installed."""
BACKEND = "json" if _orjson is None else "orjson"


def use(backend: str) -> str:
    """Switch :func:`dumps_primitive` to ``"orjson"`` or ``"json"`` (the standard library); returns the previous
    one. For comparing the two; the default is the fastest installed."""
    global dumps_primitive, BACKEND
    if backend not in ("json", "orjson") or (backend == "orjson" and _orjson is None):
        raise ValueError(f"JSON backend {backend!r} is not available")
    previous = BACKEND
    dumps_primitive, BACKEND = (_orjson_dumps if backend == "orjson" else dumps), backend
    return previous


def _constant(name: str) -> str:
    return str(float(name))  # NaN, Infinity, -Infinity → "nan", "inf", "-inf", as dumps writes them


def _float(text: str) -> Any:
    number = float(text)
    return number if number - number == 0 else str(number)  # 1e400 → "inf"


_decode = json.JSONDecoder(parse_constant=_constant, parse_float=_float).decode


def loads(text: str) -> Any:
    """Parsed JSON with only finite floats (``ValueError`` or ``RecursionError`` for text that is not JSON)."""
    return _decode(text)
