"""``spanhive serve`` and ``spanhive relay``: the local HoneyHive-compatible ingest server, its session
viewer, and the OTLP relay.

The server runs the whole pipeline, so it is loaded when first used (``IngestServer``, ``is_loopback``), not
with this package: ``spanhive sessions`` and the other commands that read the store start at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spanhive.server._defaults import DEFAULT_HOST, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, DEFAULT_RELAY_PORT

if TYPE_CHECKING:
    from spanhive.server._app import IngestServer, is_loopback

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PORT",
    "DEFAULT_RELAY_PORT",
    "IngestServer",
    "is_loopback",
]


def __getattr__(name: str) -> Any:
    if name in ("IngestServer", "is_loopback"):
        from spanhive.server import _app  # noqa: PLC0415 - loaded when first used (see the module's docstring)

        return getattr(_app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
