"""spanhive against OpenTelemetry's OTLP/HTTP exporter, on the same spans, in the same run.

    python -m benchmarks.run [--repeat 5] [--workloads agent,small,big] [--out benchmarks/results] [--json json]
                             [--gzip zlib]

For every workload the same pre-generated spans are exported in batches of 512 through four exporters:
spanhive with its default compression (gzip) and with none, and ``OTLPSpanExporter`` with gzip and with
none, all to a loopback sink in its own process. The four take turns chunk by chunk (in a rotating order),
so machine noise hits all of them alike. Reported per workload and exporter: process CPU µs per span (the
primary figure), spans per second, bytes per span on the wire, requests, and the *paired* ratios
spanhive / OTLP (plain vs plain, compressed vs compressed) per repetition, with their median and spread.
The sink's own ceiling is measured too, to show it was not the bottleneck. Results are saved as JSON.

Each exporter is handed its own copy of each chunk, made untimed just before, whose attribute strings are new
objects (:func:`benchmarks.workloads.fresh`): what an exporter in production sees, so no cache keyed by a
string, nor the UTF-8 CPython keeps with a string once encoded, carries over between exports. Before timing,
the payload is checked: every span arrives as one event, and the LLM and tool spans of the agent workloads
arrive with their inputs and outputs.

spanhive encodes with orjson where it is installed (a dependency on CPython) and compresses with libdeflate where
the ``fast`` extra is installed; ``--json json`` and ``--gzip zlib`` measure the standard library's instead.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

import spanhive
from benchmarks.mapping import mapping_us_per_span
from benchmarks.sink import Sink, ceiling
from benchmarks.workloads import WORKLOADS, fresh, id_salt
from spanhive import _build, _gzip, _json

BATCH = 512
EXPORTERS = ("spanhive-gzip", "spanhive-plain", "otlp-gzip", "otlp-plain")


def _exporters(url: str) -> dict[str, SpanExporter]:
    return {
        "spanhive-gzip": spanhive.SessionExporter(endpoint=url + "/spanhive-gzip", api_key="k", spool_dir="off"),
        "spanhive-plain": spanhive.SessionExporter(
            endpoint=url + "/spanhive-plain", api_key="k", spool_dir="off", compression="none"
        ),
        "otlp-gzip": OTLPSpanExporter(endpoint=url + "/otlp-gzip/v1/traces", compression=Compression.Gzip),
        "otlp-plain": OTLPSpanExporter(endpoint=url + "/otlp-plain/v1/traces", compression=Compression.NoCompression),
    }


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_workload(name: str, spans: Sequence[ReadableSpan], repeat: int, sink: Sink) -> dict[str, Any]:
    exporters = _exporters(sink.url)
    chunks = [spans[i : i + BATCH] for i in range(0, len(spans), BATCH)]
    for exporter in exporters.values():  # warm-up: connections, caches, imports
        exporter.export(fresh(chunks[0], id_salt()))
    sink.reset()
    cpu: dict[str, list[float]] = {e: [] for e in EXPORTERS}
    wall: dict[str, list[float]] = {e: [] for e in EXPORTERS}
    rss_before = _rss_kib()
    for rep in range(repeat):
        spent = dict.fromkeys(EXPORTERS, 0.0)
        waited = dict.fromkeys(EXPORTERS, 0.0)
        salts = {key: id_salt() for key in EXPORTERS}  # each exporter's pass: ids no export saw before
        for index, chunk in enumerate(chunks):
            order = EXPORTERS[(index + rep) % 4 :] + EXPORTERS[: (index + rep) % 4]
            for key in order:
                copy = fresh(chunk, salts[key])
                gc.collect()
                started_cpu, started = time.process_time(), time.perf_counter()
                exporters[key].export(copy)
                spent[key] += time.process_time() - started_cpu
                waited[key] += time.perf_counter() - started
        for key in EXPORTERS:
            cpu[key].append(1e6 * spent[key] / len(spans))
            wall[key].append(waited[key])
    stats = sink.stats()
    for exporter in exporters.values():
        exporter.shutdown()
    result: dict[str, Any] = {"spans": len(spans), "exporters": {}}
    for key in EXPORTERS:
        path = next((v for p, v in stats["paths"].items() if p.startswith("/" + key)), {"requests": 0, "bytes": 0})
        result["exporters"][key] = {
            "cpu_us_per_span": statistics.median(cpu[key]),
            "cpu_us_per_span_all": cpu[key],
            "spans_per_s": len(spans) / statistics.median(wall[key]),
            "bytes_per_span": path["bytes"] / (len(spans) * repeat),
            "requests": path["requests"],
        }
    ratios = {
        "plain": [a / b for a, b in zip(cpu["spanhive-plain"], cpu["otlp-plain"], strict=True)],
        "compressed": [a / b for a, b in zip(cpu["spanhive-gzip"], cpu["otlp-gzip"], strict=True)],
    }
    result["paired_ratio"] = {
        k: {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v} for k, v in ratios.items()
    }
    result["bytes_ratio_compressed"] = (
        result["exporters"]["spanhive-gzip"]["bytes_per_span"] / result["exporters"]["otlp-gzip"]["bytes_per_span"]
    )
    result["peak_rss_growth_kib"] = _rss_kib() - rss_before
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--json",
        choices=("orjson", "json"),
        default=_json.BACKEND,
        help="spanhive's encoder (default: the fastest installed)",
    )
    parser.add_argument(
        "--gzip",
        choices=sorted(_gzip.WRITERS),
        default=_gzip.BACKEND,
        help="spanhive's deflate (default: the fastest installed)",
    )
    args = parser.parse_args(argv)
    _json.use(args.json)
    _gzip.use(args.gzip)
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "spanhive": spanhive.__version__,
        "json": _json.BACKEND,
        "gzip": _gzip.BACKEND,
        "build": _build.NAME,
        "workloads": {},
    }
    generate: dict[str, Callable[[int], Sequence[ReadableSpan]]] = {n: g for n, (g, _) in WORKLOADS.items()}
    print(f"spanhive's JSON encoder: {_json.BACKEND}; gzip: {_gzip.BACKEND}; build: {_build.NAME}")
    with Sink() as sink:
        for name in args.workloads.split(","):
            spans = generate[name](WORKLOADS[name][1])
            check_payload(name, spans)
            outcome = run_workload(name, spans, args.repeat, sink)
            outcome["mapping_us_per_span"] = statistics.median(mapping_us_per_span(spans, args.repeat))
            results["workloads"][name] = outcome
            _print(name, outcome)
    results["sink_ceiling"] = ceiling(_typical_body())
    print(f"sink ceiling: {results['sink_ceiling']['requests_per_s']:.0f} requests/s, "
          f"{results['sink_ceiling']['mb_per_s']:.1f} MB/s")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"saved {path}")
    return results


def check_payload(name: str, spans: Sequence[ReadableSpan]) -> None:
    """What is timed is worth timing: every span is mapped to one event, and every LLM and tool span of an
    agent workload with its inputs and outputs (a convention missed would be fast and wrong)."""
    from spanhive._pipeline import prepare  # noqa: PLC0415 - only here
    from spanhive.mapping import Defaults  # noqa: PLC0415 - only here

    events = []
    for start in range(0, len(spans), BATCH):
        for body in prepare(fresh(spans[start : start + BATCH]), Defaults(), 64 * 1024 * 1024).bodies:
            events += [e for e in json.loads(body.payload)["events"] if e["event_type"] != "session"]
    if len(events) != len(spans):
        raise SystemExit(f"{name}: {len(spans)} spans became {len(events)} events")
    if name.endswith("agent"):
        for event in events:
            if event["event_type"] in ("model", "tool") and not (event["inputs"] and event["outputs"]):
                raise SystemExit(f"{name}: a {event['event_type']} event without inputs or outputs: {event}")
        if not all(e["inputs"].get("chat_history") for e in events if e["event_type"] == "model"):
            raise SystemExit(f"{name}: a model event without its chat history")


def _typical_body() -> bytes:
    import gzip  # noqa: PLC0415 - only here

    from spanhive._pipeline import prepare  # noqa: PLC0415 - only here
    from spanhive.mapping import Defaults  # noqa: PLC0415 - only here

    spans = WORKLOADS["agent"][0](30)[:BATCH]
    (body,) = prepare(spans, Defaults(), 64 * 1024 * 1024).bodies
    return gzip.compress(body.payload)


def _print(name: str, outcome: dict[str, Any]) -> None:
    print(f"\n{name}: {outcome['spans']} spans, mapping alone {outcome['mapping_us_per_span']:.1f} µs/span, "
          f"peak RSS growth {outcome['peak_rss_growth_kib'] / 1024:.1f} MiB")  # fmt: skip
    for key, e in outcome["exporters"].items():
        print(f"  {key:15} {e['cpu_us_per_span']:8.1f} µs/span CPU  {e['spans_per_s']:9.0f} spans/s  "
              f"{e['bytes_per_span']:9.0f} B/span  {e['requests']:5} requests")  # fmt: skip
    for kind, r in outcome["paired_ratio"].items():
        print(f"  ratio spanhive/OTLP {kind:10}: median {r['median']:.2f}  (min {r['min']:.2f}, max {r['max']:.2f})")
    print(f"  bytes ratio (compressed): {outcome['bytes_ratio_compressed']:.2f}")


if __name__ == "__main__":
    main()
