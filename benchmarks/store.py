"""The local store at size: a store of 1M events (50k sessions of 20), then how long the viewer's session list
and ``spanhive sessions`` take to answer, with and without filters.

    python -m benchmarks.store [--events 1000000] [--per-session 20] [--db PATH]

The store is built once into ``--db`` (kept, so a second run measures at once). Each figure is the median
of 20 answers, wall time: the list page over HTTP from a ``spanhive serve`` in a process of its own, and
``spanhive sessions`` as a command (a fresh process: its start-up is reported apart).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import requests

from spanhive.store import Store

REPEAT = 20


def build(path: Path, events: int, per_session: int) -> None:
    """``events`` events in sessions of ``per_session``: a chain, model calls with token counts and a cost,
    tools, one error in ten sessions; over the last 30 days."""
    store = Store(path)
    now = int(time.time() * 1000)
    sessions = events // per_session
    for first in range(0, sessions, 500):
        batch: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        for n in range(first, min(sessions, first + 500)):
            sid = f"{n:08x}-0000-4000-8000-{n:012x}"
            start = now - (sessions - n) * (30 * 86_400_000 // sessions)
            props = {"session_id": sid, "session_name": f"chat {n}", "user_properties": {"user_id": f"u{n % 97}"}}
            events_: list[dict[str, Any]] = []
            for i in range(per_session):
                kind = "chain" if i == 0 else ("model" if i % 3 == 1 else "tool")
                events_.append(
                    {
                        "event_id": f"{n:08x}-{i:04x}-4000-8000-{n:012x}",
                        "session_id": sid,
                        "parent_id": sid if i == 0 else f"{n:08x}-0000-4000-8000-{n:012x}",
                        "project": f"project-{n % 5}",
                        "source": "bench",
                        "event_name": f"step {i}",
                        "event_type": kind,
                        "start_time": start + i * 10,
                        "end_time": start + i * 10 + 8,
                        "duration": 8.0,
                        "error": "ValueError: boom" if i == per_session - 1 and n % 10 == 0 else None,
                        "inputs": {"chat_history": [{"role": "user", "content": f"question {n}-{i}"}]},
                        "outputs": {"content": f"answer {n}-{i}"},
                        "metadata": {"total_tokens": 120, "cost": 0.0004} if kind == "model" else {},
                    }
                )
            batch.append((props, events_))
        store.ingest_records(batch)
    store.close()


def _median_ms(call: Any) -> float:
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def main(argv: Optional[list[str]] = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--per-session", type=int, default=20)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "spanhive-bench-store.db")
    args = parser.parse_args(argv)
    if not args.db.exists():
        started = time.perf_counter()
        build(args.db, args.events, args.per_session)
        print(f"built {args.events} events in {time.perf_counter() - started:.0f} s: {args.db}")
    store = Store(args.db, readonly=True)
    counted = store._query("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM sessions)")[0]
    store.close()
    print(f"{counted[0]} events in {counted[1]} sessions, {args.db.stat().st_size / 1e6:.0f} MB")
    serve = subprocess.Popen(
        [sys.executable, "-m", "spanhive", "serve", "--port", "0", "--db", str(args.db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    figures: dict[str, float] = {}
    try:
        assert serve.stdout is not None
        url = serve.stdout.readline().split()[2]
        with requests.Session() as http:
            for name, query in (
                ("list page", ""),
                ("list page, errors only", "?errors=1"),
                ("list page, one project", "?project=project-3"),
                ("list page, last 24 hours", "?since=24h"),
                ("list page, text search", "?q=chat+4242"),
            ):
                figures[name] = _median_ms(lambda q=query: http.get(url + "/" + q, timeout=60).raise_for_status())
    finally:
        serve.terminate()
        serve.wait(30)
        if serve.stdout is not None:
            serve.stdout.close()
    cli = [sys.executable, "-m", "spanhive", "sessions", "--db", str(args.db)]
    figures["python -c pass (start-up)"] = _median_ms(
        lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)
    )
    figures["spanhive sessions"] = _median_ms(lambda: subprocess.run(cli, check=True, capture_output=True))
    figures["spanhive sessions --errors"] = _median_ms(
        lambda: subprocess.run([*cli, "--errors"], check=True, capture_output=True)
    )
    for name, ms in figures.items():
        print(f"  {name:32} {ms:8.1f} ms")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
