"""What redaction by value costs: the exporter end to end, with and without it, in the same run.

    python -m benchmarks.privacy [--repeat 7] [--workloads agent,oi-agent,genai-agent,traceloop-agent,small]

Three spanhive exporters per compression (gzip, none) export the same chunks of 512 spans to the loopback
sink, taking turns chunk by chunk in a rotating order, each on its own ``fresh()`` copy: ``full`` is spanhive
as it ships; ``keys`` redacts by key only (no string is searched, as before redaction by value);
``off`` skips the privacy stage. Reported per workload: process CPU µs per span of each, and the paired
ratio full / keys per repetition (median): what redaction by value adds to an export, the figure the 10 %
budget is about. The modes swap the privacy stage's functions, which the compiled build calls directly: run it
on the pure build (an editable install).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

import spanhive
from benchmarks.sink import Sink
from benchmarks.workloads import WORKLOADS, fresh, id_salt
from spanhive import _build
from spanhive._pipeline import privacy

BATCH = 512
MODES = ("full", "keys", "off")


def _nothing(_record: dict[str, Any]) -> int:
    return 0


@contextmanager
def _mode(mode: str) -> Iterator[None]:
    """Redaction as ``mode`` asks, for one export (the pipeline reads these module attributes per call)."""
    saved = privacy._SHORTEST, privacy.redact_record
    if mode == "keys":  # no string is long enough to be searched
        privacy._SHORTEST = sys.maxsize
    elif mode == "off":
        privacy.redact_record = _nothing
    try:
        yield
    finally:
        privacy._SHORTEST, privacy.redact_record = saved


def run_workload(spans: Sequence[ReadableSpan], repeat: int, sink: Sink) -> dict[str, Any]:
    chunks = [spans[i : i + BATCH] for i in range(0, len(spans), BATCH)]
    keys = [(mode, compression) for compression in ("gzip", "none") for mode in MODES]
    exporters = {
        key: spanhive.SessionExporter(
            endpoint=f"{sink.url}/{key[0]}-{key[1]}", api_key="k", spool_dir="off", compression=key[1]
        )
        for key in keys
    }
    export: dict[tuple[str, str], Callable[[Sequence[ReadableSpan]], object]] = {
        key: exporter.export for key, exporter in exporters.items()
    }
    for key in keys:  # warm-up: connections, caches, imports
        with _mode(key[0]):
            export[key](fresh(chunks[0], id_salt()))
    cpu: dict[tuple[str, str], list[float]] = {key: [] for key in keys}
    for rep in range(repeat):
        spent = dict.fromkeys(keys, 0.0)
        salts = {key: id_salt() for key in keys}
        for index, chunk in enumerate(chunks):
            turn = (index + rep) % len(keys)
            for key in keys[turn:] + keys[:turn]:
                copy = fresh(chunk, salts[key])
                gc.collect()
                with _mode(key[0]):
                    started = time.process_time()
                    export[key](copy)
                    spent[key] += time.process_time() - started
        for key in keys:
            cpu[key].append(1e6 * spent[key] / len(spans))
    for exporter in exporters.values():
        exporter.shutdown()
    result: dict[str, Any] = {"spans": len(spans)}
    for compression in ("gzip", "none"):
        ratios = [f / k for f, k in zip(cpu[("full", compression)], cpu[("keys", compression)], strict=True)]
        result[compression] = {
            **{mode: statistics.median(cpu[(mode, compression)]) for mode in MODES},
            "full_over_keys": statistics.median(ratios),
        }
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--workloads", default="agent,oi-agent,genai-agent,traceloop-agent,small")
    args = parser.parse_args(argv)
    if _build.COMPILED:
        parser.error("the compiled build calls the privacy stage directly: run this on the pure build")
    results = {}
    with Sink() as sink:
        for name in args.workloads.split(","):
            generate, size = WORKLOADS[name]
            results[name] = result = run_workload(generate(size), args.repeat, sink)
            for compression in ("gzip", "none"):
                r = result[compression]
                print(
                    f"{name:16} {compression:4}  full {r['full']:6.1f}  keys {r['keys']:6.1f}  off {r['off']:6.1f}"
                    f" µs/span   full/keys {r['full_over_keys']:.3f}"
                )
    return results


if __name__ == "__main__":
    main()
