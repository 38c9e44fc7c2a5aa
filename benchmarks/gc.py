"""What exporting costs the application's garbage collector, as exports run back to back.

    python -m benchmarks.gc [--repeat 5] [--rounds 5] [--workloads small,agent]

``benchmarks.run`` collects garbage before every timed export, so that no exporter pays for another's. In an
application nothing does: what an export leaves tracked across the collector's young generations counts
towards the next full collection, which walks the application's whole heap. Here each exporter (spanhive
with gzip, ``OTLPSpanExporter`` with gzip) exports a whole workload in batches of 512, back to back after one
collection, several times over (``--rounds``); each batch is a new copy (:func:`benchmarks.workloads.fresh`)
made just before it is exported, as an application's spans come. The two take turns pass by pass. Reported
per exporter, medians over the passes: process CPU µs per span, of which in collections, and full
collections per 10,000 spans.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExporter

import spanhive
from benchmarks.sink import Sink
from benchmarks.workloads import WORKLOADS, fresh, id_salt

BATCH = 512


class _Collections:
    """Collections and their CPU time, while :attr:`on`."""

    def __init__(self) -> None:
        self.on = False
        self.seconds = 0.0
        self.full = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._started = time.process_time()
            return
        self.seconds += time.process_time() - self._started
        self.full += info["generation"] == 2


def _pass(
    exporter: SpanExporter, chunks: list[list[Any]], rounds: int, collections: _Collections
) -> tuple[float, float, int]:
    """The workload exported ``rounds`` times, batch after batch, each batch copied just before (untimed), as
    an application's spans come: CPU seconds, of which collecting, and full collections."""
    gc.collect()
    spent = collecting = 0.0
    full = 0
    for _ in range(rounds):
        salt = id_salt()
        for chunk in chunks:
            copy = fresh(chunk, salt)
            collections.seconds, collections.full, collections.on = 0.0, 0, True
            started = time.process_time()
            try:
                exporter.export(copy)
            finally:
                spent += time.process_time() - started
                collections.on = False
                collecting += collections.seconds
                full += collections.full
    return spent, collecting, full


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workloads", default="small,agent")
    parser.add_argument("--rounds", type=int, default=5, help="times each pass exports the workload")
    args = parser.parse_args(argv)
    collections = _Collections()
    gc.callbacks.append(collections)
    results: dict[str, Any] = {}
    with Sink() as sink:
        exporters: dict[str, SpanExporter] = {
            "spanhive-gzip": spanhive.SessionExporter(endpoint=sink.url + "/spanhive", api_key="k", spool_dir="off"),
            "otlp-gzip": OTLPSpanExporter(endpoint=sink.url + "/otlp/v1/traces", compression=Compression.Gzip),
        }
        for name in args.workloads.split(","):
            generate, size = WORKLOADS[name]
            spans = generate(size)
            chunks = [list(spans[i : i + BATCH]) for i in range(0, len(spans), BATCH)]
            for exporter in exporters.values():  # warm-up: connections, caches, imports
                exporter.export(fresh(chunks[0], id_salt()))
            seen: dict[str, list[tuple[float, float, int]]] = {key: [] for key in exporters}
            for rep in range(args.repeat):
                for key in list(exporters)[rep % 2 :] + list(exporters)[: rep % 2]:
                    seen[key].append(_pass(exporters[key], chunks, args.rounds, collections))
            results[name] = {}
            print(f"\n{name}: {len(spans)} spans, {args.repeat} passes of {args.rounds} rounds each")
            exported = len(spans) * args.rounds
            for key, passes in seen.items():
                cpu = statistics.median(1e6 * p[0] / exported for p in passes)
                collecting = statistics.median(1e6 * p[1] / exported for p in passes)
                full = statistics.median(1e4 * p[2] / exported for p in passes)
                results[name][key] = {"cpu_us_per_span": cpu, "gc_us_per_span": collecting, "full_per_10k": full}
                print(f"  {key:14} {cpu:6.1f} µs/span CPU, {collecting:5.2f} of it collecting, {full:.1f} full per 10k")
        for exporter in exporters.values():
            exporter.shutdown()
    gc.callbacks.remove(collections)
    return results


if __name__ == "__main__":
    main()
