"""What ``SessionSpanProcessor`` adds to each span on the application thread.

    python -m benchmarks.on_start

Starts and ends N spans on a provider that already has a processor (as every real set-up has its batch
processor), then on the same with the session processor added, outside any session and inside one (with
user properties). The difference per span is what the session processor costs the application thread.
Median of repetitions, process CPU time.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

import spanhive

SPANS = 50_000


class _Baseline(SpanProcessor):
    """Stands in for the batch processor every set-up has, without its queueing cost."""


def _per_span_us(provider: TracerProvider, in_session: bool) -> float:
    tracer = provider.get_tracer("bench")
    if in_session:
        with spanhive.session(name="bench", user_properties={"user_id": "u-1", "plan": "pro"}):
            return _loop(tracer)
    return _loop(tracer)


def _loop(tracer: Any) -> float:
    start = tracer.start_span
    started = time.process_time()
    for _ in range(SPANS):
        start("x").end()
    return 1e6 * (time.process_time() - started) / SPANS


def _direct_us(in_session: bool, child: bool = False, parent_names_session: bool = False) -> float:
    """``on_start`` + ``on_end`` alone, called on real SDK spans (created beforehand, outside the timing), each
    span ended before the next starts; ``child``: spans under a parent, as most spans of a trace are;
    ``parent_names_session``: that parent names a session and a user, which its children inherit."""
    provider = TracerProvider()
    tracer = provider.get_tracer("bench")
    processor = spanhive.SessionSpanProcessor()
    named = {"session.id": "conversation-1", "user.id": "u-1"} if parent_names_session else {}
    top = tracer.start_span("parent", attributes=named)
    parent = trace.set_span_in_context(top) if child else otel_context.Context()
    spans = [tracer.start_span("x", context=parent) for _ in range(SPANS)]
    pairs = [(span, span._readable_span()) for span in spans]  # on_end receives a read-only copy
    session = spanhive.session(name="bench", user_properties={"user_id": "u-1", "plan": "pro"})
    if in_session:
        session.__enter__()
    try:
        context = parent if parent_names_session else otel_context.get_current()
        on_start, on_end = processor.on_start, processor.on_end
        started = time.process_time()
        for span, copy in pairs:
            on_start(span, context)
            on_end(copy)
        spent = 1e6 * (time.process_time() - started) / SPANS
        if parent_names_session:
            assert spans[-1].attributes["honeyhive.session_id"] == "conversation-1", "nothing was inherited"
        return spent
    finally:
        if in_session:
            session.__exit__(None, None, None)


def main() -> dict[str, float]:
    base = TracerProvider()
    base.add_span_processor(_Baseline())
    stamped = TracerProvider()
    stamped.add_span_processor(_Baseline())
    stamped.add_span_processor(spanhive.SessionSpanProcessor())
    samples: dict[str, list[float]] = {"base": [], "outside": [], "inside": []}
    for _ in range(9):
        samples["base"].append(_per_span_us(base, in_session=False))
        samples["outside"].append(_per_span_us(stamped, in_session=False))
        base_in = _per_span_us(base, in_session=True)
        samples["inside"].append(_per_span_us(stamped, in_session=True) - base_in + samples["base"][-1])
    samples["direct_outside"] = [_direct_us(in_session=False) for _ in range(9)]
    samples["direct_inside"] = [_direct_us(in_session=True) for _ in range(9)]
    samples["direct_inside_child"] = [_direct_us(in_session=True, child=True) for _ in range(9)]
    samples["direct_inherited"] = [_direct_us(False, child=True, parent_names_session=True) for _ in range(9)]
    medians = {k: statistics.median(v) for k, v in samples.items()}
    print(f"span start+end with one processor:      {medians['base']:.2f} µs")
    print(f"  + SessionSpanProcessor, no session:   +{medians['outside'] - medians['base']:.2f} µs")
    print(f"  + SessionSpanProcessor, in a session: +{medians['inside'] - medians['base']:.2f} µs")
    print(f"on_start + on_end alone, no session:    {medians['direct_outside']:.2f} µs")
    print(f"on_start + on_end alone, in a session:  {medians['direct_inside']:.2f} µs (top spans)")
    print(f"                                         {medians['direct_inside_child']:.2f} µs (child spans)")
    print(f"on_start + on_end alone, under a parent naming a session (inherited): {medians['direct_inherited']:.2f} µs")
    return medians


if __name__ == "__main__":
    main()
