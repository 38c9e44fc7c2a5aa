"""spanhive: ship OpenTelemetry traces as HoneyHive-style sessions and events.

>>> import spanhive
>>> provider = spanhive.configure()          # or add SessionExporter to your own provider
>>> with spanhive.session(name="support chat", user_properties={"user_id": "u-1"}):
...     pass                                  # every span started here joins the session
"""

from spanhive._configure import configure
from spanhive._exporter import SessionExporter
from spanhive._flush import flush
from spanhive._session import SessionSpanProcessor, enrich_session, enrich_span, session
from spanhive._version import __version__
from spanhive.exceptions import ConfigError

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
