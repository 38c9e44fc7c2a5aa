"""Where ``spanhive serve`` and ``spanhive relay`` listen, and how much they take, unless told otherwise."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_RELAY_PORT = 4318
"""OTLP/HTTP's own port, so that an SDK's or the Collector's default endpoint reaches a relay."""
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024  # bytes, compressed or not, after decompression too
