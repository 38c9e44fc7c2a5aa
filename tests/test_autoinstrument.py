"""Zero-code: ``OTEL_TRACES_EXPORTER=spanhive opentelemetry-instrument python app.py`` with env vars only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from opentelemetry.sdk._configuration import _import_exporters

import spanhive
from spanhive.store import Store
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
    result = _instrument(
        app,
        OTEL_TRACES_EXPORTER="spanhive",
        OTEL_SERVICE_NAME="zero-code-app",
        SPANHIVE_ENDPOINT=capture.url,
        SPANHIVE_API_KEY="zero-code-key",
        SPANHIVE_SOURCE="ci",
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


def _instrument(app: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """``opentelemetry-instrument python app`` with only ``settings`` of the OTEL_/SPANHIVE_/HH_ variables."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "SPANHIVE_", "HH_", "PYTEST_"))
    }
    env.update(settings)
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    return subprocess.run(
        [str(instrument), sys.executable, str(app)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=app.parent,
    )


def test_without_otel_traces_exporter_spanhive_is_the_exporter_and_says_where_sessions_go(tmp_path: Path) -> None:
    """Unset, the SDK alone installed a provider that exported nothing and said nothing; spanhive's
    configurator makes itself the default, as opentelemetry-distro does with OTLP."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    db = tmp_path / "zero.db"
    result = _instrument(app, SPANHIVE_ENDPOINT=f"sqlite:{db.name}", OTEL_SERVICE_NAME="zero-code-app")
    assert result.returncode == 0, result.stderr
    assert f"spanhive: sending sessions to the local store {db} " in result.stderr  # relative to the app's directory
    store = Store(db, readonly=True)
    (session,) = store.list_sessions()
    assert sorted(e["event_name"] for e in store.events(session["session_id"])) == ["handle_request", "lookup"]
    store.close()


def test_the_first_export_says_where_sessions_go_once(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP + APP)  # two exports
    db = tmp_path / "zero.db"
    result = _instrument(app, OTEL_TRACES_EXPORTER="spanhive", SPANHIVE_ENDPOINT=f"sqlite:///{db}")
    lines = [line for line in result.stderr.splitlines() if line.startswith("spanhive:")]
    assert lines == [
        f"spanhive: sending sessions to the local store {db} (`spanhive sessions` lists them, `spanhive serve` "
        "shows them); SPANHIVE_QUIET=true hides this line"
    ]
    quiet = _instrument(app, OTEL_TRACES_EXPORTER="spanhive", SPANHIVE_ENDPOINT=f"sqlite:///{db}", SPANHIVE_QUIET="1")
    assert quiet.returncode == 0, quiet.stderr
    assert "spanhive:" not in quiet.stderr


def test_the_line_names_the_endpoint_and_the_project_and_what_chose_it(tmp_path: Path, capture: CaptureServer) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    chosen = _instrument(app, OTEL_TRACES_EXPORTER="spanhive", SPANHIVE_ENDPOINT=capture.url, SPANHIVE_API_KEY="k")
    assert f"spanhive: sending sessions to {capture.url}, project 'default' (set SPANHIVE_PROJECT or " in chosen.stderr
    named = _instrument(
        app, SPANHIVE_ENDPOINT=capture.url, SPANHIVE_API_KEY="k", OTEL_SERVICE_NAME="checkout", HH_PROJECT="shop"
    )
    assert f"spanhive: sending sessions to {capture.url}, project 'shop' (SPANHIVE_PROJECT or " in named.stderr
    assert {e["project"] for e in capture.events()} == {"default", "shop"}


def test_otlp_exporter_settings_beside_spanhive_get_one_warning_naming_spanhives(
    tmp_path: Path, capture: CaptureServer
) -> None:
    """OTEL_EXPORTER_OTLP_* were silently ignored (the data went elsewhere than they say)."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    settings = {
        "OTEL_TRACES_EXPORTER": "spanhive",
        "SPANHIVE_ENDPOINT": capture.url,
        "SPANHIVE_API_KEY": "k",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-token=1",
    }
    result = _instrument(app, **settings)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "OTLP" in line]
    assert warnings == [
        "spanhive: OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_HEADERS are set, but "
        "OTEL_TRACES_EXPORTER=spanhive does not read OTLP's settings; "
        "spanhive's are SPANHIVE_ENDPOINT, SPANHIVE_HEADERS"
    ]
    both = _instrument(app, **{**settings, "OTEL_TRACES_EXPORTER": "spanhive,otlp"})  # the OTLP exporter reads them
    assert "does not read OTLP's settings" not in both.stderr
