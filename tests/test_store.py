"""The embedded SQLite store: idempotent upserts, sessions merging across batches, clear errors."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanhive
from spanhive.store import Store, StoreError
from spanhive.store._store import MIGRATIONS, WAL_TRUNCATE_BYTES
from tests.conftest import make_provider

Recorded = tuple[TracerProvider, InMemorySpanExporter]


def event(event_id: str, session_id: str = "s1", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "project": "p", "source": "dev", "event_name": event_id, "event_type": "tool", "event_id": event_id,
        "session_id": session_id, "parent_id": session_id, "children_ids": [], "config": {}, "inputs": {},
        "outputs": {}, "error": None, "start_time": 1000, "end_time": 2000, "duration": 1000.0,
        "metadata": {}, "feedback": {}, "metrics": {}, "user_properties": {},
    }  # fmt: skip
    base.update(fields)
    return base


def props(session_id: str = "s1", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "session_name": None, "source": "dev", "session_id": session_id, "config": {}, "inputs": {},
        "outputs": {}, "error": None, "user_properties": {}, "metrics": {}, "feedback": {}, "metadata": {},
    }  # fmt: skip
    base.update(fields)
    return base


def single(events: list[dict[str, Any]], properties: dict[str, Any]) -> dict[str, Any]:
    return {"events": events, "is_single_session": True, "session_properties": properties}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "s.db")


def test_replaying_a_batch_changes_nothing(store: Store) -> None:
    body = single([event("e1"), event("e2", error="boom")], props(session_name="chat"))
    store.ingest_batch(body)
    before = store.get_session("s1")
    store.ingest_batch(body)
    after = store.get_session("s1")
    assert before is not None
    assert after is not None
    before.pop("updated_at")
    after.pop("updated_at")
    assert before == after
    assert (after["event_count"], after["error_count"]) == (2, 1)


def test_session_properties_merge_across_batches(store: Store) -> None:
    """First inputs stay, latest outputs win, first non-empty user property per key, dicts merge."""
    store.ingest_batch(single([event("e1")], props(
        session_name="first", inputs={"q": 1}, outputs={"a": 1}, user_properties={"plan": "free", "id": 7},
        metadata={"x": 1},
    )))  # fmt: skip
    store.ingest_batch(single([event("e2")], props(
        session_name="second", inputs={"q": 2}, outputs={"a": 2}, user_properties={"plan": "pro", "org": "o"},
        metadata={"y": 2}, error="late failure",
    )))  # fmt: skip
    store.ingest_batch(single([event("e3")], props()))  # a batch knowing nothing new erases nothing
    session = store.get_session("s1")
    assert session is not None
    assert session["session_name"] == "first"
    assert session["inputs"] == {"q": 1}
    assert session["outputs"] == {"a": 2}
    assert session["user_properties"] == {"plan": "free", "id": 7, "org": "o"}
    assert session["metadata"] == {"x": 1, "y": 2}
    assert session["error"] == "late failure"
    assert [e["event_id"] for e in session["events"]] == ["e1", "e2", "e3"]


def test_children_ids_accumulate_across_batches(store: Store) -> None:
    store.ingest_batch(single([event("root", children_ids=["a"])], props()))
    store.ingest_batch(single([event("root", children_ids=["b"])], props()))
    (root,) = store.events("s1")
    assert sorted(root["children_ids"]) == ["a", "b"]


def test_coalesced_bodies_store_sessions_from_session_events(store: Store) -> None:
    body = {
        "is_single_session": False,
        "events": [
            event("s1", "s1", event_type="session", event_name="one", parent_id=None),
            event("e1", "s1"),
            event("s2", "s2", event_type="session", event_name="two", parent_id=None),
            event("e2", "s2"),
        ],
    }
    assert store.ingest_batch(body) == ["e1", "e2"]
    names = {s["session_id"]: s["session_name"] for s in store.list_sessions()}
    assert names == {"s1": "one", "s2": "two"}
    assert [e["event_id"] for e in store.events("s1")] == ["e1"]  # the session event is not an event row


def test_events_without_session_properties_still_create_their_session(store: Store) -> None:
    store.ingest_batch({"events": [event("e1", "orphan")], "is_single_session": False})
    assert [s["session_id"] for s in store.list_sessions()] == ["orphan"]


def test_sessions_are_listed_newest_first(store: Store) -> None:
    for i in range(3):
        store.ingest_batch(single([event(f"e{i}", f"s{i}", start_time=i * 1000)], props(f"s{i}")))
    assert [s["session_id"] for s in store.list_sessions()] == ["s2", "s1", "s0"]
    assert [s["session_id"] for s in store.list_sessions(limit=1)] == ["s2"]


def test_prefix_lookup(store: Store) -> None:
    store.ingest_batch(single([event("e1", "abc-1")], props("abc-1")))
    store.ingest_batch(single([event("e2", "abd-2")], props("abd-2")))
    assert store.find_session_id("abc") == "abc-1"
    assert store.find_session_id("zzz") is None
    with pytest.raises(StoreError, match="more than one"):
        store.find_session_id("ab")
    assert store.find_session_id("a_c") is None  # LIKE wildcards are matched literally


def test_schema_is_versioned_and_migrations_run_once(tmp_path: Path) -> None:
    Store(tmp_path / "m.db").close()
    again = Store(tmp_path / "m.db")
    assert again.schema_version == 3
    rows = sqlite3.connect(tmp_path / "m.db").execute("SELECT version FROM migrations").fetchall()
    assert rows == [(1,), (2,), (3,)]
    assert sqlite3.connect(tmp_path / "m.db").execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_store_of_the_previous_version_lists_by_start_once_migrated(tmp_path: Path) -> None:
    """Version 3 keeps each session's start in an indexed column; a version-2 store gets it from its events."""
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at REAL)")
    for version, name, sql in MIGRATIONS[:2]:
        conn.executescript(sql)
        conn.execute("INSERT INTO migrations VALUES (?, ?, 0)", (version, name))
    for n, start in enumerate((3_000, 1_000, 2_000)):
        conn.execute("INSERT INTO sessions (session_id, created_at, updated_at) VALUES (?, 0, 0)", (f"s{n}",))
        conn.execute(
            "INSERT INTO events (event_id, session_id, start_time, end_time) VALUES (?, ?, ?, ?)",
            (f"e{n}", f"s{n}", start, start + 5),
        )
    conn.commit()
    conn.close()
    reader = Store(path, readonly=True)  # `spanhive sessions` on a store an earlier version wrote: upgraded
    assert reader.schema_version == 3
    assert [s["session_id"] for s in reader.list_sessions()] == ["s0", "s2", "s1"]
    reader.close()
    store = Store(path)
    assert [(s["session_id"], s["start_time"]) for s in store.list_sessions()] == [
        ("s0", 3_000), ("s2", 2_000), ("s1", 1_000)
    ]  # fmt: skip
    store.ingest_batch({"events": [{"event_id": "e9", "session_id": "s1", "event_type": "tool", "start_time": 4_000}]})
    assert [s["session_id"] for s in store.list_sessions()] == ["s0", "s2", "s1"]  # a later event: same start
    store.ingest_batch({"events": [{"event_id": "e8", "session_id": "s1", "event_type": "tool", "start_time": 500}]})
    assert [s["session_id"] for s in store.list_sessions(since_ms=1_500)] == ["s0", "s2"]
    store.close()


def test_missing_and_corrupt_files_raise_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no spanhive database"):
        Store(tmp_path / "absent.db", readonly=True)
    assert not (tmp_path / "absent.db").exists()  # reading never creates a file
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a readable spanhive database"):
        Store(junk, readonly=True)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(StoreError, match="not a spanhive database"):
        Store(other, readonly=True)


def test_exporter_writes_to_the_embedded_store_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key, no endpoint: sessions land in the per-user store, announced once per process on stderr."""
    monkeypatch.setattr(spanhive._exporter, "_announced", False)
    providers = [make_provider(spanhive.SessionExporter()) for _ in range(2)]
    for provider in providers:
        tracer = provider.get_tracer("t")
        with tracer.start_as_current_span("ask", attributes={"honeyhive_inputs.q": "why?"}):
            with tracer.start_as_current_span("lookup"):
                pass
        provider.shutdown()
    db = tmp_path / "data" / "spanhive" / "spanhive.db"
    store = Store(db, readonly=True)
    sessions = store.list_sessions()
    assert len(sessions) == 2
    full = store.get_session(sessions[0]["session_id"])
    assert full is not None
    assert full["session_name"] == "ask"
    assert full["inputs"] == {"q": "why?"}
    assert [e["event_name"] for e in full["events"]] == ["ask", "lookup"]
    announcements = [line for line in capsys.readouterr().err.splitlines() if "sending sessions to" in line]
    assert announcements == [
        f"spanhive: sending sessions to the local store {db} (`spanhive sessions` lists them, `spanhive serve` "
        "shows them); SPANHIVE_QUIET=true hides this line"
    ]


def test_the_write_ahead_log_stays_bounded_while_others_read(tmp_path: Path) -> None:
    """A writer and two readers (``serve`` and the CLI) on one file: under steady reads SQLite's automatic
    checkpoint cannot restart the log, so it grew with every write; the store keeps it near its limit."""
    path = tmp_path / "busy.db"
    writer = Store(path)
    readers = [Store(path, readonly=True), Store(path)]
    stop = threading.Event()
    reads = [0]

    def read(store: Store) -> None:
        while not stop.is_set():
            store.list_sessions(limit=20)
            reads[0] += 1

    threads = [threading.Thread(target=read, args=(r,)) for r in readers for _ in range(2)]
    for thread in threads:
        thread.start()
    wal = Path(f"{path}-wal")
    largest = 0
    blob = "x" * 20_000
    try:
        for i in range(1_000):  # 20 MB of events
            writer.ingest_batch(single([event(f"e{i}", f"s{i}", inputs={"blob": blob})], props(f"s{i}")))
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert reads[0] > 100  # the readers really were reading all along
    assert path.stat().st_size > 16_000_000
    assert largest < 2 * WAL_TRUNCATE_BYTES


def test_a_new_store_is_for_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "private" / "nested" / "s.db"
    Store(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for sidecar in path.parent.glob("s.db-*"):  # SQLite gives its WAL files the database's mode
        assert stat.S_IMODE(sidecar.stat().st_mode) & 0o077 == 0


def test_siblings_started_in_one_millisecond_keep_the_order_they_ran_in(tmp_path: Path) -> None:
    """Times are whole milliseconds: three tool calls one after another inside one were shown by id or by
    length, out of order. Exported as they end, they are stored in the order they ran."""
    path = tmp_path / "ms.db"
    exporter = spanhive.SessionExporter(endpoint=f"sqlite:///{path}")
    provider = make_provider(exporter)
    tracer = provider.get_tracer("t")
    ms = 1_000_000
    start = time.time_ns() // ms * ms
    root = tracer.start_span("agent", start_time=start)
    with trace.use_span(root, end_on_exit=False):
        for i, name in enumerate(("zeta", "alpha", "mid")):  # names, and so ids, in no sorted order
            tracer.start_span(name, start_time=start + 100 + i * 200).end(start + 200 + i * 200 + (2 - i) * 50)
    root.end(start + 5 * ms)
    provider.shutdown()
    store = Store(path, readonly=True)
    (session,) = store.list_sessions()
    assert [e["event_name"] for e in store.events(session["session_id"])] == ["agent", "zeta", "alpha", "mid"]
    store.close()
