"""What sending one request costs: spanhive's own urllib3 pool against a ``requests`` session, same sink.

    python -m benchmarks.transport [--repeat 5] [--requests 300] [--kib 50]

The same gzip-sized body (random bytes) is posted to the loopback sink (:mod:`benchmarks.sink`) through
:class:`spanhive._pipeline.sinks.http.HttpSink` twice: as spanhive sends by default (its urllib3 pool), and
through a ``requests.Session`` handed to it (what a caller's session, or a proxy from the environment, takes).
The two take turns in blocks; reported: process CPU µs per request, median of the repetitions, and the
paired ratio. The sink runs in its own process, so only the sender's work counts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Sequence

import requests

from benchmarks.sink import Sink
from spanhive._config import resolve
from spanhive._pipeline.sinks import Request
from spanhive._pipeline.sinks.http import HttpSink
from spanhive._retry import Verdict


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--kib", type=int, default=50)
    args = parser.parse_args(argv)
    request = Request("gzip", wire=os.urandom(args.kib * 1024), events=512)
    cpu: dict[str, list[float]] = {"urllib3": [], "requests": []}
    with Sink() as sink:
        settings = resolve(endpoint=sink.url, api_key="k", environ={})
        sinks: dict[str, HttpSink] = {"urllib3": HttpSink(settings), "requests": HttpSink(settings, requests.Session())}
        for http in sinks.values():  # warm-up: connections, imports
            _post(http, request, 10)
        for _ in range(args.repeat):
            for name, http in sinks.items():
                started = time.process_time()
                _post(http, request, args.requests)
                cpu[name].append(1e6 * (time.process_time() - started) / args.requests)
        for http in sinks.values():
            http.close()
    result = {name: statistics.median(values) for name, values in cpu.items()}
    ratios = [a / b for a, b in zip(cpu["urllib3"], cpu["requests"], strict=True)]
    print(f"{args.kib} KiB bodies, {args.requests} requests x {args.repeat}: CPU µs per request")
    for name, value in result.items():
        print(f"  {name:9} {value:7.0f}")
    low, high = min(ratios), max(ratios)
    print(f"  ratio urllib3/requests: median {statistics.median(ratios):.2f} (min {low:.2f}, max {high:.2f})")
    return result


def _post(http: HttpSink, request: Request, count: int) -> None:
    for _ in range(count):
        attempt = http.send(request, 10.0)
        if attempt.verdict is not Verdict.SUCCESS:
            raise SystemExit(f"the sink refused a request: {attempt.detail}")


if __name__ == "__main__":
    main()
