"""HoneyHive's official SDK (``honeyhive``) against ``spanhive serve``: its session start and the spans its
tracer sends over OTLP land as one session. The SDK runs in a process of its own (it sets up global
OpenTelemetry state), talking to a real server over a real socket."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from spanhive.server import IngestServer

_APP = """
import sys
from honeyhive import HoneyHiveTracer, trace

tracer = HoneyHiveTracer.init(api_key="k", server_url=sys.argv[1], session_name="support-run", source="ci")

@trace
def answer(question):
    return {"answer": "42"}

answer("why?")
tracer.enrich_session(metadata={"resolved": True}, feedback={"rating": 4}, metrics={"turns": 1})
tracer.force_flush()
print(tracer.session_id)
"""


@pytest.mark.parametrize("protocol", ["http/json", "http/protobuf"])
def test_the_official_sdk_starts_a_session_and_its_spans_join_it(server: IngestServer, protocol: str) -> None:
    env = {**os.environ, "HH_OTLP_PROTOCOL": protocol}  # the SDK sends OTLP/JSON unless told otherwise
    done = subprocess.run(
        [sys.executable, "-c", _APP, server.url], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "validation error" not in done.stderr.lower()  # the session start's answer is what the SDK needs
    session_id = done.stdout.split()[-1]
    (listed,) = server.store.list_sessions()
    assert listed["session_id"] == session_id
    assert listed["session_name"] == "support-run"
    session = server.store.get_session(session_id)
    assert session is not None
    assert session["metadata"]["resolved"] is True  # enrich_session: PUT /events with the session's id
    assert session["feedback"] == {"rating": 4}
    assert session["metrics"] == {"turns": 1}
    (event,) = server.store.events(session_id)
    assert event["event_name"].endswith("answer")
    assert event["inputs"] == {"question": "why?"}
    assert event["outputs"] == {"result": {"answer": "42"}}
    assert event["source"] == "ci"
    assert event["parent_id"] == session_id
