"""The ``opentelemetry_configurator`` entry point, so zero-code setup needs no other distro.

``opentelemetry-instrument`` only builds an SDK ``TracerProvider`` (and reads ``OTEL_TRACES_EXPORTER``) when
some configurator is installed; without this one, ``OTEL_TRACES_EXPORTER=spanhive`` would silently do
nothing unless ``opentelemetry-distro`` happened to be installed too. It is the SDK's own configurator,
unchanged: exporters, sampler and resource all come from the standard ``OTEL_*`` variables.
"""

from __future__ import annotations

from opentelemetry.sdk._configuration import _OTelSDKConfigurator


class Configurator(_OTelSDKConfigurator):
    """Builds the SDK from ``OTEL_*`` environment variables, exactly as OpenTelemetry's own distro does."""
