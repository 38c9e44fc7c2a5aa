"""Mapping alone: µs of CPU per span to turn each workload's spans into grouped event records.

    python -m benchmarks.mapping [--repeat 7]

Process CPU time (``time.process_time``) over batches of 512, median of the repetitions.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from benchmarks.workloads import WORKLOADS
from spanhive._pipeline.assemble import whole_sessions
from spanhive.mapping import Defaults, map_span

BATCH = 512


def mapping_us_per_span(spans: Sequence[ReadableSpan], repeat: int) -> list[float]:
    defaults = Defaults()
    samples = []
    for _ in range(repeat):
        started = time.process_time()
        for i in range(0, len(spans), BATCH):
            whole_sessions([map_span(span, defaults) for span in spans[i : i + BATCH]], defaults)
        samples.append(1e6 * (time.process_time() - started) / len(spans))
    return samples


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    results = {}
    for name, (generate, size) in WORKLOADS.items():
        spans = generate(size)
        samples = mapping_us_per_span(spans, args.repeat)
        results[name] = {"spans": len(spans), "median_us": statistics.median(samples), "min_us": min(samples)}
        print(
            f"{name:6} {len(spans):5} spans  mapping {statistics.median(samples):7.1f} µs/span (min {min(samples):.1f})"
        )
    return results


if __name__ == "__main__":
    main()
