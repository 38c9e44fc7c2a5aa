"""``spanhive.configure()``: the one-line set-up, safe to call twice and next to ``opentelemetry-instrument``."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Optional

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import Sampler

from spanhive._exporter import SessionExporter
from spanhive._internals import processor_exporter, span_processors
from spanhive._session import SessionSpanProcessor
from spanhive.exceptions import ConfigError

_logger = logging.getLogger(__name__)
_MARK = "_spanhive_configured"


def configure(
    *,
    tracer_provider: Optional[Any] = None,
    batch: bool = True,
    sampler: Optional[Sampler] = None,
    resource: Optional[Resource] = None,
    **exporter_settings: Any,
) -> Any:
    """Send this process's spans to spanhive; returns the tracer provider.

    Uses ``tracer_provider`` if given, else the global SDK provider if one is set (never replacing it), else
    builds one (with ``sampler`` and ``resource``) and sets it globally. Adds the ``SessionSpanProcessor`` and
    a batch (or, with ``batch=False``, simple) processor with a :class:`SessionExporter` built from
    ``exporter_settings`` (the same keywords, same environment fallbacks). A provider already sending to
    spanhive, by an earlier call or by ``OTEL_TRACES_EXPORTER=spanhive``, is returned as it is.
    Raises :class:`~spanhive.ConfigError` for bad arguments.
    """
    if not isinstance(batch, bool):
        raise ConfigError(f"batch={batch!r} is invalid: expected True or False")
    provider = tracer_provider if tracer_provider is not None else _global_sdk_provider()
    if provider is None:
        provider = TracerProvider(sampler=sampler, resource=resource)
        trace.set_tracer_provider(provider)
    elif sampler is not None or resource is not None:
        _logger.info("spanhive: the tracer provider exists already; sampler and resource are left as they are")
    if not callable(getattr(provider, "add_span_processor", None)):
        raise ConfigError(
            f"tracer_provider={provider!r} is invalid: it has no add_span_processor(); spanhive needs the "
            "OpenTelemetry SDK's TracerProvider (opentelemetry.sdk.trace.TracerProvider)"
        )
    if getattr(provider, _MARK, False) or _has_session_exporter(provider):
        _logger.info("spanhive: this tracer provider already sends to spanhive; nothing added")
        if not _has_session_processor(provider):
            provider.add_span_processor(SessionSpanProcessor())
        _mark(provider)
        return provider
    exporter = SessionExporter(**exporter_settings)
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(_batch_processor(exporter) if batch else SimpleSpanProcessor(exporter))
    _mark(provider)
    return provider


QUEUE_MAX_BYTES = 64 * 1024 * 1024
"""What the batch processor's queue may hold, at most, of finished spans waiting for export."""
SPAN_BYTES = 4096
"""A generous size of one finished span in memory (an LLM span with a conversation is 2-4 KiB), which turns
:data:`QUEUE_MAX_BYTES` into the span count the processor's queue is bounded by."""


def _batch_processor(exporter: SessionExporter) -> BatchSpanProcessor:
    """A batch processor whose queue rides out a burst (16k spans, 8 times the SDK's default, about 64 MiB at
    most) while an export is in flight; ``OTEL_BSP_MAX_QUEUE_SIZE`` still wins where it is set."""
    if os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE"):
        return BatchSpanProcessor(exporter)
    return BatchSpanProcessor(exporter, max_queue_size=QUEUE_MAX_BYTES // SPAN_BYTES)


def _global_sdk_provider() -> Optional[Any]:
    provider = trace.get_tracer_provider()
    # The API's default is a proxy (or no-op) provider that cannot take processors: that means "none yet".
    return provider if callable(getattr(provider, "add_span_processor", None)) else None


def _mark(provider: Any) -> None:
    with contextlib.suppress(AttributeError):  # a provider with __slots__: the exporter scan still finds us
        setattr(provider, _MARK, True)


def _has_session_processor(provider: Any) -> bool:
    return any(isinstance(p, SessionSpanProcessor) for p in span_processors(provider))


def _has_session_exporter(provider: Any) -> bool:
    return any(isinstance(processor_exporter(p), SessionExporter) for p in span_processors(provider))
