"""spanhive: ship OpenTelemetry traces as HoneyHive-style sessions and events.

>>> import spanhive
>>> provider = spanhive.configure()          # or add SessionExporter to your own provider
>>> with spanhive.session(name="support chat", user_properties={"user_id": "u-1"}):
...     pass                                  # every span started here joins the session

The public names load on first use, so that ``import spanhive`` (and the ``spanhive`` command that reads the
local store) does not pay for the exporter's dependencies until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from spanhive._version import __version__
from spanhive.exceptions import ConfigError

if TYPE_CHECKING:
    from spanhive._configure import configure
    from spanhive._exporter import SessionExporter
    from spanhive._flush import flush
    from spanhive._session import SessionSpanProcessor, enrich_session, enrich_span, session

_HOMES = {
    "configure": "spanhive._configure",
    "SessionExporter": "spanhive._exporter",
    "flush": "spanhive._flush",
    "SessionSpanProcessor": "spanhive._session",
    "enrich_session": "spanhive._session",
    "enrich_span": "spanhive._session",
    "session": "spanhive._session",
}

__all__ = [
    "ConfigError",
    "SessionExporter",
    "SessionSpanProcessor",
    "__version__",
    "configure",
    "enrich_session",
    "enrich_span",
    "flush",
    "session",
]


def __getattr__(name: str) -> Any:
    """A public name, from its module, the first time it is asked for; a submodule (``spanhive._exporter``)
    likewise, as ``import spanhive`` used to load them all."""
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
