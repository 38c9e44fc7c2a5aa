"""Faults on the delivery path, on real parts: a full disk (``RLIMIT_FSIZE``), a spool folder deleted under the
exporter, a file-descriptor limit, a flapping and a black-holed backend under the SDK's own processors."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

import spanhive
from spanhive._exporter import STATS_FILES_KEPT
from spanhive._spool import CLAIMED, Spool
from spanhive._stats import Stats
from tests.capture import CaptureServer, SilentServer, free_port
from tests.test_delivery import Recorded, span_ids, span_latencies, spans_of

CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def run_child(code: str, *args: str, timeout_s: float = 120) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=CHILD_ENV,
        timeout=timeout_s,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


DISK_FULL = """
import json, resource, signal, sys, time
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
import spanhive
from spanhive._spool import Spool
from spanhive._stats import Stats

spool = Spool(Path(sys.argv[1]) / "unit", 10**9, Stats())
for i in range(10):
    spool.put(b"old-%d" % i, "identity", 5)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
claim = spool.claim()
resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))
claim.release()                      # its rewrite (one attempt more) fails: the file must stay
durable = [spool.put(b"new-%d" % i, "identity", 5) for i in range(10)]   # these go to memory
claims = []
while (c := spool.claim()) is not None:
    claims.append(c)
bodies = sorted(c.entry.body.decode() for c in claims)
for c in claims[:3]:
    c.release()                      # failing rewrites again, while the disk is still full
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
for c in claims[3:]:
    c.done()
left = []
while (c := spool.claim()) is not None:
    left.append(c.entry.body.decode()); c.done()

# The drainer, replaying to a server that answers 500 while the disk is full, must live on.
exporter = spanhive.SessionExporter(endpoint=sys.argv[2], api_key="k", spool_dir=Path(sys.argv[1]) / "exp")
exporter.spool.put(b'{"events": []}', "identity", 1)
resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))
exporter._drainer.ensure_running()
time.sleep(2.5)
alive = exporter._drainer._thread.is_alive()
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
print(json.dumps({"durable": durable, "bodies": bodies, "left": sorted(left), "stats": spool.stats.snapshot(),
                  "alive": alive, "exporter": exporter.stats.snapshot()}))
"""


def test_a_full_disk_loses_nothing_and_the_drainer_lives_on(tmp_path: Path) -> None:
    with CaptureServer() as server:
        server.fail_with = 500
        out = run_child(DISK_FULL, str(tmp_path), server.url)
        assert len(server.requests) >= 2  # the drainer kept replaying through the failing rewrites
    everything = sorted([f"old-{i}" for i in range(10)] + [f"new-{i}" for i in range(10)])
    assert out["durable"] == [False] * 10  # kept, in memory, and said so
    assert out["bodies"] == everything  # nothing deleted: the claimed file stayed when its rewrite failed
    assert len(out["left"]) == 3  # the three released while the disk was full came back
    assert set(out["left"]) <= set(everything)
    assert out["stats"]["spool_errors"] >= 11  # the rewrite, and each new entry
    assert "dropped" not in out["stats"]
    assert out["alive"]
    assert out["exporter"].get("spool_errors", 0) >= 1


def test_a_deleted_spool_folder_is_made_again(recorded: Recorded, tmp_path: Path) -> None:
    spans = spans_of(recorded, traces=2)
    with CaptureServer() as server:
        server.fail_with = 503
        exporter = spanhive.SessionExporter(endpoint=server.url, api_key="k", spool_dir=tmp_path / "spool")
        assert exporter.export(spans[:4]) is SpanExportResult.SUCCESS
        while (tmp_path / "spool").exists():  # the drainer may be claiming in it right now
            shutil.rmtree(tmp_path / "spool", ignore_errors=True)
        assert exporter.export(spans[4:]) is SpanExportResult.SUCCESS
        assert (tmp_path / "spool").is_dir()  # made again, and the batch in it
        assert exporter.stats.get("spooled") == len(spans)
        assert "dropped" not in exporter.stats.snapshot()
        server.fail_with = None
        assert exporter.force_flush(10_000)
        delivered = server.delivered_event_ids()
        # The first batch went with its folder, unless the drainer had already taken it in hand to retry it.
        assert set(span_ids(spans[4:])) <= set(delivered) <= set(span_ids(spans))


@pytest.mark.parametrize(("written", "now"), [("none", "gzip"), ("gzip", "none")])
def test_a_spooled_request_is_replayed_with_the_compression_it_was_written_with(
    recorded: Recorded, tmp_path: Path, written: str, now: str
) -> None:
    spans = spans_of(recorded, traces=3)
    with CaptureServer() as server:
        server.fail_with = 503
        first = spanhive.SessionExporter(endpoint=server.url, api_key="k", spool_dir=tmp_path, compression=written)
        first.export(spans)
        first.shutdown()
        server.fail_with = None
        second = spanhive.SessionExporter(endpoint=server.url, api_key="k", spool_dir=tmp_path, compression=now)
        assert second.force_flush(10_000)
        replayed = [r for r in server.requests if r.status == 200]
        assert {r.headers.get("content-encoding") for r in replayed} == {"gzip" if written == "gzip" else None}
        assert sorted(server.delivered_event_ids()) == sorted(span_ids(spans))
    assert second.stats.get("replayed") == len(spans)


def test_flush_is_false_when_events_were_dropped_since_the_last_flush(recorded: Recorded, tmp_path: Path) -> None:
    with CaptureServer([400]) as server:
        exporter = spanhive.SessionExporter(endpoint=server.url, api_key="k", spool_dir=tmp_path, compression="none")
        assert exporter.export(spans_of(recorded, traces=1)) is SpanExportResult.FAILURE
        assert exporter.force_flush(5_000) is False  # the spool is empty, but those events never arrived
        assert exporter.force_flush(5_000) is True  # nothing lost since


def test_spool_status_reads_stray_names_and_dead_claims(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10**9, Stats())
    spool.put(b"x", "identity", 2)
    (tmp_path / "notes.req").write_bytes(b"stray")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    spool.put(b"y", "identity", 3)
    (name,) = [p.name for p in tmp_path.glob("*-3.req")]
    os.rename(tmp_path / name, tmp_path / f"{name}{CLAIMED}{dead.stdout.strip()}")
    status = spool.status()
    assert status.oldest_created_s is not None
    assert status.oldest_created_s > time.time() - 60
    assert (status.claimed, status.abandoned) == (0, 1)
    assert spool.recover() == 1
    assert spool.status().abandoned == 0


THREADS = """
import json, os, resource, sys, threading
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import spanhive

memory = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(memory))
with provider.get_tracer("t").start_as_current_span("work"):
    pass
spans = memory.get_finished_spans()
exporter = spanhive.SessionExporter(endpoint=sys.argv[1], api_key="k", spool_dir=sys.argv[2])
results = []
for wave in range(20):                       # 2000 short-lived threads, 100 at a time
    threads = [threading.Thread(target=lambda: results.append(exporter.export(spans))) for _ in range(100)]
    for t in threads: t.start()
    for t in threads: t.join()
def kind(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # the descriptor listdir itself used
        return ""
sockets = sum(kind(fd).startswith("socket:") for fd in os.listdir("/proc/self/fd"))
failures = 0
handles = []
for i in range(500):                         # the application's own files still open
    try:
        handles.append(open(os.path.join(sys.argv[2], f"app-{i}"), "w"))
    except OSError:
        failures += 1
print(json.dumps({"sockets": sockets, "failures": failures, "ok": sum(r.value == 0 for r in results)}))
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts sockets in /proc")
def test_short_lived_threads_share_one_bounded_connection_pool(tmp_path: Path) -> None:
    with CaptureServer() as server:
        out = run_child(THREADS, server.url, str(tmp_path))
    assert out["ok"] == 2000
    assert out["sockets"] <= 4 + 2  # the pool's idle sockets (and the runtime's own), not one per thread
    assert out["failures"] == 0


def test_span_end_stays_fast_with_a_simple_processor_once_the_backend_failed(tmp_path: Path) -> None:
    """Refusing, then black-holed: after the first failure, ending a span costs a spool write, not a deadline."""
    port = free_port()
    exporter = spanhive.SessionExporter(
        endpoint=f"http://127.0.0.1:{port}", api_key="k", spool_dir=tmp_path, timeout_s=120
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("first"):  # connection refused: spooled, the breaker opens
        pass
    with SilentServer(port):  # were any of these exports sent, it would wait out its 120 s deadline
        app = threading.Thread(target=span_latencies, args=(tracer, 300), daemon=True)
        app.start()
        app.join(timeout=60)
        assert not app.is_alive()
        assert exporter.spool is not None
        assert exporter.spool.status().events + exporter.spool.status().claimed >= 300
    exporter.shutdown(timeout_millis=1000)


class Flapping:
    """A backend up for ``period_s``, then answering 503 for ``period_s``, over and over; it keeps only the
    ids of the events it accepted (a capture server would hold 100k decoded events)."""

    def __init__(self, period_s: float) -> None:
        self.accepted: Counter[str] = Counter()
        self.up = True
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per keep-alive request

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = 200 if owner.up else 503
                if status == 200:
                    data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                    ids = [e["event_id"] for e in json.loads(data)["events"] if e["event_type"] != "session"]
                    with owner._lock:
                        owner.accepted.update(ids)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._stop = threading.Event()
        self._period_s = period_s
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _flap(self) -> None:
        while not self._stop.wait(self._period_s):
            self.up = not self.up
        self.up = True

    def __enter__(self) -> Flapping:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self._flapper = threading.Thread(target=self._flap, daemon=True)
        self._flapper.start()
        return self

    def stop_flapping(self) -> None:
        self._stop.set()
        self._flapper.join()

    def __exit__(self, *exc: object) -> None:
        self.stop_flapping()
        self._server.shutdown()
        self._server.server_close()


def test_a_flapping_backend_loses_no_span_to_the_sdk_queue(tmp_path: Path) -> None:
    """100k spans from 8 threads through the default batch processor while the backend flaps 2 s up, 2 s
    down: the exporter never holds an export for long, so the SDK's queue never fills and drops spans."""
    threads, per_thread = 8, 12_500
    with Flapping(2.0) as backend:
        provider = spanhive.configure(
            tracer_provider=TracerProvider(), endpoint=backend.url, api_key="k", spool_dir=tmp_path
        )
        tracer = provider.get_tracer("load")

        def produce() -> None:
            for _i in range(per_thread // 10):
                with tracer.start_as_current_span("request"):
                    for _ in range(9):
                        with tracer.start_as_current_span("step"):
                            pass
                time.sleep(0.01)  # about 6k spans a second in all: a busy service, not a benchmark

        workers = [threading.Thread(target=produce) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        backend.stop_flapping()
        assert provider.force_flush(60_000)
        assert spanhive.flush(timeout_s=120)
        accepted = backend.accepted
    created = threads * per_thread
    assert len(accepted) >= created * 0.999
    assert max(accepted.values()) == 1  # none twice
    provider.shutdown()


def test_stats_files_of_past_processes_do_not_pile_up(tmp_path: Path) -> None:
    for pid in range(100_000, 100_040):
        old = tmp_path / f"stats-{pid}.json"
        old.write_text("{}")
        os.utime(old, (time.time() - 3600, time.time() - 3600))
    exporter = spanhive.SessionExporter(endpoint="http://127.0.0.1:9", api_key="k", spool_dir=tmp_path)
    exporter.shutdown()
    left = sorted(p.name for p in tmp_path.glob("stats-*.json"))
    assert len(left) == STATS_FILES_KEPT
    assert f"stats-{os.getpid()}.json" in left  # this process's counters are the ones kept for sure
