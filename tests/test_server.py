"""``spanhive serve`` over real sockets: every endpoint, every error, gzip, auth, concurrency, fuzzing."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
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
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    response = requests.post(server.url + "/events/batch", data=data, headers=headers, timeout=10)
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
    headers = {"Content-Type": "application/json"}
    response = requests.request(method, server.url + path, data=body or None, headers=headers, timeout=10)
    assert response.status_code == status
    assert response.json()["success"] is False
    assert says in response.json()["error"]
    if status == 405:
        assert response.headers["Allow"] == "POST"


def test_bodies_over_the_limit_are_refused(server: IngestServer) -> None:
    big = json.dumps({"events": [event("x", "s", inputs={"pad": "y" * 2_000_000})]}).encode()
    json_type = {"Content-Type": "application/json"}
    assert requests.post(server.url + "/events/batch", data=big, headers=json_type, timeout=10).status_code == 413
    bomb = gzip.compress(b'{"events": [], "pad": "' + b"z" * 5_000_000 + b'"}')
    gzipped = {**json_type, "Content-Encoding": "gzip"}
    response = requests.post(server.url + "/events/batch", data=bomb, headers=gzipped, timeout=10)
    assert response.status_code == 413  # the limit holds after decompression too


def test_api_key(tmp_path: Path) -> None:
    store = Store(tmp_path / "keyed.db")
    with IngestServer(store, port=0, api_key="s3cret") as keyed:
        body = {"events": [event("k1", "s")]}
        assert post(keyed, "/events/batch", body).status_code == 401
        assert post(keyed, "/events/batch", body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert post(keyed, "/events/batch", body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert requests.get(keyed.url + "/healthz", timeout=10).status_code == 200  # health is public
        assert requests.get(keyed.url + "/v1/sessions/s", timeout=10).status_code == 401
        page = requests.get(keyed.url + "/", timeout=10, allow_redirects=False)
        assert (page.status_code, page.headers["Location"]) == (303, "/login")  # the viewer signs in first
        in_url = requests.get(keyed.url + "/?key=s3cret", timeout=10, allow_redirects=False)
        assert in_url.status_code == 303  # a key in the URL is never read: logs, history and Referer keep URLs
        with requests.Session() as browser:
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            wrong = browser.post(keyed.url + "/login", data="key=nope", headers=form, timeout=10)
            assert wrong.status_code == 401
            signed = browser.post(keyed.url + "/login", data="key=s3cret", headers=form, timeout=10)
            assert signed.status_code == 200  # redirected to the list
            assert "s3cret" not in str(browser.cookies.get_dict())  # the cookie is derived from the key
            assert browser.get(keyed.url + "/sessions/s", timeout=10).status_code == 200
    store.close()


def test_an_empty_key_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "empty.db")
    with pytest.raises(ValueError, match="empty API key"):
        IngestServer(store, port=0, api_key=" ")
    store.close()
    env = {**os.environ, "SPANHIVE_SERVE_API_KEY": ""}
    done = subprocess.run(
        [sys.executable, "-m", "spanhive", "serve", "--port", "0", "--db", str(tmp_path / "x.db")],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "SPANHIVE_SERVE_API_KEY is set but empty" in done.stderr


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 415),  # what a cross-site form or no-cors fetch can send
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({}, 415),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 403),  # another port of localhost
        ({"Content-Type": "application/json", "Origin": "http://evil.test"}, 403),
        ({"Content-Type": "application/json", "Host": "evil.test:8787"}, 403),  # DNS rebinding
        ({"Content-Type": "application/json; charset=utf-8", "Sec-Fetch-Site": "same-origin"}, 200),
    ],
    ids=["text-plain", "form", "no-type", "cross-site", "same-site", "origin", "rebinding", "same-origin"],
)
def test_writes_web_pages_can_make_are_refused(server: IngestServer, headers: dict[str, str], status: int) -> None:
    body = json.dumps({"events": [event("w1", "s-web")]})
    answer = requests.post(server.url + "/events/batch", data=body, headers=headers, timeout=10)
    assert answer.status_code == status
    assert (server.store.get_session("s-web") is not None) is (status == 200)


def test_a_rebinding_page_reads_nothing_and_allowed_hosts_are_served(tmp_path: Path) -> None:
    store = Store(tmp_path / "hosts.db")
    with IngestServer(store, port=0, allow_hosts=["spanhive.internal"]) as served:
        for host, status in (("evil.test", 403), ("spanhive.internal:8787", 200), ("localhost:1", 200), ("[::1]", 200)):
            answer = requests.get(served.url + "/", headers={"Host": host}, timeout=10)
            assert answer.status_code == status, host
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
    assert "without a key (SPANHIVE_SERVE_API_KEY)" in err


_FUZZ_KEYS = [
    "events", "event", "session", "event_type", "inputs", "outputs", "model_events", "session_properties",
    "single_session", "is_single_session", "session_id", "event_id", "parent_id", "children_ids", "start_time",
    "end_time", "duration", "metadata", "feedback", "metrics", "filters", "field", "operator", "value", "type",
    "limit", "page", "projections", "dateRange", "$gte", "$lte", "x",
]  # fmt: skip
bodies = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
        | st.sampled_from(["is", "contains", "greater than", "exists", "metadata.cost", "session", "tool"]),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from(_FUZZ_KEYS), inner, max_size=6),
        max_leaves=24,
    ).map(lambda value: json.dumps(value).encode()),
    st.sampled_from([b'{"x": NaN}', b'{"events": [{"start_time": -Infinity}]}', b'[' * 5000, b'{"a": 1e999}']),
)  # fmt: skip
_ROUTES = [
    ("POST", "/events/batch"), ("POST", "/v1/events/batch"), ("POST", "/events"), ("POST", "/v1/events"),
    ("POST", "/session/start"), ("POST", "/v1/sessions"), ("POST", "/events/model/batch"),
    ("POST", "/v1/events/export"), ("POST", "/v1/events/search"), ("POST", "/v1/sessions/s-1/events/batch"),
    ("PUT", "/events"), ("PUT", "/v1/events/e-1"),
]  # fmt: skip
FUZZ_EXAMPLES = int(os.environ.get("SPANHIVE_FUZZ_EXAMPLES", "400"))
"""How many bodies the fuzz test sends; the suite's default is short, a longer run is by hand."""


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, route=st.sampled_from(_ROUTES))
def test_fuzzed_bodies_never_break_the_server(server: IngestServer, body: bytes, route: tuple[str, str]) -> None:
    """Thousands of random and malformed bodies on every ingest route: each gets a JSON 2xx/4xx answer,
    from a server still up, whose list still renders."""
    method, path = route
    headers = {"Content-Type": "application/json"}
    response = requests.request(method, server.url + path, data=body, headers=headers, timeout=10)
    assert response.status_code in (200, 400, 404, 413), response.text
    reply = response.json()
    assert isinstance(reply, dict)
    if response.status_code != 200:
        assert reply["success"] is False
        assert reply["message"]
    _fuzzed[0] += 1
    if _fuzzed[0] % 25 == 0:  # now and then: whatever was stored, the list still renders
        assert requests.get(server.url + "/", timeout=10).status_code == 200


_fuzzed = [0]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b'{"events": [{"event_type": "tool", "inputs": {"x": NaN}}]}', "NaN is not a JSON number"),
        (b'{"events": [{"event_type": "tool", "inputs": {"x": Infinity}}]}', "Infinity is not a JSON number"),
        (b'{"events": [{"event_type": "tool", "inputs": {}, "metrics": {"x": 1e400}}]}', "out of range"),
        (b'{"events": [{"event_type": "tool", "inputs": {}, "start_time": 1e300}]}', "events[0].start_time"),
        (b'{"events": [{"event_type": "tool", "inputs": {}, "end_time": 1180591620717411303424}]}', "end_time"),
        (b'{"events": [{"event_type": "tool", "inputs": {}, "metadata": {"total_tokens": 9223372036854775807}}]}',
         "largest integer"),
        (b'{"events": [{"event_type": "tool", "inputs": {"q": "\\ud800"}}]}', "lone surrogate"),
        (b'{"events": [{"event_type": "tool", "inputs": {"\\udfff": 1}}]}', "lone surrogate"),
        (b'\xff\xfe{}', "invalid JSON"),
    ],
    ids=["nan", "infinity", "1e400", "time-1e300", "time-2^70", "int-2^63", "surrogate", "surrogate-key", "not-utf8"],
)  # fmt: skip
def test_values_that_would_poison_the_store_are_refused(server: IngestServer, data: bytes, says: str) -> None:
    answer = requests.post(
        server.url + "/events/batch", data=data, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert answer.status_code == 400
    assert says in answer.json()["message"]
    assert requests.get(server.url + "/", timeout=10).status_code == 200  # the list still renders
    assert server.store.list_sessions() == []


def test_odd_headers_and_queries_get_a_400_not_a_500(server: IngestServer) -> None:
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), port)) as raw:
        raw.sendall(b"POST /events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: \xc2\xb2\r\n\r\n{}")  # fmt: skip
        assert raw.recv(64).startswith(b"HTTP/1.1 411")
    assert requests.get(server.url + "/", params={"q": "x" * 60_000}, timeout=10).status_code == 400


def test_a_session_whose_events_chain_1200_deep_renders(server: IngestServer) -> None:
    sid = "deep-session"
    events = [event("d0", sid)] + [{**event(f"d{n}", sid), "parent_id": f"d{n - 1}"} for n in range(1, 1200)]
    assert post(server, "/events/batch", {"events": events}).status_code == 200
    assert requests.get(server.url + f"/sessions/{sid}", timeout=30).status_code == 200
    answer = requests.get(server.url + f"/v1/sessions/{sid}", timeout=30)
    assert answer.status_code == 200
    depth, node = 0, answer.json()["tree"][0]
    while node["children"]:
        depth, node = depth + 1, node["children"][0]
    assert depth == 199  # nested to the viewer's limit, the rest of the chain hung there in order


def test_reader_connections_do_not_pile_up(server: IngestServer) -> None:
    """Every request on a connection of its own (a thread of its own): the store's readers stay few (they
    leaked two descriptors a request, and every read failed after 122 under ``ulimit -n 256``)."""
    for _ in range(20):
        requests.get(server.url + "/v1/events", params={"session_id": "none"}, timeout=10)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(10_000):
        requests.get(server.url + "/v1/events", params={"session_id": "none"}, timeout=10)
    assert len(os.listdir("/proc/self/fd")) - before < 8


def test_slow_trickling_clients_are_cut_at_the_deadline_and_never_stop_new_ones(tmp_path: Path) -> None:
    store = Store(tmp_path / "slow.db")
    with IngestServer(store, port=0) as served:
        served.request_deadline_s = 2.0
        host, port = served.server_address[:2]
        trickling = []
        for _ in range(600):
            conn = socket.create_connection((str(host), port))
            conn.sendall(b"POST /events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            trickling.append(conn)
        started = time.monotonic()
        assert requests.get(served.url + "/healthz", timeout=10).json()["ok"] is True  # a new client is served
        assert time.monotonic() - started < 5
        for _ in range(3):  # a byte a second: never idle long enough for the per-read timeout
            time.sleep(1)
            for conn in trickling:
                with contextlib.suppress(OSError):
                    conn.sendall(b"X")
        closed = 0
        for conn in trickling:
            conn.settimeout(5)
            try:
                closed += conn.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except TimeoutError:
                pass  # still open: not cut
            conn.close()
        assert closed == 600
    store.close()
