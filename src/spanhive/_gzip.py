"""gzip bodies from the fastest deflate installed, the same standard gzip (RFC 1952) whichever writes it.

Compressing is most of what a gzip export adds to a plain one, and zlib is slow at the levels that keep the
bytes down. libdeflate (the ``deflate`` package, the ``fast`` extra) writes the same gzip for less CPU: at its
level 4, 35-45 % less than zlib's level 4 on agent spans, for 2-3 % fewer bytes (``python -m
benchmarks.gzip_levels``).
ISA-L (``isal``) is faster still, but at its densest level sends 13–15 % more bytes than zlib on LLM spans,
more than the bytes target allows. Every writer here puts no timestamp in the header, so a body spooled and
sent again is byte for byte the one first sent.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable

ZLIB_LEVEL = 4  # levels 1-3 cost 10-25 % more bytes on LLM spans, 5-6 up to 2.5x the CPU
DEFLATE_LEVEL = 4  # libdeflate's: 10-20 % less CPU than its 5 on LLM spans for 1.5 % more bytes


def _zlib(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=ZLIB_LEVEL, mtime=0)


WRITERS: dict[str, Callable[[bytes], bytes]] = {"zlib": _zlib}
"""The deflate implementations installed, by name."""

try:
    import deflate as _libdeflate
except ImportError:  # the optional extra is not installed
    pass
else:

    def _deflate(data: bytes) -> bytes:
        return bytes(_libdeflate.gzip_compress(data, DEFLATE_LEVEL))  # it returns a bytearray

    WRITERS["deflate"] = _deflate

BACKEND = "deflate" if "deflate" in WRITERS else "zlib"
"""The implementation :func:`compress` uses."""
_writer = WRITERS[BACKEND]


def compress(data: bytes) -> bytes:
    """``data`` as a gzip member, from :data:`BACKEND`."""
    return _writer(data)


def decompress(data: bytes) -> bytes:
    return gzip.decompress(data)


def use(backend: str) -> str:
    """Switch :func:`compress` to another installed implementation; returns the previous one. For comparing
    them (``benchmarks/``); the default is the fastest installed."""
    global BACKEND, _writer
    if backend not in WRITERS:
        raise ValueError(f"gzip backend {backend!r} is not available (installed: {', '.join(sorted(WRITERS))})")
    previous, BACKEND, _writer = BACKEND, backend, WRITERS[backend]
    return previous
