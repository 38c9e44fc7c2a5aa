"""Secrets are redacted, the user's mask runs, long values are cut and counted, before anything is sent."""

from __future__ import annotations

import gzip
import logging
from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import spanhive
from spanhive._pipeline.privacy import is_sensitive
from tests.capture import CaptureServer
from tests.conftest import make_provider


def export_one(exporter: spanhive.SessionExporter, **attributes: Any) -> None:
    provider = make_provider(exporter)
    with provider.get_tracer("t").start_as_current_span("call", attributes=attributes):
        pass
    provider.shutdown()


@pytest.mark.parametrize(
    ("key", "sensitive"),
    [
        ("authorization", True),
        ("Authorization", True),
        ("x-api-key", True),
        ("http.request.header.authorization", True),
        ("OPENAI_API_KEY", True),
        ("refresh_token", True),
        ("client_secret", True),
        ("password", True),
        ("prompt_tokens", False),
        ("max_tokens", False),
        ("total_tokens", False),
        ("llm.token_count.prompt", False),
        ("session_id", False),
    ],
)
def test_sensitive_keys(key: str, sensitive: bool) -> None:
    assert is_sensitive(key) is sensitive


def test_secrets_never_reach_the_wire(capture: CaptureServer) -> None:
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k")
    export_one(
        exporter,
        **{
            "honeyhive_config.api_key": "sk-live-123",
            "honeyhive_config.model": "gpt-4o",
            "honeyhive_metadata.prompt_tokens": 12,
            "http.request.header.authorization": ("Bearer sk-live-456",),
            "llm.invocation_parameters": '{"temperature": 0, "extra_headers": {"X-Api-Key": "sk-live-789"}}',
        },
    )
    (request,) = capture.requests
    assert b"sk-live" not in gzip.decompress(request.raw)
    event = request.body["events"][0]
    assert event["config"]["api_key"] == "[REDACTED]"
    assert event["config"]["extra_headers"] == {"X-Api-Key": "[REDACTED]"}
    assert event["config"]["model"] == "gpt-4o"
    assert event["metadata"]["http.request.header.authorization"] == "[REDACTED]"
    assert event["metadata"]["prompt_tokens"] == 12
    assert exporter.stats.get("redacted") == 3


def test_the_mask_rewrites_every_record(capture: CaptureServer) -> None:
    seen: list[str] = []

    def mask(record: dict[str, Any]) -> dict[str, Any]:
        seen.append("event" if "event_id" in record else "session")
        record["inputs"] = dict.fromkeys(record["inputs"], "***")
        return record

    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", mask=mask)
    export_one(exporter, **{"honeyhive_inputs.email": "ada@example.com"})
    body = capture.bodies()[0]
    assert body["events"][0]["inputs"] == {"email": "***"}
    assert body["session_properties"]["inputs"] == {"email": "***"}
    assert sorted(seen) == ["event", "session"]


def test_a_failing_mask_withholds_content_instead_of_leaking_it(
    capture: CaptureServer, caplog: pytest.LogCaptureFixture
) -> None:
    def mask(record: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("boom")

    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", mask=mask)
    with caplog.at_level(logging.WARNING, logger="spanhive"):
        export_one(exporter, **{"honeyhive_inputs.email": "ada@example.com"})
    raw = gzip.decompress(capture.requests[0].raw)
    assert b"ada@example.com" not in raw
    event = capture.bodies()[0]["events"][0]
    assert event["inputs"] == {}
    assert event["metadata"]["mask_error"] == "KeyError: 'boom'"
    assert "mask function raised" in caplog.text


def test_long_values_are_cut_counted_and_logged(capture: CaptureServer, caplog: pytest.LogCaptureFixture) -> None:
    exporter = spanhive.SessionExporter(endpoint=capture.url, api_key="k", max_value_chars=100)
    with caplog.at_level(logging.WARNING, logger="spanhive"):
        export_one(exporter, **{"honeyhive_inputs.document": "y" * 250})
    assert capture.bodies()[0]["events"][0]["inputs"]["document"] == "y" * 100 + "…[truncated 150 chars]"
    assert exporter.stats.get("truncated") == 1
    assert "SPANHIVE_MAX_VALUE_CHARS" in caplog.text


def test_dropped_attributes_are_reported_with_the_setting_to_raise(
    capture: CaptureServer, caplog: pytest.LogCaptureFixture
) -> None:
    provider = TracerProvider(span_limits=SpanLimits(max_attributes=2))
    provider.add_span_processor(SimpleSpanProcessor(spanhive.SessionExporter(endpoint=capture.url, api_key="k")))
    with caplog.at_level(logging.WARNING, logger="spanhive"):
        with provider.get_tracer("t").start_as_current_span("long chat", attributes={f"a{i}": i for i in range(5)}):
            pass
    provider.shutdown()
    assert capture.bodies()[0]["events"][0]["metadata"]["otel.dropped_attributes"] == 3
    assert "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT" in caplog.text
