"""spanhive: ship OpenTelemetry traces as HoneyHive-style sessions and events.

>>> from opentelemetry.sdk.trace import TracerProvider
>>> from opentelemetry.sdk.trace.export import BatchSpanProcessor
>>> provider = TracerProvider()
>>> provider.add_span_processor(BatchSpanProcessor(SessionExporter()))
"""

from spanhive._exporter import SessionExporter
from spanhive._flush import flush
from spanhive._version import __version__
from spanhive.exceptions import ConfigError

__all__ = ["ConfigError", "SessionExporter", "__version__", "flush"]
