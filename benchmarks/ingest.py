"""OTLP protobuf ingest, side by side on the same requests: ``spanhive serve`` (into its SQLite store),
``spanhive relay`` (to a loopback sink), and Arize Phoenix's own OTLP receiver (``phoenix serve``, into its
SQLite database), each a fresh server in a process of its own, taking turns in a rotating order.

    python -m benchmarks.ingest --phoenix /path/to/venv/bin/phoenix

A run is timed from the first request until every span can be read where the server keeps it (the store's
events table, the sink's count, Phoenix's spans table), since Phoenix answers before it writes. Senders:
4 threads, each posting its share of the requests one after another, waiting out any ``Retry-After``.
Reported per target: spans/s, the server's CPU (user + system, from ``/proc``) per span, the median answer
time of a small request on a keep-alive connection, and the paired ratio spanhive serve / Phoenix per
repetition. Requests hold whole traces (512 spans or a little more), as a Collector's ``groupbytrace`` would
send them, so no trace waits in serve's hold for a root in a later request.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from benchmarks import workloads
from benchmarks.sink import Sink, closed_port_url
from spanhive import _otlp
from spanhive._pipeline import prepare
from spanhive._pipeline.map import Defaults
from spanhive.store import Store

SENDERS = 4
PER_REQUEST = 512
_TICK = os.sysconf("SC_CLK_TCK")


def bodies(spans: Sequence[ReadableSpan]) -> list[bytes]:
    """Protobuf requests of whole traces, about :data:`PER_REQUEST` spans each."""
    traces: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        traces.setdefault(span.context.trace_id, []).append(span)
    out, chunk = [], []
    for trace in traces.values():
        chunk += trace
        if len(chunk) >= PER_REQUEST:
            out.append(encode_spans(chunk).SerializeToString())
            chunk = []
    if chunk:
        out.append(encode_spans(chunk).SerializeToString())
    return out


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _post_all(url: str, requests_: list[bytes]) -> None:
    """Every request answered 200, by :data:`SENDERS` threads; 429/503 are retried after their Retry-After."""
    errors: list[str] = []

    def send(share: list[bytes]) -> None:
        with requests.Session() as session:
            for body in share:
                while True:
                    answer = session.post(
                        url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=120
                    )
                    if answer.status_code in (429, 503):
                        time.sleep(float(answer.headers.get("Retry-After") or 1))
                        continue
                    if answer.status_code != 200:
                        errors.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
                    break

    threads = [threading.Thread(target=send, args=(requests_[i::SENDERS],)) for i in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])


def _wait_until(count: Callable[[], int], expected: int, timeout_s: float = 600) -> None:
    started = time.monotonic()
    while time.monotonic() < started + timeout_s:
        try:
            if count() >= expected:
                return
        except (sqlite3.Error, requests.RequestException):
            pass  # not created yet, or busy
        # Looking often costs the writer little at first; later, less often (a reader can slow a writer).
        time.sleep(0.02 if time.monotonic() - started < 2 else 0.25)
    raise TimeoutError(f"only {count()} of {expected} spans arrived")


def _rows(db: Path, sql: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up")


class _Target:
    name = ""

    def start(self, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Callable[[], int]]:
        """The server process, its OTLP traces URL, and a count of the spans it has kept."""
        raise NotImplementedError


def _free_port() -> int:
    return int(closed_port_url().rsplit(":", 1)[1])


class _Serve(_Target):
    name = "spanhive serve"

    def start(self, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Callable[[], int]]:
        port, db = _free_port(), workdir / "serve.db"
        process = subprocess.Popen(
            [sys.executable, "-m", "spanhive", "serve", "--port", str(port), "--db", str(db)],
            stdout=subprocess.DEVNULL,
            env={**os.environ, "XDG_DATA_HOME": str(workdir)},
        )
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        return (
            process,
            f"http://127.0.0.1:{port}/v1/traces",
            lambda: _rows(db, "SELECT count(*) FROM events WHERE event_type != 'session'"),
        )


class _Relay(_Target):
    name = "spanhive relay"

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def start(self, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Callable[[], int]]:
        self.sink.reset()
        port = _free_port()
        env = {
            **os.environ,
            "SPANHIVE_ENDPOINT": self.sink.url,
            "SPANHIVE_API_KEY": "bench",
            "SPANHIVE_SPOOL_DIR": str(workdir / "spool"),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "spanhive", "relay", "--port", str(port)], stdout=subprocess.DEVNULL, env=env
        )
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        return process, f"http://127.0.0.1:{port}/v1/traces", lambda: int(self.sink.stats()["events"])


class _Phoenix(_Target):
    name = "phoenix serve"

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def start(self, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Callable[[], int]]:
        port = _free_port()
        env = {
            **os.environ,
            "PHOENIX_WORKING_DIR": str(workdir),
            "PHOENIX_PORT": str(port),
            "PHOENIX_GRPC_PORT": str(_free_port()),
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
        process = subprocess.Popen(
            [self.executable, "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        db = workdir / "phoenix.db"
        return process, f"http://127.0.0.1:{port}/v1/traces", lambda: _rows(db, "SELECT count(*) FROM spans")


def _latency_ms(url: str, body: bytes, count: int = 100) -> float:
    """Median answer time of small requests sent one after another on one keep-alive connection, as an SDK's
    exporter sends them (a server that writes headers and body apart with Nagle on stalls each by 40 ms)."""
    times = []
    with requests.Session() as session:
        for _ in range(count):
            started = time.perf_counter()
            session.post(url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=30)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def measure(target: _Target, requests_: list[bytes], spans: int, small: bytes) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="spanhive-ingest-") as tmp:
        process, url, count = target.start(Path(tmp))
        try:
            cpu0, started = _cpu_s(process.pid), time.perf_counter()
            _post_all(url, requests_)
            _wait_until(count, spans)
            wall, cpu = time.perf_counter() - started, _cpu_s(process.pid) - cpu0
            latency = _latency_ms(url, small)
        finally:
            process.terminate()
            process.wait(30)
    return {"spans_per_s": spans / wall, "cpu_us_per_span": cpu / spans * 1e6, "wall_s": wall, "latency_ms": latency}


def stages(requests_: list[bytes], spans: int) -> dict[str, float]:
    """Where ``spanhive serve``'s time goes, in this process: CPU µs per span to decode the requests into
    spans, to run the pipeline's stages over them, and to write the records to a store."""
    clock = time.process_time
    started = clock()
    decoded = [_otlp.spans(_otlp.decode(body, _otlp.PROTOBUF))[0] for body in requests_]
    decode_s, started = clock() - started, clock()
    bodies_ = [prepare(batch, Defaults(), 1 << 62, whole_records=True).bodies for batch in decoded]
    prepare_s = clock() - started
    with tempfile.TemporaryDirectory(prefix="spanhive-ingest-") as tmp:
        store = Store(Path(tmp) / "stages.db")
        started = clock()
        for made in bodies_:
            for body in made:
                store.ingest_records((group.properties, group.events) for group in body.records or ())
        store_s = clock() - started  # the writer thread's CPU is this process's too
        store.close()
    return {
        name: value / spans * 1e6 for name, value in (("decode", decode_s), ("stages", prepare_s), ("store", store_s))
    }


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phoenix", help="the `phoenix` command of a venv with arize-phoenix installed")
    parser.add_argument("--workload", choices=("agent", "small"), default="agent")
    parser.add_argument("--sessions", type=int, default=1000, help="sessions (agent: ~20 spans each; small: 1-3)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    spans = workloads.agent(args.sessions) if args.workload == "agent" else workloads.small(args.sessions)
    requests_ = bodies(spans)
    small = encode_spans(workloads.small(1)).SerializeToString()
    print(
        f"{len(spans)} {args.workload} spans in {len(requests_)} requests, "
        f"{sum(map(len, requests_)) / len(spans):.0f} B/span"
    )
    breakdown = stages(requests_, len(spans))
    print("  spanhive serve's stages, CPU µs/span: " + ", ".join(f"{k} {v:.1f}" for k, v in breakdown.items()))
    with Sink(count_events=True) as sink:
        targets: list[_Target] = [_Serve(), _Relay(sink)]
        if args.phoenix:
            targets.append(_Phoenix(args.phoenix))
        runs: dict[str, list[dict[str, float]]] = {t.name: [] for t in targets}
        for repetition in range(args.repeat):
            order = targets[repetition % len(targets) :] + targets[: repetition % len(targets)]
            for target in order:
                runs[target.name].append(measure(target, requests_, len(spans), small))
                last = runs[target.name][-1]
                print(
                    f"  {repetition + 1}/{args.repeat} {target.name:15} {last['spans_per_s']:9.0f} spans/s "
                    f"{last['cpu_us_per_span']:7.1f} µs CPU/span {last['latency_ms']:6.1f} ms/small request",
                    flush=True,
                )
    summary: dict[str, Any] = {
        name: {key: statistics.median(run[key] for run in values) for key in values[0]} for name, values in runs.items()
    }
    if "phoenix serve" in runs:
        summary["serve_over_phoenix"] = statistics.median(
            s["spans_per_s"] / p["spans_per_s"]
            for s, p in zip(runs["spanhive serve"], runs["phoenix serve"], strict=True)
        )
    result = {"workload": args.workload, "spans": len(spans), "requests": len(requests_), "runs": runs}
    result.update(machine=platform.platform(), stages=breakdown)
    result["summary"] = summary
    out = Path(__file__).parent / "results" / f"ingest-{args.workload}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"saved {out}")
    return result


if __name__ == "__main__":
    main()
