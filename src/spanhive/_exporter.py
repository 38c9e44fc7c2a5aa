"""``SessionExporter``: runs each batch through the export pipeline (:mod:`spanhive._pipeline`), and owns the
exporter's lifecycle: construction from settings, fork, flush and shutdown."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import requests
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanhive import _config, _registry, _signals
from spanhive._log import limited, logger
from spanhive._pipeline import Hold, prepare_traces, privacy
from spanhive._pipeline.deliver import Delivery, Result
from spanhive._pipeline.drain import Drainer, replay, send_bodies
from spanhive._pipeline.hold import HoldTimer, Released, by_trace
from spanhive._pipeline.map import Defaults
from spanhive._pipeline.sinks import Sink
from spanhive._pipeline.sinks.http import HttpSink
from spanhive._pipeline.sinks.store import StoreSink
from spanhive._records import Mask
from spanhive._retry import Retrier
from spanhive._spool import Spool
from spanhive._stats import Stats
from spanhive.exceptions import ConfigError

_ACCEPTED = frozenset({Result.DELIVERED, Result.SPOOLED})
"""What ``export()`` reports as success: delivered, or durably on disk, to be replayed by this process or the
next (the SDK does nothing more with a failure than log it)."""
RELAY_PROBE_S = 2.0
"""The longest a relay waits between probes of a backend that is down: it holds other people's data."""
_announced = False
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

    What cannot be delivered within the export deadline is kept in a durable on-disk spool and replayed in
    the background, by this process or the next one using the same spool directory.

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
        max_retry_after_s: Optional[float] = None,
        trace_hold_s: Optional[float] = None,
        compression: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        spool_dir: Optional[str | os.PathLike[str]] = None,
        spool_max_bytes: Optional[int] = None,
        max_value_chars: Optional[int] = None,
        max_request_bytes: Optional[int] = None,
        flush_on_sigterm: Optional[bool] = None,
        mask: Optional[Mask] = None,
        capture_content: Optional[bool] = None,
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
            max_retry_after_s=max_retry_after_s,
            trace_hold_s=trace_hold_s,
            compression=compression,
            headers=headers,
            spool_dir=spool_dir,
            spool_max_bytes=spool_max_bytes,
            max_value_chars=max_value_chars,
            max_request_bytes=max_request_bytes,
            flush_on_sigterm=flush_on_sigterm,
            mask=mask,
            capture_content=capture_content,
        )
        settings = self.settings
        _configure_logging(settings.log_level)
        self.stats = Stats()
        """Counters: exported, failed, retried, spooled, replayed, dropped, truncated, redacted…"""
        self._defaults = Defaults(settings.project, settings.source, settings.session_name, settings.max_value_chars)
        self._mask = _content_mask(settings)
        """The user's ``mask``, after content is withheld when ``SPANHIVE_CAPTURE_CONTENT=false``."""
        self._http_session = http_session
        self._lock = threading.Lock()
        self._is_shutdown = False
        self._relaying = False
        self._pid = os.getpid()
        self._stop = threading.Event()
        self._delivery: Optional[Delivery] = None
        self.spool: Optional[Spool] = None
        """The durable spool (``None`` when switched off)."""
        self._drainer: Optional[Drainer] = None
        self._lost_at_flush = 0
        self._hold = Hold(settings.trace_hold_s)
        """Spans of traces whose local root has not ended yet (``docs/sessions.md``)."""
        self._hold_lock = threading.Lock()
        """Guards the hold and the stages that read it (the batch processor's thread, the hold timer, flush)."""
        self._timer = HoldTimer(self._hold, self._hold_lock, self._export_traces, self._stop, "spanhive-hold")
        if settings.disabled:
            logger.info("spanhive: exporter is a no-op (%s)", settings.disabled_reason)
            return
        self._delivery, self.spool, self._drainer = self._build()
        _registry.register(self)
        if settings.flush_on_sigterm:
            _signals.install_sigterm_flush(settings.timeout_s)
        if self._drainer is not None and _has_entries(self._drainer.spool):
            self._drainer.ensure_running()  # what an earlier process left behind goes out now

    def _build(self) -> tuple[Delivery, Optional[Spool], Optional[Drainer]]:
        settings = self.settings
        sink: Sink
        sink = StoreSink(settings) if settings.store_path is not None else HttpSink(settings, self._http_session)
        spool = Spool(settings.spool_dir, settings.spool_max_bytes, self.stats) if settings.spool_dir else None
        delivery = Delivery(
            sink, spool, self.stats, Retrier(stop=self._stop), max_retry_after_s=settings.max_retry_after_s
        )
        return delivery, spool, Drainer(delivery, spool, settings.timeout_s) if spool is not None else None

    def after_fork(self) -> None:
        """In a forked child: fresh locks, stop flag, connections and drainer; the parent's claims stay its own.
        Spans the parent held are the parent's to send."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._hold_lock = threading.Lock()
        self._hold = Hold(self.settings.trace_hold_s)
        self._timer = HoldTimer(self._hold, self._hold_lock, self._export_traces, self._stop, "spanhive-hold")
        if self._delivery is not None and not self._is_shutdown:
            self._delivery, self.spool, self._drainer = self._build()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Run ``spans`` through the pipeline within the export deadline; what fails is spooled. Never raises."""
        if self._pid != os.getpid():  # a fork the at-fork hook did not see (uWSGI, some Celery pools)
            self.after_fork()
        if self._delivery is None or not spans:
            return SpanExportResult.SUCCESS
        try:
            with self._hold_lock:
                if self._is_shutdown:  # nothing may wait now: the batch is kept below, as it is
                    traces = by_trace(spans)
                else:
                    traces = self._hold.add(spans)
                    self._timer.ensure()
        except Exception:  # noqa: BLE001 - the exporter must never raise into the SDK or the app
            logger.exception("spanhive: unexpected error while exporting %d spans", len(spans))
            return SpanExportResult.FAILURE
        return self._export_traces(traces)

    def _export_traces(self, traces: list[Released]) -> SpanExportResult:
        """The stages after the hold, for traces it released."""
        results = self._deliver(traces)
        if results is None or (results and self._is_shutdown):  # after shutdown a batch is kept, not sent
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS if all(r in _ACCEPTED for r in results) else SpanExportResult.FAILURE

    def _deliver(self, traces: list[Released]) -> Optional[list[Result]]:
        """What became of each body made from ``traces`` (``None``: an unexpected error, logged)."""
        delivery = self._delivery
        if delivery is None or not traces:
            return []
        try:
            deadline = time.monotonic() + self.settings.timeout_s
            settings = self.settings
            with self._hold_lock:
                prepared = prepare_traces(
                    traces,
                    self._defaults,
                    settings.max_request_bytes,
                    mask=self._mask,
                    whole_records=delivery.sink.takes_records,
                    hold=self._hold,
                )
                waited, bounded = self._hold.take_counts()
            self.stats.add("held", waited)
            self.stats.add("held_released_by_bound", bounded)
            self._count_truncated(prepared.truncated)
            self.stats.add("redacted", prepared.redacted)
            if not prepared.bodies:
                return []
            self._announce(traces)
            if self._is_shutdown:  # a batch processor still flushing after we stopped: keep it, send nothing
                return [delivery.keep(body, "exporter shut down") for body in prepared.bodies]
            results = send_bodies(delivery, prepared.bodies, deadline)
        except Exception:  # noqa: BLE001 - the exporter must never raise into the SDK or the app
            logger.exception("spanhive: unexpected error while exporting %d spans", sum(len(t.spans) for t in traces))
            return None
        if any(result is not Result.DELIVERED for result in results) and self._drainer is not None:
            self._drainer.ensure_running()
        return results

    def _relay(self, spans: Sequence[ReadableSpan]) -> Optional[list[Result]]:
        """``spanhive relay``'s way in: ``spans`` through every stage but the hold (a relay answers for each
        request before the next arrives), and what became of each body."""
        if self._delivery is None or self._is_shutdown:
            return None
        return self._deliver(by_trace(spans))

    def _as_relay(self) -> None:
        """For ``spanhive relay``, which acknowledges only what is delivered or on disk: a full spool refuses
        new requests rather than drop its oldest, and a backend that is down is probed every few seconds."""
        self._relaying = True
        if self.spool is not None:
            self.spool.evict_oldest = False
        if self._drainer is not None:
            self._drainer.max_backoff_s = RELAY_PROBE_S

    def _release_all(self) -> None:
        """Send every held trace as it stands (flush, shutdown)."""
        with self._hold_lock:
            traces = self._hold.release_all()
        self._export_traces(traces)

    def _count_truncated(self, truncated: int) -> None:
        if truncated:
            self.stats.add("truncated", truncated)
            limited.log(
                logging.WARNING,
                "truncated",
                "spanhive: cut %d values longer than %d characters (SPANHIVE_MAX_VALUE_CHARS)",
                truncated,
                self._defaults.max_value_chars,
            )

    def _announce(self, traces: list[Released]) -> None:
        """Where sessions go, on stderr, once per process (whichever exporter gets there first), so that a
        first run is never silent about it; ``SPANHIVE_QUIET`` hides it. Not for ``spanhive relay``, which
        prints its own banner and forwards what many apps send."""
        global _announced  # once per process, whichever exporter gets there first
        if _announced or self._relaying or self.settings.quiet:
            return
        with _announce_lock:
            first, _announced = not _announced, True
        if not first:
            return
        settings = self.settings
        if settings.store_path is not None:
            where = (
                f"the local store {settings.store_path} (`spanhive sessions` lists them, `spanhive serve` shows them)"
            )
        else:
            project, why = _project_of(settings, traces[0].spans[0] if traces and traces[0].spans else None)
            where = f"{_config.shown(settings.endpoint)}, project {project!r} ({why})"
        print(f"spanhive: sending sessions to {where}; SPANHIVE_QUIET=true hides this line", file=sys.stderr)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Send the spans held for their trace's root, then replay the spool, within ``timeout_millis``;
        ``True`` only when nothing is left waiting and no event handed over since the last flush was lost
        (dropped, rejected or quarantined).
        """
        if self._is_shutdown:
            return False
        self._release_all()
        spool, delivery = self.spool, self._delivery
        if delivery is None:
            return True
        if spool is None:
            return self._nothing_lost_since_flush(delivery)
        deadline = time.monotonic() + timeout_millis / 1000
        drained = False
        while time.monotonic() < deadline:
            claim = spool.claim()
            if claim is None:
                if spool.idle():
                    drained = True
                    break
                time.sleep(0.02)  # a drainer is sending one right now: its outcome decides
                continue
            left = min(deadline, time.monotonic() + self.settings.timeout_s)
            if replay(delivery, claim, left, retry=True) is Result.FAILED:
                break  # the sink is down: what is left stays spooled, for the drainer
        else:
            drained = spool.idle()
        return self._nothing_lost_since_flush(delivery) and drained

    def _nothing_lost_since_flush(self, delivery: Delivery) -> bool:
        lost = delivery.lost()
        clean, self._lost_at_flush = lost == self._lost_at_flush, lost
        return clean

    def shutdown(self, timeout_millis: float = 30000) -> None:
        """Stop: interrupt any backoff (the batch in flight is spooled), stop replaying, release connections.

        Spans still held for their trace's root are sent first. Safe to call more than once; returns within
        ``timeout_millis``.
        """
        with self._lock:
            if self._is_shutdown:
                return
            self._release_all()
            self._is_shutdown = True
        self._stop.set()
        if self._drainer is not None:
            self._drainer.stop(timeout_millis / 1000)
        if self._delivery is not None:
            self._delivery.close()
        if self.spool is not None and self.spool.usable:
            _write_stats(self.spool, self.stats)
        _registry.unregister(self)


def _content_mask(settings: _config.Settings) -> Optional[Mask]:
    if settings.capture_content:
        return settings.mask
    user = settings.mask

    def withheld(record: dict[str, Any]) -> Optional[dict[str, Any]]:
        privacy.withhold_content(record)
        return user(record) if user is not None else None

    return withheld


def _has_entries(spool: Spool) -> bool:
    try:
        return spool.directory.is_dir() and any(p.name.endswith(".req") for p in spool.directory.iterdir())
    except OSError:
        return False


STATS_FILES_KEPT = 16
"""Counters files of past processes kept for ``spanhive doctor``: the newest ones; older ones are deleted."""


def _write_stats(spool: Spool, stats: Stats) -> None:
    """Leave this process's counters where ``spanhive doctor`` looks for them, and only the last few
    processes' (one file per process would pile up forever)."""
    try:
        path = spool.directory / f"stats-{os.getpid()}.json"
        path.write_text(json.dumps({"pid": os.getpid(), "time": time.time(), "counters": stats.snapshot()}))
        kept = sorted(spool.directory.glob("stats-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[STATS_FILES_KEPT:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def _project_of(settings: _config.Settings, span: Optional[ReadableSpan]) -> tuple[str, str]:
    """The project a span's events go to, and what chose it (as the mapping does: the setting, else the
    resource's ``service.name``, else ``default``)."""
    if settings.project:
        return settings.project, "SPANHIVE_PROJECT or project="
    resource = getattr(span, "resource", None)
    name = resource.attributes.get("service.name") if resource is not None else None
    if isinstance(name, str) and name and not name.startswith("unknown_service"):
        return name, "from service.name"
    return "default", "set SPANHIVE_PROJECT or OTEL_SERVICE_NAME to choose one"


_LOG_HANDLER: Optional[logging.Handler] = None


def _configure_logging(level: Optional[int]) -> None:
    """``SPANHIVE_LOG_LEVEL``: set the level, and print to stderr if the application configured no logging."""
    global _LOG_HANDLER  # noqa: PLW0603 - one handler per process
    if level is None:
        return
    logger.setLevel(level)
    if _LOG_HANDLER is None and not logger.handlers and not logging.getLogger().handlers:
        _LOG_HANDLER = logging.StreamHandler(sys.stderr)
        _LOG_HANDLER.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(_LOG_HANDLER)
