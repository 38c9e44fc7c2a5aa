"""The examples run as users run them: as scripts in a fresh process, with no configuration."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from spanhive.store import Store

ROOT = Path(__file__).resolve().parent.parent


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANHIVE_", "HH_", "PYTEST_"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return env


def test_quickstart_lands_in_the_embedded_store_and_the_cli_reads_it(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        env=env, check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    db = tmp_path / "data" / "spanhive" / "spanhive.db"
    assert f"Stored in {db}:" in out
    assert re.search(r"model\s+openai\.chat", out)
    assert "ERROR: ConnectionError: SMTP server" in out
    session_id = re.search(r"spanhive show ([0-9a-f-]{36})", out)
    assert session_id is not None

    cli = [sys.executable, "-m", "spanhive"]
    listing = subprocess.run([*cli, "sessions"], env=env, check=True, capture_output=True, text=True).stdout
    assert session_id.group(1) in listing
    assert re.search(r"answer_question\s+dev\s+.*\s4\s+1$", listing.splitlines()[1])
    shown = subprocess.run(
        [*cli, "show", session_id.group(1)], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert "send_followup_email" in shown
    assert "ERROR: ConnectionError" in shown


def test_configure_sessions_example(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "configure_sessions.py")],
        env=clean_env(tmp_path), check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    session_id = re.search(r"session ([0-9a-f-]{36}) delivered: True", out)
    assert session_id is not None
    stored = Store(tmp_path / "data" / "spanhive" / "spanhive.db", readonly=True).get_session(session_id.group(1))
    assert stored is not None
    assert (stored["session_name"], stored["event_count"]) == ("hotel booking", 5)
    assert (stored["user_properties"], stored["feedback"]) == ({"user_id": "guest-7"}, {"rating": 5})
    assert stored["metadata"]["channel"] == "web"
    assert len({e["metadata"]["trace_id"] for e in stored["events"]}) == 3  # three traces, one session
    assert "Name     hotel booking" in out  # the CLI's view, printed by the example


def test_zero_code_example(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    db = tmp_path / "zero.db"
    env.update(OTEL_TRACES_EXPORTER="spanhive", OTEL_SERVICE_NAME="zero-code-demo", SPANHIVE_ENDPOINT=f"sqlite:///{db}")
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    out = subprocess.run(
        [str(instrument), sys.executable, str(ROOT / "examples" / "zero_code.py")],
        env=env, check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    assert "report built" in out
    (session,) = Store(db, readonly=True).list_sessions()
    assert (session["session_name"], session["project"], session["event_count"]) == (
        "nightly report",
        "zero-code-demo",
        3,
    )
