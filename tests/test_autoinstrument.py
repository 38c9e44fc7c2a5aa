"""Zero-code: ``OTEL_TRACES_EXPORTER=spanhive opentelemetry-instrument python app.py`` with env vars only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from opentelemetry.sdk._configuration import _import_exporters

import spanhive
from tests.capture import CaptureServer

APP = """
from opentelemetry import trace

tracer = trace.get_tracer("zero-code-app")
with tracer.start_as_current_span("handle_request", attributes={"session.id": "ticket-9"}):
    with tracer.start_as_current_span("lookup", attributes={"session.id": "ticket-9"}):
        pass
print("app done")
"""


def test_the_entry_point_names_the_exporter_class() -> None:
    """What the SDK's configurator does with OTEL_TRACES_EXPORTER=spanhive: load a SpanExporter class."""
    traces, _, _ = _import_exporters(["spanhive"], [], [])
    assert traces == {"spanhive": spanhive.SessionExporter}


def test_opentelemetry_instrument_ships_to_the_configured_endpoint(tmp_path: Path, capture: CaptureServer) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "SPANHIVE_", "HH_", "PYTEST_"))
    }
    env.update(
        OTEL_TRACES_EXPORTER="spanhive",
        OTEL_SERVICE_NAME="zero-code-app",
        SPANHIVE_ENDPOINT=capture.url,
        SPANHIVE_API_KEY="zero-code-key",
        SPANHIVE_SOURCE="ci",
    )
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    result = subprocess.run(
        [str(instrument), sys.executable, str(app)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "app done" in result.stdout
    (request,) = capture.requests
    assert request.headers["authorization"] == "Bearer zero-code-key"
    body = request.body
    assert body["single_session"] is True
    assert body["session_properties"]["metadata"] == {"external_session_id": "ticket-9"}
    assert sorted(e["event_name"] for e in body["events"]) == ["handle_request", "lookup"]
    assert {(e["project"], e["source"]) for e in body["events"]} == {("zero-code-app", "ci")}
