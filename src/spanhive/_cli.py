"""The ``spanhive`` command: the embedded store, the spool and the configuration, from a terminal."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from spanhive import _config
from spanhive import environment_variables as ev
from spanhive._config import Settings
from spanhive._version import __version__
from spanhive.exceptions import ConfigError
from spanhive.server import DEFAULT_HOST, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, DEFAULT_RELAY_PORT
from spanhive.store import Store, StoreError

if TYPE_CHECKING:
    from spanhive import _transfer
    from spanhive._spool import Spool

# The commands that deliver, serve or move data load what they need when they run (the imports marked
# PLC0415 below): the exporter's dependencies take a few hundred milliseconds to import, and `spanhive
# sessions` over a store of a million events answers in less.

EXIT_OK = 0
EXIT_USAGE = 2  # also: unknown session, missing or unreadable database


def _db(text: str) -> Path:
    """``--db``: a path, or a ``sqlite:`` URL as ``SPANHIVE_ENDPOINT`` takes it (the same rule)."""
    return _config.sqlite_path(text)


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

    db_help = "the store: a path or a sqlite: URL (default: SPANHIVE_ENDPOINT if it is one, else the embedded store)"
    sessions = commands.add_parser(
        "sessions", help="list recent sessions", description="List recent sessions, newest first."
    )
    sessions.add_argument("--db", type=_db, help=db_help)
    sessions.add_argument("--limit", type=int, default=50, help="how many sessions to list (default: 50)")
    sessions.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sessions.add_argument("--project", help="only this project's sessions")
    sessions.add_argument("--user", help="only sessions whose user properties contain this text")
    sessions.add_argument("--errors", action="store_true", help="only sessions with an error")
    sessions.add_argument(
        "--since", type=_since, help="only sessions started since: a duration back from now (30m, 12h, 7d) or a date"
    )
    sessions.add_argument("--search", help="only sessions whose name, id, user, inputs or outputs contain this text")
    sessions.set_defaults(run=_cmd_sessions)

    _add_data_commands(commands, db_help)

    show = commands.add_parser(
        "show",
        help="show one session's event tree",
        description="Show a session: its properties and its event tree with types, durations and errors.",
    )
    show.add_argument("session_id", metavar="SESSION_ID", help="a session id, or an unambiguous prefix of one")
    show.add_argument("--db", type=_db, help=db_help)
    show.add_argument("--json", action="store_true", help="print the session and its events as JSON")
    show.set_defaults(run=_cmd_show)

    spool = commands.add_parser(
        "spool",
        help="inspect, replay or empty the durable spool",
        description="The spool keeps requests that could not be delivered, until they can be.",
    )
    dir_help = "spool directory (default: SPANHIVE_SPOOL_DIR, else the per-user one for the endpoint)"
    spool.add_argument("--dir", type=Path, help=dir_help)
    # `--dir` after the action too (`spool replay --dir X`); SUPPRESS keeps one given before it.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--dir", type=Path, default=argparse.SUPPRESS, help=dir_help)
    actions = spool.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "status", parents=[after], help="queued requests, bytes, events, oldest", description="Show what is queued."
    )
    replay = actions.add_parser(
        "replay",
        parents=[after],
        help="send everything queued now",
        description="Send every queued request to the configured endpoint now, oldest first, with progress.",
    )
    replay.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per request (default: 10)")
    purge = actions.add_parser(
        "purge",
        parents=[after],
        help="delete everything queued",
        description="Delete every queued request (asks first).",
    )
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    spool.set_defaults(run=_cmd_spool)

    doctor = commands.add_parser(
        "doctor",
        help="show the resolved configuration and check the endpoint",
        description="Show the configuration spanhive resolves here (API key masked), check that the endpoint "
        "answers, and show the spool and the counters that exporters left in it.",
    )
    doctor.set_defaults(run=_cmd_doctor)

    serve = commands.add_parser(
        "serve",
        help="run the local ingest API and session viewer",
        description="Serve a HoneyHive-compatible ingest API (POST /events/batch, …) and a session viewer at / "
        "over the embedded store. Point SessionExporter(endpoint=...) at it.",
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default: {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 picks one)")
    serve.add_argument("--db", type=_db, help="SQLite database to store into (default: the embedded store)")
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name to serve without a key besides loopback's (repeatable; DNS-rebinding guard)",
    )
    serve.add_argument(
        "--retain-days",
        type=_days,
        help="delete sessions that started longer ago than this many days: at start, then every hour",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest request body accepted, before and after gzip (default: {DEFAULT_MAX_BODY_BYTES})",
    )
    serve.set_defaults(run=_cmd_serve)

    relay = commands.add_parser(
        "relay",
        help="receive OTLP/HTTP and forward it to HoneyHive",
        description="Receive OTLP/HTTP traces (POST /v1/traces, protobuf or JSON) from any OpenTelemetry SDK or "
        "the Collector, and forward them as sessions to the endpoint configured as for the exporter "
        "(SPANHIVE_API_KEY, SPANHIVE_ENDPOINT, SPANHIVE_PROJECT, …), with its retries and durable spool. "
        "A request is answered 200 only once it is delivered or on disk.",
    )
    relay.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default: {DEFAULT_HOST})")
    relay.add_argument(
        "--port", type=int, default=DEFAULT_RELAY_PORT, help=f"port (default: {DEFAULT_RELAY_PORT}; 0 picks one)"
    )
    relay.add_argument(
        "--reuse-port",
        action="store_true",
        help="let several relay processes listen on the same port (SO_REUSEPORT; the kernel spreads connections)",
    )
    relay.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest request body accepted, before and after gzip (default: {DEFAULT_MAX_BODY_BYTES})",
    )
    relay.set_defaults(run=_cmd_relay)
    return parser


def _add_data_commands(commands: Any, db_help: str) -> None:
    """The commands that change the store: ``delete`` and ``prune``."""
    delete = commands.add_parser(
        "delete", help="delete sessions", description="Delete sessions and their events from the store."
    )
    delete.add_argument("session_ids", nargs="+", metavar="SESSION_ID", help="session ids, or unambiguous prefixes")
    delete.add_argument("--db", type=_db, help=db_help)
    delete.set_defaults(run=_cmd_delete)

    prune = commands.add_parser(
        "prune",
        help="delete old sessions",
        description="Delete the sessions that started longer ago than --older-than, and their events.",
    )
    prune.add_argument("--older-than", required=True, type=_duration_s, help="an age: 30m, 12h, 7d, 2w")
    prune.add_argument("--project", help="only this project's sessions")
    prune.add_argument("--db", type=_db, help=db_help)
    prune.set_defaults(run=_cmd_prune)

    export = commands.add_parser(
        "export",
        help="write sessions out as JSON lines",
        description="Write sessions, one JSON document per line: HoneyHive batch bodies (json, lossless) or "
        "OTLP/JSON trace requests (otlp-json, as the Collector's file exporter writes them).",
    )
    export.add_argument("session_ids", nargs="*", metavar="SESSION_ID", help="session ids, or unambiguous prefixes")
    export.add_argument("--all", action="store_true", help="every session in the store")
    export.add_argument("--format", choices=("json", "otlp-json"), default="json", help="default: json")
    export.add_argument("-o", "--output", type=Path, help="the file to write (default: standard output)")
    export.add_argument("--db", type=_db, help=db_help)
    export.set_defaults(run=_cmd_export)

    imports = commands.add_parser(
        "import",
        help="read sessions from JSON lines files",
        description="Store what files of JSON lines hold: batch bodies (spanhive export) or OTLP/JSON trace "
        "requests (spanhive export --format otlp-json, the Collector's file exporter). Importing twice stores "
        "once.",
    )
    imports.add_argument("files", nargs="+", type=Path, metavar="FILE", help="files to read ('-': standard input)")
    imports.add_argument("--db", type=_db, help="the store to write into (default: as for the other commands)")
    imports.set_defaults(run=_cmd_import)


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
        rows = store.list_sessions(
            limit=max(1, args.limit),
            text=args.search,
            errors_only=args.errors,
            project=args.project,
            user=args.user,
            since_ms=args.since,
        )
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        filtered = args.search or args.errors or args.project or args.user or args.since is not None
        print(f"No sessions {'match those filters ' if filtered else ''}in {store.path}.")
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
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)).rstrip())
    return EXIT_OK


def _cmd_delete(args: argparse.Namespace) -> int:
    store = Store(args.db or _default_db())
    try:
        ids = [store.find_session_id(prefix) for prefix in args.session_ids]
        unknown = [prefix for prefix, found in zip(args.session_ids, ids, strict=True) if found is None]
        if unknown:
            print(
                f"spanhive: no session {', '.join(map(repr, unknown))} in {store.path}; nothing deleted",
                file=sys.stderr,
            )
            return EXIT_USAGE
        sessions, events = store.delete_sessions(i for i in ids if i is not None)
    finally:
        store.close()
    print(f"Deleted {sessions} sessions ({events} events) from {store.path}.")
    return EXIT_OK


def _cmd_prune(args: argparse.Namespace) -> int:
    store = Store(args.db or _default_db())
    try:
        sessions, events = store.prune(int((time.time() - args.older_than) * 1000), project=args.project)
    finally:
        store.close()
    scope = f" of project {args.project!r}" if args.project else ""
    print(f"Deleted {sessions} sessions{scope} ({events} events) older than {_age(args.older_than)} from {store.path}.")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from spanhive import _transfer  # noqa: PLC0415 - see the imports

    if bool(args.session_ids) == args.all:
        print("spanhive: name the sessions to export, or pass --all", file=sys.stderr)
        return EXIT_USAGE
    store = _open(args)
    try:
        ids = store.session_ids() if args.all else [store.find_session_id(p) for p in args.session_ids]
        unknown = [prefix for prefix, found in zip(args.session_ids, ids, strict=False) if found is None]
        if unknown:
            print(f"spanhive: no session {', '.join(map(repr, unknown))} in {store.path}", file=sys.stderr)
            return EXIT_USAGE
        found = [i for i in ids if i is not None]
        documents = _transfer.batches(store, found) if args.format == "json" else _transfer.otlp_requests(store, found)
        out = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
        try:
            count = 0
            for document in documents:
                out.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
                count += 1
        finally:
            if args.output:
                out.close()
    finally:
        store.close()
    if args.output:
        print(f"Wrote {count} sessions to {args.output} ({args.format}).", file=sys.stderr)
    return EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    from spanhive import _transfer  # noqa: PLC0415 - see the imports

    store = Store(args.db or _default_db())
    total = _transfer.Imported()
    try:
        for path in args.files:
            try:
                handle = sys.stdin.buffer if str(path) == "-" else path.open("rb")
            except OSError as exc:
                print(f"spanhive: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
                return EXIT_USAGE
            with handle:
                size = 0 if str(path) == "-" else path.stat().st_size
                done = _transfer.import_lines(store, enumerate(handle, 1), _progress(path, handle, size))
            for why in done.skipped:
                print(f"spanhive: {path}: {why}; skipped", file=sys.stderr)
            total.batches += done.batches
            total.otlp_requests += done.otlp_requests
            total.events += done.events
            total.spans += done.spans
            total.skipped += done.skipped
    finally:
        store.close()
    skipped = f"; {len(total.skipped)} lines skipped" if total.skipped else ""
    print(
        f"Imported {total.batches} batches ({total.events} events) and {total.otlp_requests} OTLP requests "
        f"({total.spans} spans) into {store.path}{skipped}."
    )
    return EXIT_OK if not total.skipped else 1


def _progress(path: Path, handle: Any, size: int) -> Optional[Callable[[_transfer.Imported], None]]:
    """A progress line on a terminal's stderr, at most ten times a second, for a file of known size."""
    if not size or not sys.stderr.isatty():
        return None
    shown = [0.0]

    def show(done: _transfer.Imported) -> None:
        now = time.monotonic()
        if now - shown[0] >= 0.1:
            shown[0] = now
            share = min(1.0, handle.tell() / size)
            bar = "#" * int(share * 30)
            print(f"\r  {path.name} [{bar:<30}] {share:4.0%}", end="", file=sys.stderr, flush=True)

    return show


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _duration_s(text: str) -> float:
    """``30m``, ``12h``, ``7d``, ``2w`` (or plain seconds) in seconds."""
    value, unit = (text[:-1], text[-1]) if text[-1:].lower() in _UNITS else (text, "s")
    try:
        seconds = float(value) * _UNITS[unit.lower()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an age such as 30m, 12h, 7d or 2w, not {text!r}") from None
    if not 0 <= seconds < 1e10:
        raise argparse.ArgumentTypeError(f"expected an age such as 30m, 12h, 7d or 2w, not {text!r}")
    return seconds


def _days(text: str) -> float:
    """``--retain-days``: a positive number of days."""
    try:
        days = float(text)
    except ValueError:
        days = math.nan
    if not 0 < days < 1e6:
        raise argparse.ArgumentTypeError(f"expected a positive number of days, not {text!r}")
    return days


def _since(text: str) -> int:
    """``--since``: a duration back from now, or a date (``2026-12-01``, ``2026-12-01T09:30``), as epoch ms."""
    try:
        return int((time.time() - _duration_s(text)) * 1000)
    except argparse.ArgumentTypeError:
        pass
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration (30m, 12h, 7d) or a date (2026-12-01), not {text!r}"
        ) from None


def _age(seconds: float) -> str:
    unit = next(u for u in ("w", "d", "h", "m", "s") if seconds >= _UNITS[u] or u == "s")
    return f"{seconds / _UNITS[unit]:g}{unit}"


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


def _spool_for(args: argparse.Namespace) -> tuple[Spool, Settings]:
    from spanhive._spool import Spool  # noqa: PLC0415 - see the imports
    from spanhive._stats import Stats  # noqa: PLC0415 - see the imports

    settings = _config.resolve()
    directory = args.dir or settings.spool_dir or _config.default_spool_dir(settings.endpoint)
    return Spool(directory, settings.spool_max_bytes, Stats()), settings


def _cmd_spool(args: argparse.Namespace) -> int:
    spool, settings = _spool_for(args)
    if args.action == "status":
        _print_spool(spool)
        return EXIT_OK
    if args.action == "purge":
        status = spool.status()
        if not args.yes:
            if not sys.stdin.isatty():
                print("spanhive: refusing to purge without confirmation; pass --yes", file=sys.stderr)
                return EXIT_USAGE
            answer = input(f"Delete {status.files} queued requests ({status.events} events)? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("Nothing deleted.")
                return EXIT_OK
        print(f"Deleted {spool.purge()} requests.")
        return EXIT_OK
    return _replay(spool, settings, args.timeout)


def _replay(spool: Spool, settings: Settings, timeout_s: float) -> int:
    from spanhive._pipeline.deliver import LOST, Delivery, Result  # noqa: PLC0415 - see the imports
    from spanhive._pipeline.drain import replay  # noqa: PLC0415 - see the imports
    from spanhive._pipeline.sinks import Sink  # noqa: PLC0415 - see the imports
    from spanhive._pipeline.sinks.http import HttpSink  # noqa: PLC0415 - see the imports
    from spanhive._pipeline.sinks.store import StoreSink  # noqa: PLC0415 - see the imports
    from spanhive._retry import Retrier  # noqa: PLC0415 - see the imports

    if settings.disabled:
        print(f"spanhive: the exporter is disabled here ({settings.disabled_reason}); nothing sent", file=sys.stderr)
        return EXIT_USAGE
    spool.recover()
    total = spool.status()
    sink: Sink = StoreSink(settings) if settings.store_path is not None else HttpSink(settings)
    delivery = Delivery(sink, spool, spool.stats, Retrier(), max_retry_after_s=settings.max_retry_after_s)
    started = time.monotonic()
    sent = 0
    why = ""
    print(f"Replaying {total.files} requests ({total.events} events) to {_config.shown(settings.endpoint)}")
    try:
        while (claim := spool.claim()) is not None:
            result = replay(delivery, claim, time.monotonic() + timeout_s, retry=True)
            if result is Result.FAILED:
                detail = delivery.blocked_because or delivery.last_detail or "the endpoint is failing"
                why = f". Stopped: {detail}. {advice(detail)}"
                break  # the endpoint is failing: stop rather than hammer it
            sent += result not in (Result.BOUNCED, Result.REFUSED)
            print(f"  {sent}/{total.files} requests, {spool.stats.get('replayed')} events", end="\r", flush=True)
    finally:
        delivery.close()
    elapsed = time.monotonic() - started
    left = spool.status()
    stats = spool.stats
    rate = stats.get("replayed") / elapsed if elapsed > 0 else 0.0
    lost = ", ".join(f"{stats.get(name)} {name}" for name in LOST if stats.get(name))
    if not why and left.claimed:
        why = f" ({left.claimed} more in flight: another process holds them, sending them right now)"
    elif not why and left.files:
        why = " (the server answered them with an error; they are retried, up to 5 times each)"
    print(
        f"\nSent {sent} requests ({stats.get('replayed')} events delivered) in {elapsed:.1f} s ({rate:.0f} events/s); "
        f"{lost + '; ' if lost else ''}{left.files} requests left{why}".rstrip(".")
        + "."
    )
    return EXIT_OK if not why and not lost else 1


_ADVICE = (
    ("Connection refused", "Nothing listens there: start the server, or correct SPANHIVE_ENDPOINT."),
    ("CERTIFICATE", "TLS verification failed: point REQUESTS_CA_BUNDLE at your CA bundle, or correct the host."),
    ("SSL", "The TLS handshake failed: is the endpoint https:// on a port that speaks TLS?"),
    ("Name or service not known", "The host name does not resolve: correct SPANHIVE_ENDPOINT, or check DNS."),
    ("resolution", "The host name does not resolve: correct SPANHIVE_ENDPOINT, or check DNS."),
    ("timed out", "No answer in time: check the network, or raise SPANHIVE_EXPORT_TIMEOUT_SECONDS."),
    ("rejected the key", "Check SPANHIVE_API_KEY (or HH_API_KEY)."),
    ("HTTP 401", "Check SPANHIVE_API_KEY (or HH_API_KEY)."),
    ("HTTP 403", "Check SPANHIVE_API_KEY (or HH_API_KEY)."),
    ("endpoint is wrong", "SPANHIVE_ENDPOINT is the API's base URL, e.g. https://api.honeyhive.ai."),
    ("429", "The server asked to wait: run this again later."),
    ("HTTP 5", "The server failed: run this again later; nothing is lost meanwhile."),
)


def advice(detail: str) -> str:
    """What to do about a failure, from its description (an HTTP status, a connection error)."""
    return next((fix for marker, fix in _ADVICE if marker in detail), "Check the endpoint with `spanhive doctor`.")


def _print_spool(spool: Spool) -> None:
    status = spool.status()
    oldest = _when(status.oldest_created_s * 1000) if status.oldest_created_s else "-"
    print(f"Spool      {spool.directory}")
    print(f"Queued     {status.files} requests, {status.events} events, {status.bytes} bytes (cap {spool.max_bytes})")
    print(f"Oldest     {oldest}")
    print(f"In flight  {status.claimed}    Abandoned  {status.abandoned}    Quarantined  {status.quarantined}")


def _cmd_doctor(args: argparse.Namespace) -> int:
    from spanhive import _build, _gzip, _json  # noqa: PLC0415 - see the imports
    from spanhive._spool import Spool  # noqa: PLC0415 - see the imports
    from spanhive._stats import Stats  # noqa: PLC0415 - see the imports
    from spanhive.mapping import _prices  # noqa: PLC0415 - see the imports

    settings = _config.resolve()
    print(f"spanhive {__version__}")
    print(f"Endpoint   {_config.shown(settings.endpoint) or '-'}")
    print(f"API key    {_config.masked(settings.api_key)}")
    print(
        f"Project    {settings.project or '(from service.name)'}    Source  {settings.source or '(from the resource)'}"
    )
    gzip = f" ({_gzip.BACKEND})" if settings.compression == "gzip" else ""
    print(f"Deadline   {settings.timeout_s:g} s    Compression  {settings.compression}{gzip}    JSON  {_json.BACKEND}")
    print(f"Build      {_build.NAME}")
    print(f"Prices     {_prices.SOURCE or 'none: model calls without a cost get none (spanhive[prices] adds them)'}")
    if settings.disabled:
        print(f"Status     disabled ({settings.disabled_reason})")
    reachable = _check(settings)
    print(f"Reachable  {reachable}")
    if settings.spool_dir is not None:
        spool = Spool(settings.spool_dir, settings.spool_max_bytes, Stats())
        _print_spool(spool)
        for path in sorted(settings.spool_dir.glob("stats-*.json")) if settings.spool_dir.is_dir() else []:
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            counters = ", ".join(f"{k} {v}" for k, v in sorted(record.get("counters", {}).items())) or "nothing"
            print(f"Process {record.get('pid')} ({_when(record.get('time', 0) * 1000)}): {counters}")
    else:
        print("Spool      off")
    return EXIT_OK if not settings.disabled and reachable.startswith("yes") else 1


def _check(settings: Settings) -> str:
    """Whether the destination takes batches: the store opens, or the API answers an empty batch on the
    route the exporter posts to (a ``404``/``405`` there means the endpoint itself is wrong)."""
    import requests  # noqa: PLC0415 - see the imports

    from spanhive._pipeline.deliver import MISROUTED_STATUSES  # noqa: PLC0415 - see the imports
    from spanhive._pipeline.sinks import BATCH_PATH  # noqa: PLC0415 - see the imports
    from spanhive._pipeline.sinks.http import reason  # noqa: PLC0415 - see the imports

    if settings.store_path is not None:
        try:
            Store(settings.store_path).close()
        except StoreError as exc:
            return f"no: {exc}"
        return f"yes (embedded store at {settings.store_path})"
    if not settings.endpoint:
        return "no endpoint"
    url = settings.endpoint + BATCH_PATH
    where = _config.shown(url)
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    try:
        response = requests.post(url, json={"events": []}, headers=headers, timeout=5, allow_redirects=False)
    except requests.RequestException as exc:
        detail = f"{type(exc).__name__} from {where}: {reason(exc)}"
        return f"no: {detail}. {advice(detail)}"
    status = response.status_code
    if status in MISROUTED_STATUSES:
        return (
            f"no: HTTP {status} from {where}: there is no such route, so the endpoint is wrong. SPANHIVE_ENDPOINT "
            "is the API's base URL (e.g. https://api.honeyhive.ai); batches wait in the spool until it is fixed"
        )
    if status in (401, 403):
        return f"no: HTTP {status} from {where}: the API key was rejected. {advice('HTTP 401')}"
    if status >= 500:
        return f"no: HTTP {status} from {where}. {advice('HTTP 500')}"
    return f"yes (HTTP {status} for an empty batch at {where})"


def _cmd_serve(args: argparse.Namespace) -> int:
    from spanhive.server import IngestServer  # noqa: PLC0415 - see the imports

    key = _serve_key()
    if key == "":
        return EXIT_USAGE
    _warn_if_open(args.host, key, "read and write your sessions on")
    store = Store(args.db or _default_db())
    try:
        server = IngestServer(
            store, args.host, args.port, key, args.max_body_bytes, allow_hosts=[*args.allow_host, args.host]
        )
    except OSError as exc:
        print(f"spanhive: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"spanhive serve: {server.url}  (store {store.path}; Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    if args.retain_days is not None:
        threading.Thread(
            target=_retain, args=(store, args.retain_days, stop), name="spanhive-retain", daemon=True
        ).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        store.close()
    return EXIT_OK


RETAIN_EVERY_S = 3600.0


def _retain(store: Store, days: float, stop: threading.Event) -> None:
    """``serve --retain-days``: prune now, then every :data:`RETAIN_EVERY_S`, until ``stop``."""
    while not stop.is_set():
        try:
            sessions, events = store.prune(int((time.time() - days * 86400) * 1000))
        except StoreError as exc:
            print(f"spanhive serve: could not prune the store: {exc}", file=sys.stderr, flush=True)
        else:
            if sessions:
                print(
                    f"spanhive serve: deleted {sessions} sessions ({events} events) older than {days:g} days",
                    flush=True,
                )
        stop.wait(RETAIN_EVERY_S)


def _cmd_relay(args: argparse.Namespace) -> int:
    from spanhive._exporter import SessionExporter  # noqa: PLC0415 - only this command builds an exporter
    from spanhive.server._relay import RelayServer  # noqa: PLC0415 - see the imports

    key = _serve_key()
    if key == "":
        return EXIT_USAGE
    _warn_if_open(args.host, key, "send traces through")
    try:
        exporter = SessionExporter(flush_on_sigterm=False)
    except ConfigError as exc:
        print(f"spanhive: {exc}", file=sys.stderr)
        return EXIT_USAGE
    settings = exporter.settings
    problem = None
    if settings.disabled:
        problem = f"the exporter is disabled ({settings.disabled_reason})"
    elif settings.store_path is not None:
        problem = "no endpoint to relay to: set SPANHIVE_API_KEY (and SPANHIVE_ENDPOINT for a server of your own)"
    elif exporter.spool is None or not exporter.spool.usable:
        problem = "a relay needs a writable spool for what it acknowledges: set SPANHIVE_SPOOL_DIR"
    if problem is not None:
        exporter.shutdown()
        print(f"spanhive relay: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        server = RelayServer(exporter, args.host, args.port, key, args.max_body_bytes, reuse_port=args.reuse_port)
    except OSError as exc:
        exporter.shutdown()
        print(f"spanhive: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"spanhive relay: {server.url}/v1/traces -> {_config.shown(settings.endpoint)} (project {settings.project}; "
        f"spool {settings.spool_dir}; Ctrl-C to stop)",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)  # a container's stop: shut down as for Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _serve_key() -> Optional[str]:
    """``SPANHIVE_SERVE_API_KEY``; ``""`` (after saying why) when it is set but empty, which would let anyone in."""
    key = os.environ.get(ev.SPANHIVE_SERVE_API_KEY)
    if key is not None and not key.strip():
        print(f"spanhive: {ev.SPANHIVE_SERVE_API_KEY} is set but empty: give a key, or unset it", file=sys.stderr)
        return ""
    return key


def _warn_if_open(host: str, api_key: Optional[str], what: str) -> None:
    from spanhive.server import is_loopback  # noqa: PLC0415 - see the imports

    if api_key is None and not is_loopback(host):
        print(
            f"spanhive: WARNING: listening on {host} without a key ({ev.SPANHIVE_SERVE_API_KEY}): anyone who "
            "can reach this address can "
            f"{what} this server",
            file=sys.stderr,
        )


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
