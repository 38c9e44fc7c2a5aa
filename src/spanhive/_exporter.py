"""``SessionExporter``: maps, groups, encodes and sends; each of those lives in its own module."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import requests
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanhive import _config
from spanhive._delivery import HttpSink, Sink, StoreSink
from spanhive._encode import encode_batch
from spanhive._log import limited, logger
from spanhive._privacy import Mask
from spanhive._retry import Retrier
from spanhive._stats import Stats
from spanhive.exceptions import ConfigError
from spanhive.mapping import Defaults, group_sessions, map_span_safely

_announced_store = False
_announce_lock = threading.Lock()


def _resolve_safely(**arguments: Any) -> _config.Settings:
    """Resolve settings; only a bad *argument* may raise. Anything else turns the exporter off, logged."""
    try:
        return _config.resolve(**arguments)
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001 - e.g. no home directory: auto-instrumentation must survive it
        logger.exception("spanhive: exporter disabled: could not resolve its configuration")
        return _config.Settings(endpoint="", disabled=True, disabled_reason="configuration failed")


class SessionExporter(SpanExporter):
    """An OpenTelemetry ``SpanExporter`` that ships spans as HoneyHive-style sessions and events.

    Every argument is optional; unset ones come from ``SPANHIVE_*`` (then ``HH_*``) environment variables,
    then defaults (see ``docs/configuration.md``). With no API key and no endpoint, sessions go to an
    embedded SQLite store that ``spanhive sessions`` reads. A bad argument raises
    :class:`~spanhive.ConfigError`; a bad environment value is logged and skipped, never raised, so the
    exporter is safe to build from ``OTEL_TRACES_EXPORTER=spanhive``.

    ``http_session`` lets callers bring their own ``requests.Session`` (proxies, mTLS, custom auth).
    """

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        endpoint: Optional[str] = None,
        project: Optional[str] = None,
        source: Optional[str] = None,
        session_name: Optional[str] = None,
        timeout_s: Optional[float] = None,
        compression: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        spool_dir: Optional[str | os.PathLike[str]] = None,
        spool_max_bytes: Optional[int] = None,
        max_value_chars: Optional[int] = None,
        mask: Optional[Mask] = None,
        http_session: Optional[requests.Session] = None,
    ) -> None:
        if http_session is not None and not isinstance(http_session, requests.Session):
            raise ConfigError(f"http_session={http_session!r} is invalid: expected a requests.Session")
        self.settings = _resolve_safely(
            api_key=api_key,
            endpoint=endpoint,
            project=project,
            source=source,
            session_name=session_name,
            timeout_s=timeout_s,
            compression=compression,
            headers=headers,
            spool_dir=spool_dir,
            spool_max_bytes=spool_max_bytes,
            max_value_chars=max_value_chars,
            mask=mask,
        )
        settings = self.settings
        self._defaults = Defaults(settings.project, settings.source, settings.session_name, settings.max_value_chars)
        self.stats = Stats()
        self._stop = threading.Event()
        self._shutdown_lock = threading.Lock()
        self._is_shutdown = False
        self._sink: Optional[Sink] = None
        if settings.disabled:
            logger.info("spanhive: exporter is a no-op (%s)", settings.disabled_reason)
        elif settings.store_path is not None:
            self._sink = StoreSink(settings)
        else:
            factory = (lambda: http_session) if http_session is not None else requests.Session
            self._sink = HttpSink(settings, Retrier(stop=self._stop), factory)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Map, group and deliver ``spans`` within the export deadline. Never raises."""
        if self._is_shutdown:
            limited.log(logging.WARNING, "after-shutdown", "spanhive: export called after shutdown; dropped")
            return SpanExportResult.FAILURE
        sink = self._sink
        if sink is None or not spans:
            return SpanExportResult.SUCCESS
        try:
            deadline = time.monotonic() + self.settings.timeout_s
            defaults = self._defaults
            mapped = [map_span_safely(span, defaults) for span in spans]
            truncated = sum(pair[1].truncated for pair in mapped if pair is not None)
            if truncated:
                self.stats.add("truncated", truncated)
                limited.log(
                    logging.WARNING,
                    "truncated",
                    "spanhive: cut %d values longer than %d characters (SPANHIVE_MAX_VALUE_CHARS)",
                    truncated,
                    defaults.max_value_chars,
                )
            groups = group_sessions(mapped, defaults)
            if not groups:
                return SpanExportResult.SUCCESS
            batch = encode_batch(groups, self.settings.mask)
            self.stats.add("redacted", batch.redacted)
            self._announce()
            outcome = sink.send(batch, deadline)
        except Exception:  # noqa: BLE001 - the exporter must never raise into the SDK or the app
            logger.exception("spanhive: unexpected error while exporting %d spans", len(spans))
            return SpanExportResult.FAILURE
        if outcome.delivered:
            self.stats.add("exported", len(spans))
            return SpanExportResult.SUCCESS
        self.stats.add("failed", len(spans))
        limited.log(
            logging.WARNING,
            f"send-{outcome.reason}",
            "spanhive: %d spans not delivered (%s after %d attempts): %s",
            len(spans),
            outcome.reason,
            outcome.attempts,
            outcome.last.detail,
        )
        return SpanExportResult.FAILURE

    def _announce(self) -> None:
        global _announced_store  # noqa: PLW0603 - once per process, whichever exporter gets there first
        if self.settings.store_path is None or _announced_store:
            return
        with _announce_lock:
            if not _announced_store:
                _announced_store = True
                logger.info(
                    "spanhive: no API key or endpoint configured; writing sessions to %s "
                    "(list them with `spanhive sessions`)",
                    self.settings.endpoint,
                )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered between exports, so there is nothing to flush."""
        return not self._is_shutdown

    def shutdown(self, timeout_millis: float = 30000) -> None:
        """Stop: interrupt any backoff in progress and release connections. Safe to call more than once."""
        with self._shutdown_lock:
            if self._is_shutdown:
                return
            self._is_shutdown = True
        self._stop.set()
        if self._sink is not None:
            self._sink.close()
