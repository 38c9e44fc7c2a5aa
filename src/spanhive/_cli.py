"""The ``spanhive`` command: read the embedded store from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from spanhive import _config
from spanhive._version import __version__
from spanhive.store import Store, StoreError

EXIT_OK = 0
EXIT_USAGE = 2  # also: unknown session, missing or unreadable database


def _default_db() -> Path:
    settings = _config.resolve()
    return settings.store_path or _config.sqlite_path(_config.default_store_url())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spanhive",
        description="Look at the sessions spanhive stored locally (the embedded SQLite store).",
    )
    parser.add_argument("--version", action="version", version=f"spanhive {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    db_help = "SQLite database to read (default: the embedded store, or SPANHIVE_ENDPOINT if it is sqlite:///…)"
    sessions = commands.add_parser(
        "sessions", help="list recent sessions", description="List recent sessions, newest first."
    )
    sessions.add_argument("--db", type=Path, help=db_help)
    sessions.add_argument("--limit", type=int, default=50, help="how many sessions to list (default: 50)")
    sessions.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sessions.set_defaults(run=_cmd_sessions)

    show = commands.add_parser(
        "show",
        help="show one session's event tree",
        description="Show a session: its properties and its event tree with types, durations and errors.",
    )
    show.add_argument("session_id", metavar="SESSION_ID", help="a session id, or an unambiguous prefix of one")
    show.add_argument("--db", type=Path, help=db_help)
    show.add_argument("--json", action="store_true", help="print the session and its events as JSON")
    show.set_defaults(run=_cmd_show)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except StoreError as exc:
        print(f"spanhive: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `spanhive sessions | head`
        return EXIT_OK
    return code


def _open(args: argparse.Namespace) -> Store:
    return Store(args.db or _default_db(), readonly=True)


def _cmd_sessions(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        rows = store.list_sessions(limit=max(1, args.limit))
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        print(f"No sessions in {store.path}.")
        return EXIT_OK
    table = [("SESSION ID", "NAME", "SOURCE", "START", "DURATION", "EVENTS", "ERRORS")]
    table.extend(
        (
            row["session_id"],
            _clip(row["session_name"] or "-", 40),
            _clip(row["source"] or "-", 16),
            _when(row["start_time"]),
            _duration(_span_ms(row)),
            str(row["event_count"]),
            str(row["error_count"]),
        )
        for row in rows
    )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        session_id = store.find_session_id(args.session_id)
        session = store.get_session(session_id) if session_id else None
    finally:
        store.close()
    if session is None:
        print(f"spanhive: no session {args.session_id!r} in {store.path}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(session, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"Session  {session['session_id']}")
    print(f"Name     {session['session_name'] or '-'}")
    print(f"Source   {session['source'] or '-'}    Project  {session['project'] or '-'}")
    print(f"Start    {_when(session['start_time'])}    Duration  {_duration(_span_ms(session))}")
    print(f"Events   {session['event_count']}    Errors  {session['error_count']}")
    if session["user_properties"]:
        print(f"User     {_inline(session['user_properties'])}")
    if session["error"]:
        print(f"Error    {session['error']}")
    print()
    for line in _tree(session["events"], session["session_id"]):
        print(line)
    return EXIT_OK


def _tree(events: list[dict[str, Any]], session_id: str) -> list[str]:
    """Events as an aligned tree; an event whose parent is not stored hangs at the top level."""
    ids = {e["event_id"] for e in events}
    # Siblings that start within the same millisecond keep the exporter's exact order (children_ids).
    rank = {child: i for e in events for i, child in enumerate(e["children_ids"] or ())}
    children: dict[str, list[dict[str, Any]]] = {}
    for event in sorted(events, key=lambda e: (e["start_time"] or 0, rank.get(e["event_id"], 0))):
        parent = event["parent_id"] if event["parent_id"] in ids else session_id
        children.setdefault(parent, []).append(event)
    rows: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()

    def walk(parent: str, prefix: str) -> None:
        kids = [e for e in children.get(parent, []) if e["event_id"] not in seen]  # bad data may loop
        for i, event in enumerate(kids):
            seen.add(event["event_id"])
            last = i == len(kids) - 1
            label = f"{event['event_type'] or '?':<5}  {_clip(event['event_name'] or '-', 48)}"
            rows.append((prefix + ("└─ " if last else "├─ ") + label, event))
            walk(event["event_id"], prefix + ("   " if last else "│  "))

    walk(session_id, "")
    width = max((len(label) for label, _ in rows), default=0)
    return [
        f"{label:<{width}}  {_duration(event['duration']):>9}"
        + (f"  ERROR: {_clip(event['error'], 100)}" if event["error"] else "")
        for label, event in rows
    ]


def _span_ms(row: dict[str, Any]) -> Optional[float]:
    start, end = row.get("start_time"), row.get("end_time")
    return None if start is None or end is None else float(end - start)


def _when(ms: Optional[float]) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _duration(ms: Optional[float]) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _inline(value: Any) -> str:
    return _clip(json.dumps(value, ensure_ascii=False, default=str), 100)
