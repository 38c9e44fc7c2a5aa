"""Across processes: forked children, a process killed with SIGKILL, and memory over a long outage."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import spanhive
from tests.capture import CaptureServer, closed_port_url

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")


def _run_in_child(provider: TracerProvider, label: str) -> None:
    tracer = provider.get_tracer("child")
    for i in range(30):
        with tracer.start_as_current_span(f"{label}-{i}"):
            pass
    provider.force_flush()


def _names(server: CaptureServer) -> list[str]:
    return [e["event_name"] for e in server.events() if e["event_type"] != "session"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_forked_children_export_their_own_spans_and_the_parent_goes_on(tmp_path: Path) -> None:
    with CaptureServer() as server:
        exporter = spanhive.SessionExporter(endpoint=server.url, api_key="k", spool_dir=tmp_path / "spool")
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
        tracer = provider.get_tracer("parent")
        with tracer.start_as_current_span("parent-before"):
            pass
        provider.force_flush()

        pid = os.fork()
        if pid == 0:  # the child: export, then leave without running the parent's exit handlers
            code = 0
            try:
                _run_in_child(provider, "forked")
            except BaseException:
                code = 1
            os._exit(code)
        context = multiprocessing.get_context("fork")
        child = context.Process(target=_run_in_child, args=(provider, "mp"))
        child.start()
        for i in range(30):
            with tracer.start_as_current_span(f"parent-{i}"):
                pass
        deadline = time.monotonic() + 30
        status = None
        while status is None and time.monotonic() < deadline:
            done, code = os.waitpid(pid, os.WNOHANG)
            status = code if done else None
            time.sleep(0.05)
        child.join(30)
        provider.shutdown()
        names = _names(server)
    assert status is not None, "the forked child deadlocked"
    assert os.waitstatus_to_exitcode(status) == 0
    assert child.exitcode == 0
    for label in ("forked", "mp", "parent"):
        assert sorted(n for n in names if n.startswith(f"{label}-") and n != "parent-before") == sorted(
            f"{label}-{i}" for i in range(30)
        ), label
    assert len(names) == len(set(names))  # nothing sent twice, by parent or child
    assert names.count("parent-before") == 1


APP = """
import os, sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
import spanhive
from spanhive import _ids

exporter = spanhive.SessionExporter(endpoint=sys.argv[1], api_key="k", spool_dir=sys.argv[2], timeout_s=0.2)
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("crashy")
ids = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
i = 0
while True:
    with tracer.start_as_current_span(f"step-{i}") as span:
        ctx = span.get_span_context()
    # span.end() has returned: spanhive has delivered or spooled it; only now does the app count it
    os.write(ids, (_ids.event_id(ctx.trace_id, ctx.span_id) + "\\n").encode())
    i += 1
"""


def test_a_killed_process_loses_nothing_it_had_accepted(tmp_path: Path) -> None:
    """SIGKILL while the backend is down; a new process with the same spool delivers every accepted event."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    accepted_file = tmp_path / "accepted.txt"
    spool = tmp_path / "spool"
    process = subprocess.Popen([sys.executable, str(app), closed_port_url(), str(spool), str(accepted_file)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if accepted_file.exists() and len(accepted_file.read_text().split()) >= 40:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    accepted = set(accepted_file.read_text().split())
    assert len(accepted) >= 40
    with CaptureServer() as server:
        survivor = spanhive.SessionExporter(endpoint=server.url, api_key="k", spool_dir=spool)
        assert survivor.force_flush(30_000)
        delivered = server.delivered_event_ids()
    assert accepted <= set(delivered)  # every event the app had handed over arrived


MEMORY = """
import json, resource, sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
import spanhive

exporter = spanhive.SessionExporter(
    endpoint=sys.argv[1], api_key="k", spool_dir=sys.argv[2], spool_max_bytes=50 * 1024 * 1024,
    timeout_s=0.05, compression="none",
)
memory = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(memory))
tracer = provider.get_tracer("load")
text = "lorem ipsum dolor sit amet " * 40
rss = {}
for batch in range(200_000 // 500):
    for i in range(500):
        with tracer.start_as_current_span("request", attributes={"http.route": "/x", "body": text}):
            pass
    exporter.export(memory.get_finished_spans())
    memory.clear()
    done = (batch + 1) * 500
    if done in (50_000, 200_000):
        rss[done] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
exporter.shutdown()
status = exporter.spool.status()
print(json.dumps({"rss_kib": rss, "stats": exporter.stats.snapshot(), "spool_bytes": status.bytes}))
"""


def test_memory_is_bounded_through_a_long_outage(tmp_path: Path) -> None:
    """200k spans into a dead backend with a 50 MiB spool: the cap holds, drops are counted, RSS stays flat."""
    script = tmp_path / "load.py"
    script.write_text(MEMORY)
    result = subprocess.run(
        [sys.executable, str(script), closed_port_url(), str(tmp_path / "spool")],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    rss = {int(k): v for k, v in report["rss_kib"].items()}
    stats = report["stats"]
    assert report["spool_bytes"] <= 50 * 1024 * 1024
    assert stats["dropped"] > 0
    assert stats["spooled"] == 200_000
    assert rss[200_000] - rss[50_000] < 20 * 1024  # KiB: flat between 50k and 200k spans
    assert "over its cap" in result.stderr
    print(textwrap.dedent(f"peak RSS at 50k spans {rss[50_000]} KiB, at 200k {rss[200_000]} KiB; {stats}"))


SIGTERM_APP = """
import signal, sys, time
from pathlib import Path
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

def previous_handler(signum, frame):
    Path(sys.argv[2]).write_text("previous handler ran")
    sys.exit(0)

signal.signal(signal.SIGTERM, previous_handler)   # the application's own handler, installed first

import spanhive
from opentelemetry import trace
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(spanhive.SessionExporter(endpoint=sys.argv[1], api_key="k"),
                                               schedule_delay_millis=60_000))
trace.set_tracer_provider(provider)
for i in range(5):
    with provider.get_tracer("app").start_as_current_span(f"queued-{i}"):
        pass
print("ready", flush=True)
time.sleep(60)
"""


def test_sigterm_flushes_then_runs_the_previous_handler(tmp_path: Path) -> None:
    """With SPANHIVE_FLUSH_ON_SIGTERM, spans still queued in the batch processor go out on SIGTERM, and the
    handler the application had installed still runs afterwards."""
    app = tmp_path / "app.py"
    app.write_text(SIGTERM_APP)
    marker = tmp_path / "marker.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANHIVE_", "HH_", "PYTEST_"))}
    env.update(SPANHIVE_FLUSH_ON_SIGTERM="true", XDG_STATE_HOME=str(tmp_path / "state"))
    with CaptureServer() as server:
        with subprocess.Popen(
            [sys.executable, str(app), server.url, str(marker)], env=env, stdout=subprocess.PIPE, text=True
        ) as process:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
            assert server.requests == []  # still queued: the schedule delay is a minute
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
        names = sorted(e["event_name"] for e in server.events() if e["event_type"] != "session")
    assert names == [f"queued-{i}" for i in range(5)]
    assert marker.read_text() == "previous handler ran"
