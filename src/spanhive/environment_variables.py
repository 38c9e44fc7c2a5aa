"""Environment variables spanhive reads.

Each name is a public constant so that tools (and ``opentelemetry-instrument``, through the
``opentelemetry_environment_variables`` entry point) can discover them. A ``SPANHIVE_*`` variable wins over
its HoneyHive ``HH_*`` fallback; an argument given in code wins over both. Units are part of the names.
"""

from __future__ import annotations

SPANHIVE_API_KEY = "SPANHIVE_API_KEY"
"""API key sent as ``Authorization: Bearer <key>``. Fallback: ``HH_API_KEY``."""

SPANHIVE_ENDPOINT = "SPANHIVE_ENDPOINT"
"""Where sessions go: an ``http(s)://`` API base URL or a ``sqlite:`` store URL (``sqlite:///abs/file.db``,
``sqlite:relative.db``; docs/configuration.md#sqlite-urls).

Fallback: ``HH_API_URL``. Default: ``https://api.honeyhive.ai`` when an API key is set, else the embedded
store in the per-user data directory.
"""

SPANHIVE_PROJECT = "SPANHIVE_PROJECT"
"""Project every event is filed under. Fallback: ``HH_PROJECT``. Default: the ``service.name`` resource
attribute, else ``default``."""

SPANHIVE_SOURCE = "SPANHIVE_SOURCE"
"""Source (environment) of the events. Fallback: ``HH_SOURCE``. Default: the ``deployment.environment``
resource attribute, else ``dev``."""

SPANHIVE_SESSION_NAME = "SPANHIVE_SESSION_NAME"
"""Session name when the spans name none. Fallback: ``HH_SESSION_NAME``. Default: the root span's name."""

SPANHIVE_EXPORT_TIMEOUT_SECONDS = "SPANHIVE_EXPORT_TIMEOUT_SECONDS"
"""Deadline in seconds for one ``export()`` call, retries and backoff included.
Fallback: ``HH_EXPORT_TIMEOUT_SECONDS``. Default: 10."""

SPANHIVE_MAX_RETRY_AFTER_SECONDS = "SPANHIVE_MAX_RETRY_AFTER_SECONDS"
"""The longest pause a server's ``Retry-After`` can impose, in seconds; a longer one is cut to this, so a
wrong header cannot silence a healthy backend for a day. Default: 300."""

SPANHIVE_TRACE_HOLD_SECONDS = "SPANHIVE_TRACE_HOLD_SECONDS"
"""How long the spans of a trace wait for the trace's local root to end, so that the whole trace joins one
session (``docs/sessions.md``); ``0`` sends each batch as it comes. Default: 10."""

SPANHIVE_SERVE_API_KEY = "SPANHIVE_SERVE_API_KEY"
"""The key ``spanhive serve`` and ``spanhive relay`` ask of their clients (``Authorization: Bearer``, or the
viewer's sign-in). Unset: no key (loopback only, by default). Never taken from the command line, where
other users of the machine can read it."""

SPANHIVE_CAPTURE_CONTENT = "SPANHIVE_CAPTURE_CONTENT"
"""``false`` withholds what people wrote and models answered: every text in ``inputs`` and ``outputs``
(chat messages included) becomes ``[withheld]``, while the structure (roles, message and tool-call counts),
tokens, costs, timings and errors are kept. As OpenInference's ``OPENINFERENCE_HIDE_INPUTS`` does. Default:
``true``."""

SPANHIVE_TRUST_BAGGAGE = "SPANHIVE_TRUST_BAGGAGE"
"""``false``: ``SessionSpanProcessor`` ignores a session and user that arrive in W3C baggage from another
process (a caller could set any user properties), keeping only what ``spanhive.session()`` set in this one.
Default: ``true``, so that services propagating a session join it."""

SPANHIVE_COMPRESSION = "SPANHIVE_COMPRESSION"
"""Request body compression: ``gzip`` (default) or ``none``."""

SPANHIVE_HEADERS = "SPANHIVE_HEADERS"
"""Extra HTTP headers in the OpenTelemetry format ``key=value,key2=value2`` (values URL-encoded)."""

SPANHIVE_SPOOL_DIR = "SPANHIVE_SPOOL_DIR"
"""Directory of the durable on-disk spool for requests that could not be delivered; ``off`` disables it.
Default: ``spool/<endpoint digest>`` in the per-user state directory (one spool per destination)."""

SPANHIVE_SPOOL_MAX_BYTES = "SPANHIVE_SPOOL_MAX_BYTES"
"""Byte cap of the spool directory; past it the oldest requests are dropped and counted. Default: 256 MiB."""

SPANHIVE_MAX_VALUE_CHARS = "SPANHIVE_MAX_VALUE_CHARS"
"""Longest string value kept whole in a record, in characters; longer ones are cut with a visible
``…[truncated N chars]`` marker and counted. Default: 1048576 (1 MiB of text)."""

SPANHIVE_MAX_REQUEST_BYTES = "SPANHIVE_MAX_REQUEST_BYTES"
"""Largest request body, in bytes of JSON before compression; bigger batches are split. Default: 5242880."""

SPANHIVE_FLUSH_ON_SIGTERM = "SPANHIVE_FLUSH_ON_SIGTERM"
"""``true`` installs a SIGTERM handler that flushes spanhive (bounded by the export deadline) and then runs
the handler that was there before. Default: false."""

SPANHIVE_LOG_LEVEL = "SPANHIVE_LOG_LEVEL"
"""Level of the ``spanhive`` logger (``debug``, ``info``, ``warning``, ``error``); when set and logging is not
configured, spanhive's messages are printed to stderr. Default: unset (warnings reach stderr through Python's
last-resort handler)."""

SPANHIVE_QUIET = "SPANHIVE_QUIET"
"""``true`` hides the one line a process prints to stderr at its first export, saying where sessions go (the
store's path, or the endpoint and project). Default: false."""

SPANHIVE_DISABLED = "SPANHIVE_DISABLED"
"""Kill switch: ``true`` turns the exporter into a no-op. Fallback: ``HH_DISABLE_TRACING``. Default: false."""

HH_API_KEY = "HH_API_KEY"
"""HoneyHive's name for the API key; read when ``SPANHIVE_API_KEY`` is unset."""

HH_API_URL = "HH_API_URL"
"""HoneyHive's name for the API base URL; read when ``SPANHIVE_ENDPOINT`` is unset."""

HH_PROJECT = "HH_PROJECT"
"""HoneyHive's name for the project; read when ``SPANHIVE_PROJECT`` is unset."""

HH_SOURCE = "HH_SOURCE"
"""HoneyHive's name for the source; read when ``SPANHIVE_SOURCE`` is unset."""

HH_SESSION_NAME = "HH_SESSION_NAME"
"""HoneyHive's name for the session name; read when ``SPANHIVE_SESSION_NAME`` is unset."""

HH_EXPORT_TIMEOUT_SECONDS = "HH_EXPORT_TIMEOUT_SECONDS"
"""HoneyHive's name for the export deadline; read when ``SPANHIVE_EXPORT_TIMEOUT_SECONDS`` is unset."""

HH_DISABLE_TRACING = "HH_DISABLE_TRACING"
"""HoneyHive's kill switch; read when ``SPANHIVE_DISABLED`` is unset."""
