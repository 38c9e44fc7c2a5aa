"""The ``spanhive`` command over a real store file: listings, the event tree, exit codes, help."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry import trace

import spanhive
from spanhive._cli import _parser, main
from spanhive.store import Store
from tests.capture import CaptureServer, closed_port_url
from tests.conftest import make_provider

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store holding one session: a chain with a model call and a failing tool."""
    path = tmp_path / "cli.db"
    provider = make_provider(spanhive.SessionExporter(endpoint=f"sqlite:///{path}"))
    tracer = provider.get_tracer("t")
    ms = 1_000_000  # explicit times, a millisecond apart: the order shown must not hang on the clock's ticks
    start = time.time_ns() // ms * ms
    root = tracer.start_span("plan_trip", attributes={"user.id": "ada"}, start_time=start)
    with trace.use_span(root, end_on_exit=False):
        tracer.start_span("llm", attributes={"honeyhive_event_type": "model"}, start_time=start + ms).end(
            start + 2 * ms
        )
        span = tracer.start_span("book_hotel", start_time=start + 3 * ms)
        span.record_exception(TimeoutError("hotel API timed out"))
        span.end(start + 4 * ms)
    root.end(start + 5 * ms)
    provider.shutdown()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def session_id(capsys: pytest.CaptureFixture[str], db: Path) -> str:
    code, out, _ = run(capsys, "sessions", "--db", str(db), "--json")
    assert code == 0
    return str(json.loads(out)[0]["session_id"])


def test_sessions_lists_a_table(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    code, out, _ = run(capsys, "sessions", "--db", str(db))
    header, row = out.splitlines()
    assert code == 0
    assert header.split() == ["SESSION", "ID", "NAME", "SOURCE", "START", "DURATION", "EVENTS", "ERRORS"]
    assert re.match(r"[0-9a-f-]{36}\s+plan_trip\s+dev\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+[\d.]+ ms\s+3\s+1$", row)


def test_show_prints_the_tree_with_the_error(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    sid = session_id(capsys, db)
    code, out, _ = run(capsys, "show", sid[:8], "--db", str(db))
    assert code == 0
    assert f"Session  {sid}" in out
    assert 'User     {"user_id": "ada"}' in out
    tree = [line for line in out.splitlines() if "─ " in line]
    assert re.match(r"└─ chain  plan_trip\s", tree[0])
    assert re.match(r"   ├─ model  llm\s", tree[1])
    assert re.match(r"   └─ tool   book_hotel\s.*ERROR: TimeoutError: hotel API timed out$", tree[2])


def test_show_json(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    sid = session_id(capsys, db)
    code, out, _ = run(capsys, "show", sid, "--db", str(db), "--json")
    session = json.loads(out)
    assert code == 0
    assert [e["event_name"] for e in session["events"]] == ["plan_trip", "llm", "book_hotel"]


def test_unknown_session_exits_2(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    code, _, err = run(capsys, "show", "no-such-session", "--db", str(db))
    assert code == 2
    assert "no session 'no-such-session'" in err


@pytest.mark.parametrize("content", [None, b"garbage" * 100], ids=["missing", "corrupt"])
def test_bad_database_files_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.db"
    if content is not None:
        path.write_bytes(content)
    for argv in (["sessions"], ["show", "x"]):
        code, out, err = run(capsys, *argv, "--db", str(path))
        assert code == 2
        assert str(path) in err
        assert out == ""


def test_empty_store_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    Store(tmp_path / "empty.db").close()
    code, out, _ = run(capsys, "sessions", "--db", str(tmp_path / "empty.db"))
    assert (code, out.strip()) == (0, f"No sessions in {tmp_path / 'empty.db'}.")


def test_default_database_follows_the_exporter(
    capsys: pytest.CaptureFixture[str], db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --db the CLI reads the store the exporter writes to (SPANHIVE_ENDPOINT=sqlite:///…)."""
    monkeypatch.setenv("SPANHIVE_ENDPOINT", f"sqlite:///{db}")
    code, out, _ = run(capsys, "sessions")
    assert code == 0
    assert "plan_trip" in out


def test_python_dash_m_and_the_console_script() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "spanhive", "--version"], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == f"spanhive {spanhive.__version__}"
    script = Path(sys.executable).parent / "spanhive"
    assert subprocess.run([str(script), "--help"], check=True, capture_output=True, text=True).stdout


def test_every_command_has_help_and_is_documented() -> None:
    """Each subcommand has help text and a section in docs/cli.md."""
    parser = _parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    docs = (ROOT / "docs" / "cli.md").read_text()
    for name, sub in commands.choices.items():  # type: ignore[union-attr]
        assert sub.description, name
        assert f"## `spanhive {name}`" in docs, name


@pytest.fixture
def queued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A spool directory holding two requests an exporter could not deliver (the endpoint refused)."""
    spool_dir = tmp_path / "spool"
    monkeypatch.setenv("SPANHIVE_SPOOL_DIR", str(spool_dir))
    exporter = spanhive.SessionExporter(endpoint=closed_port_url(), api_key="secret-key-123", timeout_s=0.2)
    provider = make_provider(exporter)
    tracer = provider.get_tracer("t")
    for name in ("first", "second"):
        with tracer.start_as_current_span(name):
            pass
    provider.shutdown()
    return spool_dir


def test_spool_status(capsys: pytest.CaptureFixture[str], queued: Path) -> None:
    code, out, _ = run(capsys, "spool", "status")
    assert code == 0
    assert f"Spool      {queued}" in out
    assert "Queued     2 requests, 2 events" in out


def test_spool_replay_sends_everything_with_a_summary(
    capsys: pytest.CaptureFixture[str], queued: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with CaptureServer() as server:
        monkeypatch.setenv("SPANHIVE_ENDPOINT", server.url)
        monkeypatch.setenv("SPANHIVE_API_KEY", "k")
        code, out, _ = run(capsys, "spool", "replay")
        names = sorted(e["event_name"] for e in server.events())
    assert code == 0
    assert names == ["first", "second"]
    assert "Replaying 2 requests (2 events)" in out
    assert re.search(r"Sent 2 requests \(2 events delivered\) in [\d.]+ s \(\d+ events/s\); 0 requests left\.", out)


def test_spool_replay_says_what_was_quarantined_and_fails(
    capsys: pytest.CaptureFixture[str], queued: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request the server refuses for good is set aside, and the summary says so (exit code 1)."""
    with CaptureServer([422]) as server:
        monkeypatch.setenv("SPANHIVE_ENDPOINT", server.url)
        monkeypatch.setenv("SPANHIVE_API_KEY", "k")
        code, out, _ = run(capsys, "spool", "replay")
    assert code == 1
    assert re.search(r"Sent 1 requests \(1 events delivered\) .*; 1 quarantined; 0 requests left\.", out)
    assert len(list((queued / "quarantine").iterdir())) == 1


def test_spool_purge_asks_first(capsys: pytest.CaptureFixture[str], queued: Path) -> None:
    code, _, err = run(capsys, "spool", "purge")  # no terminal to ask on: refuse
    assert code == 2
    assert "--yes" in err
    code, out, _ = run(capsys, "spool", "purge", "--yes")
    assert (code, out.strip()) == (0, "Deleted 2 requests.")
    assert not list(queued.glob("*.req"))


def test_doctor_masks_the_key_and_shows_reachability_spool_and_counters(
    capsys: pytest.CaptureFixture[str], queued: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with CaptureServer() as server:
        monkeypatch.setenv("SPANHIVE_ENDPOINT", server.url)
        monkeypatch.setenv("SPANHIVE_API_KEY", "secret-key-123")
        code, out, _ = run(capsys, "doctor")
    assert code == 0
    assert "secret-key-123" not in out
    assert "API key    secr…23" in out
    assert re.search(r"Reachable  yes \(HTTP 200 for an empty batch at http://127.0.0.1:\d+/events/batch\)", out)
    assert "JSON  orjson" in out  # a dependency on CPython
    assert "Compression  gzip (deflate)" in out  # the tests install the ``fast`` extra
    compiled = not spanhive.mapping._span.__file__.endswith(".py")  # tox -e compiled runs these tests too
    assert ("Build      compiled (mypyc)" if compiled else "Build      pure Python") in out
    prices = importlib.util.find_spec("genai_prices")  # the test group has the ``prices`` extra, the floor not
    assert ("Prices     genai-prices " if prices else "Prices     none: ") in out
    assert "Queued     2 requests" in out
    assert re.search(r"Process \d+ \(.*\): .*spooled 2", out)


def test_doctor_says_when_nothing_answers(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANHIVE_ENDPOINT", closed_port_url())
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    assert "Reachable  no: ConnectionError" in out


def test_one_rule_for_sqlite_urls_in_every_db_option(
    capsys: pytest.CaptureFixture[str], db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sqlite:///abs``, SQLAlchemy's ``sqlite:////abs`` and relative ``sqlite:///./x``, ``sqlite:x``,
    ``sqlite://x`` all name the file a user means (``sqlite:///./my.db`` wrote to ``/my.db``), and ``--db``
    takes them as it takes a path."""
    monkeypatch.chdir(db.parent)
    urls = [f"sqlite:///{db}", f"sqlite:////{db}", f"sqlite:///./{db.name}", f"sqlite:{db.name}", f"sqlite://{db.name}"]
    for url in [*urls, str(db), db.name]:
        code, out, err = run(capsys, "sessions", "--db", url)
        assert (code, err) == (0, ""), url
        assert "plan_trip" in out, url
    code, _, err = run(capsys, "show", "--db", f"sqlite:///./{db.name}", session_id(capsys, db))
    assert (code, err) == (0, "")


def test_sessions_filters(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    store = Store(db)
    now = int(time.time() * 1000)
    old = {"event_type": "tool", "event_name": "old", "start_time": now - 10 * 86_400_000, "end_time": now}
    store.ingest_batch({"events": [{**old, "session_id": "s-old", "project": "billing", "event_id": "e-old"}]})
    store.close()

    def listed(*filters: str) -> list[str]:
        code, out, _ = run(capsys, "sessions", "--db", str(db), "--json", *filters)
        assert code == 0
        return sorted(row["session_name"] or row["session_id"] for row in json.loads(out))

    assert listed() == ["plan_trip", "s-old"]
    assert listed("--project", "billing") == ["s-old"]
    assert listed("--user", "ada") == ["plan_trip"]
    assert listed("--errors") == ["plan_trip"]
    assert listed("--since", "7d") == ["plan_trip"]
    assert listed("--since", time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400))) == ["plan_trip", "s-old"]
    assert listed("--search", "plan_") == ["plan_trip"]
    assert listed("--search", "nothing-like-this") == []
    code, out, _ = run(capsys, "sessions", "--db", str(db), "--search", "nothing-like-this")
    assert out.startswith("No sessions match those filters in ")
    code, _, err = run_usage(capsys, "sessions", "--db", str(db), "--since", "last tuesday")
    assert code == 2
    assert "expected a duration (30m, 12h, 7d) or a date" in err


def run_usage(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """:func:`run` for a command line argparse refuses (it exits)."""
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_delete_and_prune(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    store = Store(db)
    now = int(time.time() * 1000)
    for sid, project, age_days in (("s-old-a", "a", 10), ("s-old-b", "b", 10), ("s-new-a", "a", 1)):
        start = now - age_days * 86_400_000
        event = {"event_type": "tool", "event_name": sid, "start_time": start, "end_time": start + 5}
        store.ingest_batch({"events": [{**event, "session_id": sid, "project": project, "event_id": f"e-{sid}"}]})
    store.close()
    code, out, _ = run(capsys, "prune", "--db", str(db), "--older-than", "7d", "--project", "a")
    assert (code, out) == (0, f"Deleted 1 sessions of project 'a' (1 events) older than 1w from {db}.\n")
    code, out, _ = run(capsys, "prune", "--db", str(db), "--older-than", "2d")
    assert (code, out) == (0, f"Deleted 1 sessions (1 events) older than 2d from {db}.\n")
    code, out, _ = run(capsys, "sessions", "--db", str(db), "--json")
    assert sorted(r["session_id"] for r in json.loads(out))[-1] == "s-new-a"
    assert len(json.loads(out)) == 2
    victim = session_id(capsys, db)
    code, _, err = run(capsys, "delete", "--db", str(db), victim[:8], "no-such-session")
    assert code == 2
    assert "no session 'no-such-session'" in err
    assert "nothing deleted" in err
    code, out, _ = run(capsys, "delete", "--db", str(db), victim[:8])
    assert (code, out) == (0, f"Deleted 1 sessions (3 events) from {db}.\n")
    store = Store(db, readonly=True)
    assert store.get_session(victim) is None
    assert store.events(victim) == []
    store.close()
    code, _, err = run_usage(capsys, "prune", "--db", str(db), "--older-than", "soon")
    assert code == 2
    assert "expected an age such as 30m, 12h, 7d or 2w" in err


def test_serve_keeps_what_its_retention_says(tmp_path: Path) -> None:
    path = tmp_path / "retained.db"
    store = Store(path)
    now = int(time.time() * 1000)
    for sid, age_days in (("s-old", 40), ("s-new", 2)):
        start = now - age_days * 86_400_000
        event = {"event_type": "tool", "event_name": sid, "start_time": start, "end_time": start + 5}
        store.ingest_batch({"events": [{**event, "session_id": sid, "event_id": f"e-{sid}"}]})
    store.close()
    serve = subprocess.Popen(
        [sys.executable, "-m", "spanhive", "serve", "--port", "0", "--db", str(path), "--retain-days", "30"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        assert "spanhive serve:" in serve.stdout.readline()
        assert serve.stdout.readline().strip() == "spanhive serve: deleted 1 sessions (1 events) older than 30 days"
    finally:
        serve.kill()
        serve.wait(10)
        if serve.stdout is not None:
            serve.stdout.close()
    store = Store(path, readonly=True)
    assert [s["session_id"] for s in store.list_sessions()] == ["s-new"]
    store.close()


def test_spool_options_after_the_action(capsys: pytest.CaptureFixture[str], queued: Path) -> None:
    """``spanhive spool replay --dir X`` was refused: the option only worked before the action."""
    code, out, _ = run(capsys, "spool", "status", "--dir", str(queued))
    assert code == 0
    assert "Queued     2 requests, 2 events" in out


def test_spool_replay_and_doctor_say_why_and_what_to_do(
    capsys: pytest.CaptureFixture[str], queued: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPANHIVE_API_KEY", "k")
    monkeypatch.setenv("SPANHIVE_ENDPOINT", closed_port_url())
    code, out, _ = run(capsys, "spool", "replay", "--dir", str(queued))
    assert code == 1
    assert "Sent 0 requests (0 events delivered)" in out
    assert "2 requests left. Stopped: ConnectionError from http://127.0.0.1:" in out
    assert (
        "[Errno 111] Connection refused. Nothing listens there: start the server, or correct SPANHIVE_ENDPOINT." in out
    )
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    assert "Connection refused. Nothing listens there" in out
    with CaptureServer([401] * 3) as server:
        monkeypatch.setenv("SPANHIVE_ENDPOINT", server.url)
        code, out, _ = run(capsys, "spool", "replay", "--dir", str(queued))
        assert code == 1
        assert "2 requests left. Stopped: HTTP 401" in out or "the API rejected the key" in out
        assert "Check SPANHIVE_API_KEY (or HH_API_KEY)." in out
        code, out, _ = run(capsys, "doctor")
        assert "the API key was rejected. Check SPANHIVE_API_KEY (or HH_API_KEY)." in out
