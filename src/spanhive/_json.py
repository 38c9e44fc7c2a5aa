"""JSON in and out of records, with the same result whichever encoder runs.

Encoding is most of an exporter's cost after mapping. The standard library's C encoder is always there;
``orjson`` (a dependency on CPython) encodes the same records about ten times faster, so it is used where
installed, for records known to hold nothing it would write differently: JSON primitives only, every float
finite (it writes NaN as ``null``, where spanhive writes the string ``"nan"``). Anything else, and anything
orjson refuses (integers past 64 bits, unpaired surrogates), goes through the standard library.

Parsing gives what the standard library gives, which keeps big integers exact; non-finite numbers in parsed
text (``NaN``, ``Infinity``, ``1e400``) become the strings spanhive writes for them, so parsed data is always
plain. Compiled, orjson parses first; what it would read differently goes to the standard library.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Final, Union

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


_COMPACT_BELOW: Final = 64 * 1024
"""orjson hands over the buffer it wrote into, a page or more whatever the length of the text, so every small
result kept alive holds (and faults in) pages of its own. A batch keeps hundreds until its body is joined:
copied to their length they share pages: 5x cheaper than the faults, measured (``benchmarks/README.md``).
Above this size a copy costs more than the slack it saves."""


_orjson_encode: Final[Callable[[Any], bytes]] = dumps if _orjson is None else _orjson.dumps
"""orjson's encoder, read off its module once: compiled, that read is a Python attribute lookup."""


def _orjson_dumps(value: Any) -> bytes:
    try:
        encoded = _orjson_encode(value)
    except TypeError:  # JSONEncodeError: a big integer, a surrogate, an unknown type
        return dumps(value)
    return encoded if len(encoded) >= _COMPACT_BELOW else memoryview(encoded).tobytes()


def members(value: dict[str, Any], primitive: bool) -> Union[bytes, memoryview]:
    """``value``'s JSON without its opening brace, to follow members spliced in before it: by
    :func:`dumps_primitive` if ``primitive``, else :func:`dumps`. Cut in the same copy that compacts it."""
    if primitive and dumps_primitive is _orjson_dumps:
        try:
            encoded = _orjson_encode(value)
        except TypeError:
            encoded = dumps(value)
    else:
        encoded = dumps_primitive(value) if primitive else dumps(value)
    return encoded[1:] if len(encoded) < _COMPACT_BELOW else memoryview(encoded)[1:]


dumps_primitive: Callable[[Any], bytes] = dumps if _orjson is None else _orjson_dumps
""":func:`dumps` for values made of JSON primitives only, with finite floats: the fastest encoder installed."""
BACKEND = "json" if _orjson is None else "orjson"
_ORJSON_PARSES = _orjson is not None and not __file__.endswith(".py")
"""Compiled, orjson and the check of its result (:func:`_exact`) take half the standard library's time per
attribute; interpreted, the check alone takes more than the standard library's whole parse."""
_orjson_parses = _ORJSON_PARSES


def use(backend: str) -> str:
    """Switch :func:`dumps_primitive` (and, compiled, :func:`loads`) to ``"orjson"`` or ``"json"`` (the
    standard library); returns the previous one. For comparing the two; the default is the fastest installed."""
    global dumps_primitive, BACKEND, _orjson_parses  # noqa: PLW0603 - the switch this function is
    if backend not in ("json", "orjson") or (backend == "orjson" and _orjson is None):
        raise ValueError(f"JSON backend {backend!r} is not available")
    previous = BACKEND
    dumps_primitive, BACKEND = (_orjson_dumps if backend == "orjson" else dumps), backend
    _orjson_parses = _ORJSON_PARSES and backend == "orjson"
    return previous


def _constant(name: str) -> str:
    return str(float(name))  # NaN, Infinity, -Infinity → "nan", "inf", "-inf", as dumps writes them


def _float(text: str) -> Any:
    number = float(text)
    return number if number - number == 0 else str(number)  # 1e400 → "inf"


_decode = json.JSONDecoder(parse_constant=_constant, parse_float=_float).decode


_EXACT_BELOW = 2.0**63
"""orjson reads an integer literal past 64 bits as a float; a float this large in its result may be one."""


def loads(text: str) -> Any:
    """Parsed JSON with only finite floats (``ValueError`` or ``RecursionError`` for text that is not JSON)."""
    if _orjson_parses:
        return _orjson_loads(text)
    return _decode(text)


def _orjson_loads(text: str) -> Any:
    """:func:`loads` by orjson, which refuses what it would read differently from the standard library (NaN,
    ``1e400``, unpaired surrogates, deep nesting), read then by the standard library; as is a result holding
    a float that may have been an integer past 64 bits, which orjson rounds (:func:`_exact`)."""
    try:
        value = _orjson.loads(text)
    except ValueError:  # orjson.JSONDecodeError
        return _decode(text)
    return value if _exact(value) else _decode(text)


def _exact(value: Any) -> bool:
    """Whether ``value`` holds no float large enough to be an integer orjson rounded (no recursion: a parsed
    value can be as deep as the parser allows; ``isinstance`` narrows, so compiled, each loop is a C loop)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for item in node.values():
                if not isinstance(item, str) and not _exact_leaf(item, stack):
                    return False
        elif isinstance(node, list):
            for item in node:
                if not isinstance(item, str) and not _exact_leaf(item, stack):
                    return False
        elif not _exact_leaf(node, stack):
            return False
    return True


def _exact_leaf(item: Any, stack: list[Any]) -> bool:
    if isinstance(item, float):
        return -_EXACT_BELOW < item < _EXACT_BELOW
    if isinstance(item, (dict, list)):
        stack.append(item)
    return True
