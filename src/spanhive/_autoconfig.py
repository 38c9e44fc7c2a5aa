"""The ``opentelemetry_configurator`` entry point, so zero-code setup needs no other distro.

``opentelemetry-instrument`` only builds an SDK ``TracerProvider`` (and reads ``OTEL_TRACES_EXPORTER``) when
some configurator is installed; without this one, ``OTEL_TRACES_EXPORTER=spanhive`` would silently do
nothing unless ``opentelemetry-distro`` happened to be installed too. It is the SDK's own configurator;
exporters, sampler and resource all come from the standard ``OTEL_*`` variables. When spanhive is among the
trace exporters it also adds the ``SessionSpanProcessor``, so sessions from baggage (``spanhive.session()``,
or a caller's W3C ``baggage`` header) work with no code.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from spanhive._configure import configure


class Configurator(_OTelSDKConfigurator):
    """Builds the SDK from ``OTEL_*`` environment variables, exactly as OpenTelemetry's own distro does."""

    def _configure(self, **kwargs: Any) -> None:
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]
        names = [name.strip() for name in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
        provider = trace.get_tracer_provider()
        if "spanhive" in names and callable(getattr(provider, "add_span_processor", None)):
            configure(tracer_provider=provider)  # finds the exporter already there: adds the session processor
