"""Delivery under an outage: spool replay rate, shutdown time with a dead backend, memory over 200k spans.

    python -m benchmarks.delivery

1. *Replay*: batches of the ``small`` workload are exported into a dead endpoint (all spooled), then
   ``spanhive spool replay`` sends them to a loopback sink; events per second, wall clock.
2. *Shutdown*: a ``BatchSpanProcessor`` holding spans, the backend answering 503, ``provider.shutdown()``
   with ``timeout_millis=2000``: how long it takes, and what is left in the spool.
3. *Memory*: 200k spans exported into a dead backend with a 50 MiB spool cap, and 200k spans to a live sink:
   peak RSS at 50k and at 200k spans. Each runs first, in a process of its own: peak RSS only grows, and a
   child starts from its parent's (the replay step alone takes this process past 120 MiB).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import spanhive
from benchmarks.sink import Sink, closed_port_url
from benchmarks.workloads import small

ROOT = Path(__file__).resolve().parent.parent


def replay_rate(workdir: Path) -> dict[str, float]:
    spool = workdir / "spool"
    spans = small(12_000)
    exporter = spanhive.SessionExporter(endpoint=closed_port_url(), api_key="k", spool_dir=spool, timeout_s=0.05)
    for i in range(0, len(spans), 512):
        exporter.export(spans[i : i + 512])
    exporter.shutdown()
    with Sink(count_events=True) as sink:
        env = {**os.environ, "SPANHIVE_SPOOL_DIR": str(spool), "SPANHIVE_ENDPOINT": sink.url, "SPANHIVE_API_KEY": "k"}
        started = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "spanhive", "spool", "replay"], env=env, capture_output=True, text=True, check=True
        ).stdout
        elapsed = time.monotonic() - started
        received = sink.stats()["events"]
    print(out.strip().splitlines()[-1])
    return {"events": received, "seconds": elapsed, "events_per_s": received / elapsed}


def shutdown_time(workdir: Path) -> dict[str, float]:
    with Sink(status=503) as sink:
        exporter = spanhive.SessionExporter(
            endpoint=sink.url, api_key="k", spool_dir=workdir / "spool-shutdown", timeout_s=30
        )
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer = provider.get_tracer("t")
        for i in range(2000):
            with tracer.start_as_current_span(f"work-{i}"):
                pass
        started = time.monotonic()
        threading.Timer(0.5, lambda: exporter.shutdown(timeout_millis=2000)).start()
        provider.shutdown()
        elapsed = time.monotonic() - started
    assert exporter.spool is not None
    left = exporter.spool.status().events
    return {"seconds": elapsed, "events_left_in_spool": left}


def memory(workdir: Path) -> dict[str, object]:
    script = (ROOT / "tests" / "test_processes.py").read_text().split('MEMORY = """', 1)[1].split('"""', 1)[0]
    path = workdir / "load.py"
    path.write_text(script)
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, str(path), closed_port_url(), str(workdir / "spool-memory")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    report: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    report["seconds"] = time.monotonic() - started
    return report


def memory_live() -> dict[str, object]:
    """Peak RSS at 50k and at 200k spans exported to a live sink (it should not grow)."""
    rss: dict[int, int] = {}
    spans = small(300)  # ~600 spans, exported over and over: the exporter's memory, not the spans', is measured
    with Sink() as sink:
        live = spanhive.SessionExporter(endpoint=sink.url, api_key="k", spool_dir="off")
        done = 0
        while done < 200_000:
            for i in range(0, len(spans), 512):
                live.export(spans[i : i + 512])
                done += len(spans[i : i + 512])
            if done >= 50_000 and 50_000 not in rss:
                rss[50_000] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss[200_000] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        live.shutdown()
    return {"rss_kib": rss, "spans": done}


def _memory_live_apart() -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.delivery", "--memory-live"], capture_output=True, text=True, check=True
    ).stdout
    report: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return report


def main() -> None:
    if sys.argv[1:] == ["--memory-live"]:
        print(json.dumps(memory_live()))
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results = {
            "memory_dead_backend": memory(workdir),
            "memory_live_sink": _memory_live_apart(),
            "replay": replay_rate(workdir),
            "shutdown": shutdown_time(workdir),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
