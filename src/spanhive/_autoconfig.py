"""The ``opentelemetry_configurator`` entry point, so zero-code setup needs no other distro.

``opentelemetry-instrument`` only builds an SDK ``TracerProvider`` (and reads ``OTEL_TRACES_EXPORTER``) when
some configurator is installed; without this one, ``OTEL_TRACES_EXPORTER=spanhive`` would silently do
nothing unless ``opentelemetry-distro`` happened to be installed too. It is the SDK's own configurator;
exporters, sampler and resource all come from the standard ``OTEL_*`` variables. When spanhive is among the
trace exporters it also adds the ``SessionSpanProcessor``, so sessions from baggage (``spanhive.session()``,
or a caller's W3C ``baggage`` header) work with no code.

With ``OTEL_TRACES_EXPORTER`` unset, spanhive is the trace exporter, as ``opentelemetry-distro`` makes OTLP
its default: the SDK alone would install a provider that exports nothing, and say nothing.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from spanhive import environment_variables as ev
from spanhive._configure import configure

logger = logging.getLogger("spanhive")

TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
_OTLP_SETTINGS = {
    "ENDPOINT": ev.SPANHIVE_ENDPOINT,
    "HEADERS": ev.SPANHIVE_HEADERS,
    "TIMEOUT": ev.SPANHIVE_EXPORT_TIMEOUT_SECONDS,
    "COMPRESSION": ev.SPANHIVE_COMPRESSION,
}
"""OTLP's exporter settings, and spanhive's setting for the same job."""


class Configurator(_OTelSDKConfigurator):
    """Builds the SDK from ``OTEL_*`` environment variables, exactly as OpenTelemetry's own distro does."""

    def _configure(self, **kwargs: Any) -> None:
        if not os.environ.get(TRACES_EXPORTER, "").strip():
            os.environ[TRACES_EXPORTER] = "spanhive"
        names = [name.strip() for name in os.environ[TRACES_EXPORTER].split(",")]
        if "spanhive" in names:
            _warn_about_otlp_settings(names)
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]
        provider = trace.get_tracer_provider()
        if "spanhive" in names and callable(getattr(provider, "add_span_processor", None)):
            configure(tracer_provider=provider)  # finds the exporter already there: adds the session processor


def _warn_about_otlp_settings(exporters: list[str]) -> None:
    """One warning when ``OTEL_EXPORTER_OTLP_*`` settings are set but no OTLP exporter will read them. They
    are not taken as spanhive's: an OTLP endpoint is a collector's ``/v1/traces``, not the sessions API, and
    its headers are that collector's credentials."""
    if any(name.startswith("otlp") for name in exporters):
        return  # an OTLP exporter runs next to spanhive: the settings are its own
    unread = [
        (f"OTEL_EXPORTER_OTLP{part}_{setting}", ours)
        for setting, ours in _OTLP_SETTINGS.items()
        for part in ("", "_TRACES")
        if os.environ.get(f"OTEL_EXPORTER_OTLP{part}_{setting}")
    ]
    if unread:
        logger.warning(
            "spanhive: %s set, but %s=%s does not read OTLP's settings; spanhive's are %s",
            ", ".join(name for name, _ in unread) + (" is" if len(unread) == 1 else " are"),
            TRACES_EXPORTER,
            os.environ[TRACES_EXPORTER],
            ", ".join(dict.fromkeys(ours for _, ours in unread)),
        )
