"""SQLite store of sessions and events: WAL, versioned schema, idempotent upserts that merge sessions.

All writes go through one writer thread fed by a queue (SQLite allows one writer at a time anyway, and a
queue makes concurrent callers wait their turn instead of failing on a busy database); every reading thread
has its own connection, so reads never wait for writes. Upserts are keyed by ``event_id`` and
``session_id``, so replaying a batch changes nothing, and a session's properties merge as its batches arrive
in any order.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Optional

from spanhive._records import DICT_FIELDS

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "sessions and events",
        """
        CREATE TABLE sessions (
            session_id TEXT PRIMARY KEY,
            project TEXT,
            session_name TEXT,
            source TEXT,
            config TEXT NOT NULL DEFAULT '{}',
            inputs TEXT NOT NULL DEFAULT '{}',
            outputs TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            user_properties TEXT NOT NULL DEFAULT '{}',
            metrics TEXT NOT NULL DEFAULT '{}',
            feedback TEXT NOT NULL DEFAULT '{}',
            metadata TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE events (
            event_id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            parent_id TEXT,
            project TEXT,
            source TEXT,
            event_name TEXT,
            event_type TEXT,
            start_time INTEGER,
            end_time INTEGER,
            duration REAL,
            error TEXT,
            children_ids TEXT NOT NULL DEFAULT '[]',
            config TEXT NOT NULL DEFAULT '{}',
            inputs TEXT NOT NULL DEFAULT '{}',
            outputs TEXT NOT NULL DEFAULT '{}',
            metadata TEXT NOT NULL DEFAULT '{}',
            metrics TEXT NOT NULL DEFAULT '{}',
            feedback TEXT NOT NULL DEFAULT '{}',
            user_properties TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_by_session ON events (session_id, start_time);
        """,
    ),
    (
        2,
        "a session's start as its client stated it",
        "ALTER TABLE sessions ADD COLUMN session_start INTEGER;",
    ),
    (
        3,
        "a session's start, kept as events arrive, indexed: the list of a store of millions answers at once",
        """
        ALTER TABLE sessions ADD COLUMN started INTEGER;
        UPDATE sessions SET started = COALESCE(
            min(session_start, (SELECT MIN(start_time) FROM events WHERE session_id = sessions.session_id)),
            session_start, (SELECT MIN(start_time) FROM events WHERE session_id = sessions.session_id));
        CREATE INDEX sessions_by_start ON sessions (started);
        CREATE INDEX events_with_errors ON events (session_id) WHERE error IS NOT NULL;
        """,
    ),
)

_MIGRATIONS_TABLE = "CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at REAL)"
_EVENT_COLUMNS = (
    "event_id", "session_id", "parent_id", "project", "source", "event_name", "event_type",
    "start_time", "end_time", "duration", "error", "children_ids", *DICT_FIELDS,
)  # fmt: skip
_UPSERT_EVENT = f"""
INSERT INTO events ({", ".join(_EVENT_COLUMNS)}) VALUES ({", ".join("?" * len(_EVENT_COLUMNS))})
ON CONFLICT (event_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _EVENT_COLUMNS if c not in ("event_id", "children_ids"))},
    children_ids = (
        SELECT json_group_array(value) FROM (
            SELECT value, 0 AS part, key FROM json_each(events.children_ids)
            UNION ALL
            SELECT value, 1, key FROM json_each(excluded.children_ids)
            WHERE value NOT IN (SELECT value FROM json_each(events.children_ids))
            ORDER BY part, key
        )
    )
"""
_SESSION_COLUMNS = (
    "session_id", "project", "session_name", "source", "error", *DICT_FIELDS, "session_start", "started",
    "created_at", "updated_at",
)  # fmt: skip
_UPSERT_SESSION = f"""
INSERT INTO sessions ({", ".join(_SESSION_COLUMNS)}) VALUES ({", ".join("?" * len(_SESSION_COLUMNS))})
ON CONFLICT (session_id) DO UPDATE SET
    project = COALESCE(sessions.project, excluded.project),
    session_name = COALESCE(sessions.session_name, excluded.session_name),
    source = COALESCE(sessions.source, excluded.source),
    error = COALESCE(excluded.error, sessions.error),
    inputs = CASE WHEN sessions.inputs = '{{}}' THEN excluded.inputs ELSE sessions.inputs END,
    outputs = CASE WHEN excluded.outputs = '{{}}' THEN sessions.outputs ELSE excluded.outputs END,
    user_properties = json_patch(excluded.user_properties, sessions.user_properties),
    config = json_patch(sessions.config, excluded.config),
    metrics = json_patch(sessions.metrics, excluded.metrics),
    feedback = json_patch(sessions.feedback, excluded.feedback),
    metadata = json_patch(sessions.metadata, excluded.metadata),
    session_start = COALESCE(min(sessions.session_start, excluded.session_start), sessions.session_start,
                             excluded.session_start),
    started = COALESCE(min(sessions.started, excluded.started), sessions.started, excluded.started),
    updated_at = excluded.updated_at
"""
_SUMMARY = """
SELECT s.session_id, s.session_name, s.source, s.project, s.user_properties, s.error, s.started AS start_time,
       MAX(e.end_time) AS end_time,
       COUNT(e.event_id) AS event_count, COALESCE(SUM(e.error IS NOT NULL), 0) AS error_count,
       TOTAL(json_extract(e.metadata, '$.total_tokens')) AS total_tokens,
       CASE WHEN COUNT(json_extract(e.metadata, '$.cost')) THEN TOTAL(json_extract(e.metadata, '$.cost')) END AS cost
FROM (SELECT * FROM sessions s {where} ORDER BY s.started DESC LIMIT ?) s
LEFT JOIN events e ON e.session_id = s.session_id
GROUP BY s.session_id
ORDER BY s.started DESC
"""
"""Sessions with their events' counts, newest first. The sessions are picked first (by the ``started``
index, under ``where``), then only their events are read: a list of a store of millions costs no more
than one of a hundred sessions. (A session's start with no time at all sorts last, as NULL does.)"""


MAX_READERS = 8
"""Read connections a store keeps open at most (each is two file descriptors)."""
WAL_TRUNCATE_BYTES = 8 * 1024 * 1024
"""A write-ahead log past this size is checkpointed and emptied (see :meth:`Store._bound_wal`)."""


class StoreError(Exception):
    """The database is missing, unreadable, or not a spanhive store; the message says which."""


def _json(value: Any, empty: str = "{}") -> str:
    if value is None:
        return empty
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _create_private(path: Path) -> None:
    """A new store's folders (0700) and file (0600, which SQLite gives its WAL files too): prompts and answers
    are for their owner only. An existing file keeps the mode its owner gave it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))


def _epoch_ms(value: Any) -> Optional[int]:
    """A time in epoch milliseconds as SQLite can keep it (a number in its 64-bit range), else ``None``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 2**62:
        return int(value)
    return None


def _text(value: Any) -> Optional[str]:
    return None if value is None else str(value)


class Store:
    """A spanhive SQLite database file."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        """Every read connection made (closed with the store)."""
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        """Read connections not in use: a query takes one and gives it back, so a server with a thread per
        connection holds :data:`MAX_READERS` of them at most, however many threads come and go."""
        self._queue: queue.Queue[Optional[tuple[Callable[[sqlite3.Connection], Any], Future[Any]]]] = queue.Queue()
        self._writer: Optional[threading.Thread] = None
        try:
            if readonly:
                if not self.path.is_file():
                    raise StoreError(f"no spanhive database at {self.path}")
                self._conn = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
                )
            else:
                _create_private(self.path)
                self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA busy_timeout = 10000")
            if readonly:
                self._check_schema()
                if self.schema_version < MIGRATIONS[-1][0]:  # written by an earlier version: bring it up once
                    self._conn.close()
                    try:
                        Store(self.path).close()
                    except StoreError as exc:
                        raise StoreError(f"{self.path} needs an upgrade, which needs write access: {exc}") from None
                    self._conn = self._connect_reader()
            else:
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
                self._conn.execute("PRAGMA wal_autocheckpoint = 1000")  # pages: SQLite's default, said aloud
                self._conn.execute(f"PRAGMA journal_size_limit = {WAL_TRUNCATE_BYTES}")
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a readable spanhive database ({exc})") from None

    # --- schema ----------------------------------------------------------------------------------------

    def _migrate(self) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_MIGRATIONS_TABLE)
            done = {row[0] for row in conn.execute("SELECT version FROM migrations")}
            for version, name, sql in MIGRATIONS:
                if version not in done:
                    for statement in sql.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute("INSERT INTO migrations VALUES (?, ?, ?)", (version, name, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _check_schema(self) -> None:
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"sessions", "events", "migrations"} <= tables:
            raise StoreError(f"{self.path} is a SQLite file but not a spanhive database")

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("SELECT COALESCE(MAX(version), 0) FROM migrations").fetchone()[0])

    # --- writes ----------------------------------------------------------------------------------------

    def ingest_batch(self, body: Mapping[str, Any]) -> list[str]:
        """Store a ``/events/batch`` body; returns the ids of the events written (sessions excluded)."""
        events = [e for e in body.get("events") or () if isinstance(e, Mapping)]
        sessions = [e for e in events if e.get("event_type") == "session"]
        spans = [e for e in events if e.get("event_type") != "session"]
        props = body.get("session_properties")
        now = time.time()
        firsts = _first_starts(spans)
        rows: list[tuple[Any, ...]] = []
        if (body.get("single_session") or body.get("is_single_session")) and isinstance(props, Mapping):
            project = next((e.get("project") for e in spans), None)
            rows.append(self._session_row(props, project, now, firsts.get(str(props.get("session_id")))))
        rows.extend(self._session_row(e, e.get("project"), now, firsts.get(str(e.get("session_id")))) for e in sessions)
        named = {row[0] for row in rows}
        rows.extend(
            self._session_row({"session_id": sid}, project, now, firsts.get(str(sid)))
            for sid, project in {(e.get("session_id"), e.get("project")) for e in spans}
            if sid and sid not in named
        )
        self._write_rows(rows, [self._event_row(e) for e in spans])
        return [str(e.get("event_id")) for e in spans]

    def ingest_records(self, sessions: Iterable[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]]) -> None:
        """Store whole records, as the exporter hands them: each session's properties with its events, in one
        transaction (what :meth:`ingest_batch` does for a body, without its JSON)."""
        now = time.time()
        rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        for props, events in sessions:
            project = next((e.get("project") for e in events), None)
            starts = [t for t in map(_epoch_ms, (e.get("start_time") for e in events)) if t is not None]
            rows.append(self._session_row(props, project, now, min(starts, default=None)))
            event_rows.extend(self._event_row(e) for e in events)
        self._write_rows(rows, event_rows)

    def _write_rows(self, rows: list[tuple[Any, ...]], event_rows: list[tuple[Any, ...]]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_UPSERT_SESSION, rows)
                conn.executemany(_UPSERT_EVENT, event_rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        self._write(write)

    def update_event(self, event_id: str, fields: Mapping[str, Any]) -> bool:
        """HoneyHive's event update, for an event or (by its id) a session: ``metadata``, ``feedback``,
        ``metrics``, ``config`` and ``user_properties`` merged key by key, ``outputs`` replaced (``None`` keeps
        them), and for an event ``duration``, ``end_time`` and a non-empty ``children_ids`` set. ``False``
        when no event or session has that id."""

        def update(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                done = _update(conn, "events", "event_id", event_id, fields) or _update(
                    conn, "sessions", "session_id", event_id, fields
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return done

        return bool(self._write(update))

    def _write(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``work`` on the writer thread and wait for it; exceptions come back to the caller."""
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only")
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="spanhive-store-writer", daemon=True)
                self._writer.start()
        future: Future[Any] = Future()
        self._queue.put((work, future))
        return future.result()

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            work, future = item
            try:
                future.set_result(work(self._conn))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller, re-raised there
                future.set_exception(exc)
            self._bound_wal()

    def _bound_wal(self) -> None:
        """Keep the write-ahead log near the database's size while others read it.

        SQLite's automatic checkpoint copies the log back but cannot restart it while a reader (``serve``, the
        CLI) is using its end, so under steady reads the file only grows. A ``TRUNCATE`` checkpoint waits
        (``busy_timeout``) for the short read transactions to finish, then empties it.
        """
        try:
            size = os.stat(f"{self.path}-wal").st_size
        except OSError:
            return
        if size > WAL_TRUNCATE_BYTES:
            with contextlib.suppress(sqlite3.DatabaseError):  # busy past the timeout: the next write tries again
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    @staticmethod
    def _event_row(event: Mapping[str, Any]) -> tuple[Any, ...]:
        get = event.get
        return (
            str(get("event_id")),
            str(get("session_id")),
            _text(get("parent_id")),
            _text(get("project")),
            _text(get("source")),
            _text(get("event_name")),
            _text(get("event_type")),
            get("start_time"),
            get("end_time"),
            get("duration"),
            _text(get("error")),
            _json(get("children_ids"), "[]"),
            *(_json(get(f)) for f in DICT_FIELDS),
        )

    @staticmethod
    def _session_row(props: Mapping[str, Any], project: Any, now: float, first_event: Optional[int]) -> tuple[Any, ...]:
        """A session's row; ``first_event``: the earliest start of its events in this write."""
        get = props.get
        stated = _epoch_ms(get("start_time"))
        return (
            str(get("session_id")),
            _text(project),
            _text(get("session_name") if "session_name" in props else get("event_name")),
            _text(get("source")),
            _text(get("error")),
            *(_json(get(f)) for f in DICT_FIELDS),
            stated,
            min(stated, first_event)
            if stated is not None and first_event is not None
            else _either(stated, first_event),
            now,
            now,
        )

    # --- reads -----------------------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        """A read connection from the pool: an idle one, a new one while there are fewer than
        :data:`MAX_READERS`, else the next one given back."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            make = len(self._readers) < MAX_READERS
            if make:
                conn = self._connect_reader()
                self._readers.append(conn)
        return conn if make else self._idle.get()

    def _connect_reader(self) -> sqlite3.Connection:
        if self.readonly:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        else:
            conn = sqlite3.connect(str(self.path), check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 10000")
        return conn

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        conn = self._reader()
        try:
            return conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} could not be read ({exc})") from None
        finally:
            self._idle.put(conn)

    def list_sessions(
        self,
        limit: int = 50,
        text: Optional[str] = None,
        errors_only: bool = False,
        *,
        project: Optional[str] = None,
        user: Optional[str] = None,
        since_ms: Optional[int] = None,
    ) -> list[dict[str, Any]]:
        """Recent sessions, newest first, with event counts, errors, timings and token totals; optionally only
        those whose name, id, user properties, inputs or outputs contain ``text``, those with an error, those
        of one ``project``, those whose user properties contain ``user``, or those started since ``since_ms``."""
        conditions: list[str] = []
        params: list[Any] = []
        if text:
            columns = ("s.session_name", "s.session_id", "s.user_properties", "s.inputs", "s.outputs")
            conditions.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '!'" for c in columns) + ")")
            params += ["%" + _like_escape(text) + "%"] * len(columns)
        if project:
            conditions.append("s.project = ?")
            params.append(project)
        if user:
            conditions.append("s.user_properties LIKE ? ESCAPE '!'")
            params.append("%" + _like_escape(user) + "%")
        if errors_only:
            conditions.append(
                "(s.error IS NOT NULL OR EXISTS"
                " (SELECT 1 FROM events e WHERE e.session_id = s.session_id AND e.error IS NOT NULL))"
            )
        if since_ms is not None:
            conditions.append("s.started >= ?")
            params.append(since_ms)
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        rows = self._query(_SUMMARY.format(where=where), (*params, limit))
        return [_finite(_decode(row)) for row in rows]

    def batch(self, session_id: str) -> Optional[dict[str, Any]]:
        """A session as the one ``POST /events/batch`` body that stores it again as it is (its properties and
        its events, every field as stored); ``None`` if unknown."""
        rows = self._query("SELECT * FROM sessions WHERE session_id = ?", (session_id,))
        if not rows:
            return None
        stored = _decode(rows[0])
        props = {k: stored[k] for k in ("session_id", "session_name", "source", "error", *DICT_FIELDS)}
        if stored["session_start"] is not None:
            props["start_time"] = stored["session_start"]
        events = [
            _decode(row)
            for row in self._query(
                "SELECT * FROM events WHERE session_id = ? ORDER BY start_time, event_id", (session_id,)
            )
        ]
        return {"single_session": True, "session_properties": props, "events": events}

    def session_ids(self) -> list[str]:
        """Every session's id, oldest first."""
        return [str(row[0]) for row in self._query("SELECT session_id FROM sessions ORDER BY created_at, session_id")]

    def projects(self) -> list[str]:
        """Every project a session was stored under, by name."""
        return [
            str(row[0])
            for row in self._query("SELECT DISTINCT project FROM sessions WHERE project IS NOT NULL ORDER BY 1")
        ]

    def delete_sessions(self, session_ids: Iterable[str]) -> tuple[int, int]:
        """Delete sessions and their events; how many of each were deleted."""
        ids = list(dict.fromkeys(session_ids))
        return self._delete("SELECT value FROM json_each(?)", (json.dumps(ids),))

    def prune(self, before_ms: int, project: Optional[str] = None) -> tuple[int, int]:
        """Delete the sessions (and their events) that started before ``before_ms``, epoch milliseconds, of
        one ``project`` or all; how many of each were deleted. A session's start is the earlier of its stated
        start and its first event's, else when it was first stored."""
        started = "COALESCE(s.started, CAST(s.created_at * 1000 AS INTEGER))"
        sql = f"SELECT s.session_id FROM sessions s WHERE {started} < ?" + (" AND s.project = ?" if project else "")
        return self._delete(sql, (before_ms, project) if project else (before_ms,))

    def _delete(self, select_ids: str, params: tuple[Any, ...]) -> tuple[int, int]:
        def delete(conn: sqlite3.Connection) -> tuple[int, int]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (session_id TEXT PRIMARY KEY)")
                conn.execute("DELETE FROM doomed")
                conn.execute(f"INSERT OR IGNORE INTO doomed {select_ids}", params)
                events = conn.execute("DELETE FROM events WHERE session_id IN (SELECT session_id FROM doomed)")
                sessions = conn.execute("DELETE FROM sessions WHERE session_id IN (SELECT session_id FROM doomed)")
                counts = (sessions.rowcount, events.rowcount)
                conn.execute("DELETE FROM doomed")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return counts

        result: tuple[int, int] = self._write(delete)
        return result

    def find_session_id(self, prefix: str) -> Optional[str]:
        """The session id equal to ``prefix`` or the only one starting with it; ``None`` if none.

        Raises :class:`StoreError` when the prefix is ambiguous.
        """
        exact = self._query("SELECT session_id FROM sessions WHERE session_id = ?", (prefix,))
        if exact:
            return str(exact[0][0])
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._query("SELECT session_id FROM sessions WHERE session_id LIKE ? ESCAPE '\\' LIMIT 2", (pattern,))
        if len(rows) > 1:
            raise StoreError(f"session id prefix {prefix!r} matches more than one session")
        return str(rows[0][0]) if rows else None

    def get_session(self, session_id: str) -> Optional[dict[str, Any]]:
        """A session's record and summary, with its events (oldest first); ``None`` if unknown."""
        rows = self._query(_SUMMARY.format(where="WHERE s.session_id = ?"), (session_id, 1))
        if not rows:
            return None
        session = _finite(_decode(rows[0]))
        props = _decode(self._query("SELECT * FROM sessions WHERE session_id = ?", (session_id,))[0])
        del props["session_start"], props["started"]  # the summary's start_time counts them
        session.update(props)
        session["events"] = self.events(session_id)
        return session

    def events(self, session_id: str) -> list[dict[str, Any]]:
        """A session's events by start; within one millisecond (the times are whole milliseconds), a parent
        before its children (spans that start together mostly do so because one started the other), then in
        the order they were first stored: spans are exported as they end, so siblings that ran one after
        another in the same millisecond keep their order."""
        rows = self._query(
            "SELECT * FROM events WHERE session_id = ? ORDER BY start_time, rowid",
            (session_id,),
        )
        events = [_decode(row) for row in rows]
        parents = {e.get("event_id"): e.get("parent_id") for e in events}
        depths: dict[Any, int] = {}
        for event_id in parents:
            chain: list[Any] = []
            node = event_id
            while node in parents and node not in depths and len(chain) <= len(parents):  # a cycle ends it
                chain.append(node)
                node = parents[node]
            known = depths.get(node, -1)
            for offset, item in enumerate(reversed(chain), 1):
                depths[item] = known + offset
        return sorted(events, key=lambda e: (e.get("start_time") or 0, depths.get(e.get("event_id"), 0)))

    def get_event(self, event_id: str) -> Optional[dict[str, Any]]:
        """One event, or a session as the ``session`` event HoneyHive keeps for it; ``None`` if unknown."""
        rows = self._query(f"SELECT * FROM ({_ALL_EVENTS}) WHERE event_id = ?", (event_id,))
        return _decode(rows[0]) if rows else None

    def export(self, where: str, params: Sequence[Any], limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Events and sessions (as ``session`` events) matching ``where`` (SQL over the event columns, from
        :func:`spanhive.server._export.where`), oldest first, a page of them, and how many match in all."""
        sql = f"SELECT * FROM ({_ALL_EVENTS}) WHERE {where}"
        total = int(self._query(f"SELECT count(*) FROM ({sql})", tuple(params))[0][0])
        order = " ORDER BY start_time, event_type != 'session', event_id LIMIT ? OFFSET ?"  # a session first
        rows = self._query(sql + order, (*params, limit, offset))
        return [_decode(row) for row in rows], total

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
            readers, self._readers = self._readers, []
        if writer is not None and writer.is_alive():
            self._queue.put(None)
            writer.join(10)
        for conn in readers:
            conn.close()
        self._conn.close()


_MERGED = ("metadata", "feedback", "metrics", "config", "user_properties")
_ALL_EVENTS = f"""
SELECT event_id, session_id, parent_id, project, source, event_name, event_type, start_time, end_time, duration,
       error, children_ids, {", ".join(DICT_FIELDS)}
FROM events
UNION ALL
SELECT s.session_id, s.session_id, NULL, s.project, s.source, s.session_name, 'session',
       COALESCE(min(s.session_start, (SELECT MIN(start_time) FROM events WHERE session_id = s.session_id)),
                s.session_start, (SELECT MIN(start_time) FROM events WHERE session_id = s.session_id)),
       (SELECT MAX(end_time) FROM events WHERE session_id = s.session_id), NULL, s.error,
       (SELECT json_group_array(event_id) FROM events WHERE session_id = s.session_id
                                                         AND parent_id = s.session_id),
       {", ".join(f"s.{f}" for f in DICT_FIELDS)}
FROM sessions s
"""
"""Every event, and every session as the ``session`` event HoneyHive's data model keeps for it."""


def _update(conn: sqlite3.Connection, table: str, key: str, row_id: str, fields: Mapping[str, Any]) -> bool:
    row = conn.execute(f"SELECT * FROM {table} WHERE {key} = ?", (row_id,)).fetchone()
    if row is None:
        return False
    names = [d[0] for d in conn.execute(f"SELECT * FROM {table} LIMIT 0").description]
    current = dict(zip(names, row, strict=True))
    changes: dict[str, Any] = {}
    for name in _MERGED:
        if isinstance(fields.get(name), Mapping):
            merged = {**json.loads(current[name] or "{}"), **fields[name]}
            changes[name] = _json(merged)
    if isinstance(fields.get("outputs"), Mapping):
        changes["outputs"] = _json(fields["outputs"])
    if table == "events":
        for name in ("duration", "end_time"):
            value = fields.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                changes[name] = int(value) if name == "end_time" else float(value)
        if isinstance(fields.get("children_ids"), list) and fields["children_ids"]:
            changes["children_ids"] = _json([str(c) for c in fields["children_ids"]], "[]")
    else:
        changes["updated_at"] = time.time()
    if changes:
        assignments = ", ".join(f"{name} = ?" for name in changes)
        conn.execute(f"UPDATE {table} SET {assignments} WHERE {key} = ?", (*changes.values(), row_id))
    return True


def _either(a: Optional[int], b: Optional[int]) -> Optional[int]:
    return a if a is not None else b


def _first_starts(events: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The earliest start among ``events`` of each session."""
    firsts: dict[str, int] = {}
    for event in events:
        start = _epoch_ms(event.get("start_time"))
        if start is not None:
            sid = str(event.get("session_id"))
            firsts[sid] = min(firsts.get(sid, start), start)
    return firsts


def _finite(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary whose sums are numbers JSON can hold (costs summed past a float's range are unknown)."""
    for key in ("total_tokens", "cost"):
        value = summary.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            summary[key] = None
    return summary


def _like_escape(text: str) -> str:
    """``text`` matched literally inside a ``LIKE ... ESCAPE '!'`` pattern."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    for key in (*DICT_FIELDS, "children_ids"):
        if key in record and isinstance(record[key], str):
            record[key] = json.loads(record[key])
    return record
