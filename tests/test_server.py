"""``spanhive serve`` over real sockets: every endpoint, every error, gzip, auth, concurrency, fuzzing."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spanhive
from spanhive.server import IngestServer
from spanhive.store import Store
from tests.conftest import make_provider


def event(event_id: str, session_id: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "session_id": session_id, "event_type": "tool", "event_name": event_id,
            "project": "p", "inputs": {}, **fields}  # fmt: skip


def post(server: IngestServer, path: str, body: Any, **kwargs: Any) -> requests.Response:
    return requests.post(server.url + path, json=body, timeout=10, **kwargs)


def test_the_exporter_ships_into_it(server: IngestServer) -> None:
    """A SessionExporter pointed at the server: its sessions are there to read back over the API."""
    provider = make_provider(spanhive.SessionExporter(endpoint=server.url))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("ask", attributes={"honeyhive_inputs.q": "why?"}):
        with tracer.start_as_current_span("lookup"):
            pass
    provider.shutdown()
    (listed,) = server.store.list_sessions()
    session = requests.get(f"{server.url}/v1/sessions/{listed['session_id']}", timeout=10).json()
    assert session["session"]["session_name"] == "ask"
    assert session["session"]["inputs"] == {"q": "why?"}
    (root,) = session["tree"]
    assert (root["event"]["event_name"], [c["event"]["event_name"] for c in root["children"]]) == ("ask", ["lookup"])


def test_events_batch_answers_like_the_api(server: IngestServer) -> None:
    sid = str(uuid.uuid4())
    body = {"events": [event("e1", sid), event("e2", sid)], "is_single_session": True,
            "session_properties": {"session_id": sid, "session_name": "chat"}}  # fmt: skip
    response = post(server, "/events/batch", body)
    assert response.status_code == 200
    assert response.json() == {"success": True, "event_ids": ["e1", "e2"], "session_id": sid}
    again = post(server, "/events/batch", body)  # idempotent: the same ids, nothing duplicated
    assert again.json()["event_ids"] == ["e1", "e2"]
    events = requests.get(f"{server.url}/v1/events", params={"session_id": sid}, timeout=10).json()["events"]
    assert [e["event_id"] for e in events] == ["e1", "e2"]


def test_gzip_bodies(server: IngestServer) -> None:
    sid = str(uuid.uuid4())
    data = gzip.compress(json.dumps({"events": [event("g1", sid)]}).encode())
    response = requests.post(server.url + "/events/batch", data=data, headers={"Content-Encoding": "gzip"}, timeout=10)
    assert response.status_code == 200
    assert server.store.events(sid)[0]["event_id"] == "g1"


def test_post_events_takes_the_event_as_a_json_string(server: IngestServer) -> None:
    response = post(server, "/events", {"event": json.dumps({"event_type": "model", "inputs": {"prompt": "hi"}})})
    assert response.status_code == 200
    answer = response.json()
    (stored,) = server.store.events(answer["session_id"])
    assert (stored["event_id"], stored["parent_id"], stored["event_name"]) == (
        answer["event_id"],
        answer["session_id"],
        "unknown",
    )


def test_session_start_and_model_batch(server: IngestServer) -> None:
    started = post(server, "/session/start", {"session": {"session_name": "eval run", "project": "p"}}).json()
    sid = started["session_id"]
    model = {
        "model": "gpt-4o", "provider": "openai", "session_id": sid, "event_id": "m1",
        "messages": [{"role": "user", "content": "hi"}], "response": {"role": "assistant", "content": "hello"},
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, "cost": 0.001,
        "hyperparameters": {"temperature": 0},
    }  # fmt: skip
    response = post(server, "/events/model/batch", {"model_events": [model]})
    assert response.json()["event_ids"] == ["m1"]
    session = requests.get(f"{server.url}/v1/sessions/{sid}", timeout=10).json()
    (stored,) = session["events"]
    assert session["session"]["session_name"] == "eval run"
    assert stored["config"] == {"model": "gpt-4o", "provider": "openai", "temperature": 0}
    assert stored["inputs"] == {"chat_history": [{"role": "user", "content": "hi"}]}
    assert stored["metadata"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "cost": 0.001}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        pytest.param("POST", "/events/batch", b"{not json", 400, "invalid JSON", id="invalid-json"),
        pytest.param("POST", "/events/batch", b'{"events": [{"event_type": "banana"}]}', 400, "events[0].event_type",
                     id="schema-names-the-field"),
        pytest.param("POST", "/events/batch", b'{"events": "no"}', 400, "events: expected array", id="wrong-type"),
        pytest.param("POST", "/events/batch", b"{}", 400, "missing required field 'events'", id="missing-field"),
        pytest.param("POST", "/events", b'{"event": "{oops"}', 400, "event: not valid JSON", id="bad-event-string"),
        pytest.param("POST", "/events", b'{"event": {"event_type": "tool"}}', 400, "inputs", id="event-needs-inputs"),
        pytest.param("POST", "/nowhere", b"{}", 404, "no route", id="unknown-route"),
        pytest.param("GET", "/events/batch", b"", 405, "not allowed", id="wrong-method"),
        pytest.param("GET", "/v1/sessions/none", b"", 404, "no session", id="unknown-session"),
        pytest.param("GET", "/v1/events", b"", 400, "session_id", id="events-need-a-session"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_json_error(  # noqa: PLR0917 - one argument per table column
    server: IngestServer, method: str, path: str, body: bytes, status: int, says: str
) -> None:
    response = requests.request(method, server.url + path, data=body or None, timeout=10)
    assert response.status_code == status
    assert response.json()["success"] is False
    assert says in response.json()["error"]
    if status == 405:
        assert response.headers["Allow"] == "POST"


def test_bodies_over_the_limit_are_refused(server: IngestServer) -> None:
    big = json.dumps({"events": [event("x", "s", inputs={"pad": "y" * 2_000_000})]}).encode()
    assert requests.post(server.url + "/events/batch", data=big, timeout=10).status_code == 413
    bomb = gzip.compress(b'{"events": [], "pad": "' + b"z" * 5_000_000 + b'"}')
    response = requests.post(server.url + "/events/batch", data=bomb, headers={"Content-Encoding": "gzip"}, timeout=10)
    assert response.status_code == 413  # the limit holds after decompression too


def test_api_key(tmp_path: Path) -> None:
    store = Store(tmp_path / "keyed.db")
    with IngestServer(store, port=0, api_key="s3cret") as keyed:
        body = {"events": [event("k1", "s")]}
        assert post(keyed, "/events/batch", body).status_code == 401
        assert post(keyed, "/events/batch", body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert post(keyed, "/events/batch", body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert requests.get(keyed.url + "/healthz", timeout=10).status_code == 200  # health is public
        assert requests.get(keyed.url + "/", timeout=10).status_code == 401
        assert requests.get(keyed.url + "/?key=s3cret", timeout=10).status_code == 200
    store.close()


def test_eight_concurrent_writers_lose_nothing(server: IngestServer) -> None:
    """8 writers post 10k events between them, at the same time: every one is stored."""

    def writer(n: int) -> None:
        with requests.Session() as session:
            for batch in range(25):
                sid = f"s-{n}-{batch}"
                events = [event(f"w{n}-{batch}-{i}", sid) for i in range(50)]
                response = session.post(server.url + "/events/batch", json={"events": events}, timeout=30)
                assert response.status_code == 200

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reader = Store(server.store.path, readonly=True)
    count = reader._query("SELECT COUNT(*) FROM events")[0][0]
    reader.close()
    assert count == 8 * 25 * 50


def test_slow_clients_are_cut_off_and_the_server_stays_up(server: IngestServer) -> None:
    """A client that sends half a request and stalls (slowloris) is dropped; others are served meanwhile."""
    host, port = server.server_address[:2]
    stalled = socket.create_connection((str(host), port))
    stalled.sendall(b"POST /events/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
    assert requests.get(server.url + "/healthz", timeout=10).json()["ok"] is True
    stalled.close()


def test_binding_beyond_loopback_without_a_key_warns(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "spanhive", "serve", "--host", "0.0.0.0", "--port", "0", "--db", str(tmp_path / "x.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("spanhive serve: http://0.0.0.0:")
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "without --api-key" in err


bodies = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from(
            ["events", "event", "session", "event_type", "inputs", "model_events", "session_properties",
             "is_single_session", "session_id", "event_id", "children_ids", "x"]), inner, max_size=5),
        max_leaves=20,
    ).map(lambda value: json.dumps(value).encode()),
)  # fmt: skip


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, path=st.sampled_from(["/events/batch", "/events", "/session/start", "/events/model/batch"]))
def test_fuzzed_bodies_never_break_the_server(server: IngestServer, body: bytes, path: str) -> None:
    """Thousands of random and malformed bodies: each gets a JSON 2xx/4xx answer, from a server still up."""
    response = requests.post(server.url + path, data=body, timeout=10)
    assert response.status_code in (200, 400, 413), response.text
    assert isinstance(response.json()["success"], bool)
