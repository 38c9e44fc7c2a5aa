"""A client in another language: the OpenTelemetry JavaScript SDK (``@opentelemetry/sdk-trace-node`` with
its OTLP/HTTP exporters, JSON and protobuf; pinned in ``tests/js/package.json``) sends a small agent turn to
``spanhive serve``, which stores it as one session. Needs Node.js and ``npm ci --prefix tests/js``, which
``.ci/run`` does; without them the test is skipped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from spanhive import _ids
from spanhive.server import IngestServer

_JS = Path(__file__).parent / "js"
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (_JS / "node_modules" / "@opentelemetry" / "sdk-trace-node").is_dir(),
    reason="needs Node.js and `npm ci --prefix tests/js`",
)


@pytest.mark.parametrize("protocol", ["json", "protobuf"])
def test_the_javascript_sdk_sends_a_session(server: IngestServer, protocol: str) -> None:
    done = subprocess.run(
        ["node", str(_JS / "send_trace.js"), server.url + "/v1/traces", protocol],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    server.server_close()  # what the server held for the trace's root is stored now, if it was not yet
    (session,) = server.store.list_sessions()
    assert session["session_id"] == _ids.session_id_for("js-session-1")[0]
    assert session["session_name"] == "checkout"
    events = {e["event_name"]: e for e in server.store.events(session["session_id"])}
    assert sorted(events) == ["ChatCompletion", "checkout"]
    root, llm = events["checkout"], events["ChatCompletion"]
    assert root["project"] == "js-shop"  # the resource's service.name
    assert root["inputs"] == {"input": "buy 2 apples"}
    assert root["outputs"] == {"output": "done"}
    assert llm["event_type"] == "model"
    assert llm["parent_id"] == root["event_id"]
    assert llm["error"] == "rate limited"
    assert llm["inputs"]["chat_history"] == [{"role": "user", "content": "buy 2 apples"}]
    assert llm["metadata"]["retries"] == 2  # an OTLP intValue, a string in JSON, is an integer again
    assert all(e["user_properties"] == {"user_id": "grace"} for e in events.values())
