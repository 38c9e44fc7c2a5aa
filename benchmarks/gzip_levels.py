"""How spanhive's gzip level is picked: CPU and bytes of each deflate level on each workload's real bodies.

    python -m benchmarks.gzip_levels [--repeat 5] [--workloads agent,oi-agent,genai-agent,traceloop-agent,small,big]

Each workload's spans are prepared into request bodies once (``fresh()`` copies, as an export sees them), then
every body is compressed at each level of libdeflate (the ``fast`` extra) and of zlib: process CPU µs and
bytes per span, median of the repetitions. Against the OTLP exporter's own gzip bytes (``benchmarks.run``:
zlib at level 9 over protobuf), a level is usable while the agent workloads stay under 1.3× those bytes.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.workloads import WORKLOADS, fresh
from spanhive import _gzip
from spanhive._pipeline import prepare
from spanhive.mapping import Defaults

BATCH = 512


def _writers() -> dict[str, Callable[[bytes], bytes]]:
    writers: dict[str, Callable[[bytes], bytes]] = {}
    if "deflate" in _gzip.WRITERS:
        import deflate  # noqa: PLC0415 - the fast extra, when installed

        for level in range(1, 8):
            writers[f"libdeflate {level}"] = lambda data, level=level: bytes(deflate.gzip_compress(data, level))
    for level in (1, 4, 6):
        writers[f"zlib {level}"] = lambda data, level=level: gzip.compress(data, compresslevel=level, mtime=0)
    return writers


def bodies(spans: Sequence[Any]) -> list[bytes]:
    defaults = Defaults()
    out = []
    for i in range(0, len(spans), BATCH):
        out += [body.payload for body in prepare(fresh(spans[i : i + BATCH]), defaults, 5_000_000).bodies]
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for name in args.workloads.split(","):
        generate, size = WORKLOADS[name]
        spans = generate(size)
        plain = bodies(spans)
        print(f"{name}: {sum(map(len, plain)) / len(spans):.0f} B/span plain")
        results[name] = {}
        for label, write in _writers().items():
            samples = []
            for _ in range(args.repeat):
                started = time.process_time()
                size_out = sum(len(write(body)) for body in plain)
                samples.append(time.process_time() - started)
            cpu = 1e6 * statistics.median(samples) / len(spans)
            results[name][label] = {"cpu_us_per_span": cpu, "bytes_per_span": size_out / len(spans)}
            chosen = " (spanhive's)" if label == f"libdeflate {_gzip.DEFLATE_LEVEL}" else ""
            print(f"  {label:12} {cpu:8.2f} µs/span {size_out / len(spans):9.1f} B/span{chosen}")
    return results


if __name__ == "__main__":
    main()
