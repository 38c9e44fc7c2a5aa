"""Every branch of the delivery policy, driven step by step through the in-memory sink on an injected clock:
retries and what they count, the stale-socket retry, pauses, the spool, drops, ``413`` at export and on
replay, and shutdown before a backoff sleep."""

from __future__ import annotations

import gzip
import itertools
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanhive._pipeline import prepare
from spanhive._pipeline.deliver import AUTH_COOLOFF_S, Delivery, Result
from spanhive._pipeline.drain import replay, send_bodies
from spanhive._pipeline.pack import Body
from spanhive._pipeline.sinks.memory import Answer, MemorySink
from spanhive._retry import Attempt, Backoff, Retrier, Verdict
from spanhive._spool import MAX_ATTEMPTS, Spool
from spanhive._stats import Stats
from spanhive.mapping import Defaults

NO_LIMIT = 1 << 40


class Clock:
    """Moves only when the policy sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.sleeps.append(seconds)
        self.now += seconds
        return False


def spans(count: int, *, text: str = "q") -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("deliver")
    with tracer.start_as_current_span("root", attributes={"input.value": text}):
        for _ in range(count - 1):
            with tracer.start_as_current_span("child", attributes={"output.value": text}):
                pass
    return list(memory.get_finished_spans())


def json_of(body: Body) -> dict[str, Any]:
    return json.loads(body.payload)


def body_of(count: int, *, text: str = "q") -> Body:
    (body,) = prepare(spans(count, text=text), Defaults(), NO_LIMIT).bodies
    return body


@dataclass
class Policy:
    delivery: Delivery
    memory: MemorySink
    clock: Clock
    stats: Stats


def policy(
    answers: Optional[list[Answer]] = None,
    *,
    spool: Optional[Spool] = None,
    stop: Optional[threading.Event] = None,
    **sink: Any,
) -> Policy:
    """A delivery policy over a scripted in-memory sink, on a clock that moves only when it sleeps."""
    clock = Clock()
    memory = MemorySink(answers or [], **sink)
    stats = Stats()
    retrier = Retrier(Backoff(jitter=0.0), clock=clock, stop=stop, wait=clock.wait)
    return Policy(Delivery(memory, spool, stats, retrier, clock=clock), memory, clock, stats)


def test_a_delivered_body_is_counted_once() -> None:
    p = policy()
    assert p.delivery.send(body_of(3), p.clock.now + 10) is Result.DELIVERED
    assert p.stats.snapshot() == {"exported": 3}
    assert len(p.memory.event_ids()) == 3


def test_every_retry_is_counted_and_backs_off_exponentially() -> None:
    p = policy([503, 502, 504])
    assert p.delivery.send(body_of(2), p.clock.now + 10) is Result.DELIVERED
    assert p.clock.sleeps == [0.5, 1.0, 2.0]
    assert p.stats.snapshot() == {"exported": 2, "retried": 3}
    assert len(p.memory.requests) == 4


def memory_spool(tmp_path: Path) -> Spool:
    """A spool whose folder cannot be made: it keeps requests in memory only, so exports retry in place."""
    (tmp_path / "file").write_text("not a folder")
    return Spool(tmp_path / "file" / "spool", 1 << 20, Stats())


def test_without_a_durable_spool_retries_stop_at_the_deadline_and_the_body_is_held(tmp_path: Path) -> None:
    spool = memory_spool(tmp_path)
    p = policy([503] * 10, spool=spool)
    assert p.delivery.send(body_of(2), p.clock.now + 1.6) is Result.HELD
    assert p.clock.sleeps == [0.5, 1.0]  # the next backoff (2 s) would pass the deadline
    assert p.stats.snapshot() == {"retried": 2}
    assert spool.stats.get("spooled") == spool.status().events == 2


def test_with_a_durable_spool_a_failed_export_is_spooled_at_once_and_opens_the_breaker(tmp_path: Path) -> None:
    """Spool first: one attempt, no backoff in the app's export; then no attempt at all until a replay works."""
    spool = Spool(tmp_path, 1 << 20, Stats())
    p = policy([503] * 10, spool=spool)
    assert p.delivery.send(body_of(2), p.clock.now + 10) is Result.SPOOLED
    assert (len(p.memory.requests), p.clock.sleeps) == (1, [])
    assert p.delivery.broken
    assert p.delivery.send(body_of(3), p.clock.now + 10) is Result.SPOOLED
    assert len(p.memory.requests) == 1  # the breaker is open: straight to the spool
    assert p.stats.get("short_circuited") == 3
    p.memory.answers.clear()
    claim = spool.claim()
    assert claim is not None
    assert replay(p.delivery, claim, p.clock.now + 10) is Result.DELIVERED  # the drainer's probe gets through
    assert not p.delivery.broken
    assert p.delivery.send(body_of(1), p.clock.now + 10) is Result.DELIVERED  # and exports go out again
    assert spool.status().events == 3
    assert p.stats.get("exported") == 1
    assert p.stats.get("replayed") == 2


def test_with_a_durable_spool_a_healthy_sink_gets_a_short_retry(tmp_path: Path) -> None:
    """A blip of a sink that was fine is ridden out in the export, for a second at most."""
    spool = Spool(tmp_path, 1 << 20, Stats())
    p = policy([200, 503, 503, 503, 503], spool=spool)
    assert p.delivery.send(body_of(1), p.clock.now + 10) is Result.DELIVERED
    assert p.delivery.send(body_of(1), p.clock.now + 10) is Result.SPOOLED
    assert p.clock.sleeps == [0.5]  # the next backoff would start past the second
    assert p.stats.get("retried") == 1
    p2 = policy([200, 503], spool=Spool(tmp_path / "b", 1 << 20, Stats()))
    assert p2.delivery.send(body_of(1), p2.clock.now + 10) is Result.DELIVERED
    assert p2.delivery.send(body_of(1), p2.clock.now + 10) is Result.DELIVERED


def test_the_timeout_a_sink_gets_is_what_the_deadline_leaves() -> None:
    seen: list[float] = []

    class Timed(MemorySink):
        def send(self, request: Any, timeout_s: float) -> Attempt:
            seen.append(timeout_s)
            return super().send(request, timeout_s)

    clock = Clock()
    delivery = Delivery(Timed([503]), None, Stats(), Retrier(clock=clock, rand=lambda: 0.5, wait=clock.wait), clock)
    assert delivery.send(body_of(1), clock.now + 3) is Result.DELIVERED
    assert seen == [3.0, 2.5]


def test_a_connection_broken_before_any_answer_is_retried_at_once_and_counted() -> None:
    stale = Attempt(Verdict.RETRY, "Connection aborted", stale_connection=True)
    p = policy([stale])
    assert p.delivery.send(body_of(1), p.clock.now + 10) is Result.DELIVERED
    assert p.clock.sleeps == []
    assert len(p.memory.requests) == 2
    assert p.stats.get("retried") == 1


def test_a_sink_not_worth_retrying_gets_one_attempt(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, Stats())
    stale = Attempt(Verdict.RETRY, "database is locked", stale_connection=True)
    p = policy([stale], spool=spool, retries=False)
    assert p.delivery.send(body_of(1), p.clock.now + 10) is Result.SPOOLED
    assert len(p.memory.requests) == 1
    assert "retried" not in p.stats.snapshot()


def test_retry_after_pauses_every_later_send_too(tmp_path: Path) -> None:
    spool = memory_spool(tmp_path)
    p = policy([Attempt(Verdict.RETRY, "slow down", 30.0, 429)], spool=spool)
    assert p.delivery.send(body_of(1), p.clock.now + 10) is Result.HELD  # 30 s is past the deadline
    assert p.delivery.paused_until == pytest.approx(130.0)
    assert p.delivery.send(body_of(1), p.clock.now + 10) is Result.HELD  # not even tried
    assert len(p.memory.requests) == 1
    assert p.delivery.send(body_of(1), p.clock.now + 60) is Result.DELIVERED  # waits the pause out, then sends
    assert p.clock.sleeps == [pytest.approx(30.0)]


def test_a_retry_after_longer_than_the_cap_is_cut_to_it(tmp_path: Path) -> None:
    """``Retry-After: 86400`` must not silence a healthy backend for a day."""
    clock = Clock()
    memory = MemorySink([Attempt(Verdict.RETRY, "slow down", 86400.0, 429)])
    retrier = Retrier(Backoff(jitter=0.0), clock=clock, wait=clock.wait)
    delivery = Delivery(memory, Spool(tmp_path, 1 << 20, Stats()), Stats(), retrier, clock, max_retry_after_s=120)
    assert delivery.send(body_of(1), clock.now + 10) is Result.SPOOLED
    assert delivery.paused_until == pytest.approx(clock.now + 120)


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key_stops_sending_for_the_cool_off(tmp_path: Path, status: int) -> None:
    spool = Spool(tmp_path, 1 << 20, Stats())
    p = policy([status], spool=spool)
    assert p.delivery.send(body_of(1), p.clock.now + 10) is Result.SPOOLED
    assert p.delivery.send(body_of(1), p.clock.now + 10) is Result.SPOOLED
    assert len(p.memory.requests) == 1
    p.clock.now += AUTH_COOLOFF_S
    assert p.delivery.send(body_of(1), p.clock.now + 10) is Result.DELIVERED
    assert spool.status().files == 2


@pytest.mark.parametrize("status", [400, 404, 405, 409, 410, 422])
def test_a_refusal_for_good_is_dropped_and_counted_not_retried(status: int) -> None:
    p = policy([status])
    assert p.delivery.send(body_of(2), p.clock.now + 10) is Result.DROPPED
    assert p.stats.snapshot() == {"dropped": 2}
    assert len(p.memory.requests) == 1


def partial(stored: list[str], errors: int) -> Attempt:
    return Attempt(Verdict.PERMANENT, "HTTP 500", status=500, partial=(frozenset(stored), errors))


def test_a_partial_success_counts_what_was_stored_and_what_was_rejected() -> None:
    body = body_of(3)
    ids = [e["event_id"] for e in json_of(body)["events"]]
    p = policy([partial(ids[:2], 1)])
    assert p.delivery.send(body, p.clock.now + 10) is Result.DROPPED
    assert p.stats.snapshot() == {"exported": 2, "rejected": 1}


def test_a_partial_success_that_leaves_events_unaccounted_sends_them_again(tmp_path: Path) -> None:
    """``event_ids: []`` and one error for 5 events: one may be bad, the other four are not known to be."""
    spool = Spool(tmp_path, 1 << 20, Stats())
    body = body_of(5)
    ids = [e["event_id"] for e in json_of(body)["events"]]
    p = policy([partial([], 1)], spool=spool)
    assert p.delivery.send(body, p.clock.now + 10) is Result.SPOOLED
    assert spool.status().events == 5
    p2 = policy([partial(ids[:3], 1)], spool=Spool(tmp_path / "b", 1 << 20, Stats()))
    assert p2.delivery.send(body, p2.clock.now + 10) is Result.SPOOLED
    assert p2.stats.get("exported") == 3
    claim = p2.delivery.spool.claim()  # type: ignore[union-attr]
    assert claim is not None
    assert claim.entry.event_count == 2
    assert replay(p2.delivery, claim, p2.clock.now + 10) is Result.DELIVERED
    assert sorted(p2.memory.event_ids()) == sorted(ids[3:])
    assert p2.stats.get("replayed") == 2
    assert "rejected" not in p2.stats.snapshot()


def test_without_a_spool_an_undelivered_body_is_dropped_and_counted() -> None:
    p = policy([Attempt(Verdict.RETRY, "refused")] * 20)
    assert p.delivery.send(body_of(2), p.clock.now + 1) is Result.DROPPED
    assert p.stats.snapshot() == {"dropped": 2, "retried": 1}


def test_shutdown_before_a_backoff_sleep_ends_the_attempts_and_spools(tmp_path: Path) -> None:
    Spool(tmp_path, 1 << 20, Stats())
    stop = threading.Event()
    stop.set()
    p = policy([503] * 5, spool=memory_spool(tmp_path), stop=stop)
    assert p.delivery.send(body_of(1), p.clock.now + 10) is Result.HELD
    assert len(p.memory.requests) == 1
    assert p.clock.sleeps == []


def test_a_413_halves_the_body_until_the_server_takes_it() -> None:
    p = policy([413, 413])
    assert set(send_bodies(p.delivery, [body_of(4)], p.clock.now + 10)) == {Result.DELIVERED}
    assert [r.events for r in p.memory.requests] == [4, 2, 1, 1, 2]  # depth first: each half as soon as it is made
    assert sorted(p.memory.event_ids()) == sorted({*p.memory.event_ids()})
    assert len(p.memory.event_ids()) == 4
    assert p.stats.get("exported") == 4


def test_a_413_for_a_lone_large_event_cuts_its_largest_values() -> None:
    p = policy([413])
    large = body_of(1, text="x" * 5000)
    size = large.size
    assert send_bodies(p.delivery, [large], p.clock.now + 10) == [Result.DELIVERED]
    refused, sent = p.memory.requests
    assert len(refused.wire) == size
    assert len(sent.wire) <= size // 2
    (body,) = p.memory.bodies()
    assert "truncated" in body["events"][0]["inputs"]["input"]
    assert "truncated" in body["session_properties"]["inputs"]["input"]
    assert p.stats.get("truncated") == 2
    assert p.stats.get("exported") == 1


def test_a_413_for_a_lone_small_event_drops_it_counted() -> None:
    p = policy([413])
    assert send_bodies(p.delivery, [body_of(1)], p.clock.now + 10) == [Result.DROPPED]
    assert p.stats.snapshot() == {"dropped": 1}


def test_a_413_for_a_lone_event_with_nothing_long_to_cut_ends_dropped_counted() -> None:
    """Over a kibibyte of short values: nothing can be cut without cutting ids or names, so it is given up on
    (counted), not cut forever."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("deliver").start_as_current_span(
        "root", attributes={f"k{i}": "v" * 40 for i in range(40)}
    ):
        pass
    (body,) = prepare(memory.get_finished_spans(), Defaults(), NO_LIMIT).bodies
    assert body.size > 1024
    p = policy([413] * 10)
    assert send_bodies(p.delivery, [body], p.clock.now + 10) == [Result.DROPPED]
    assert len(p.memory.requests) == 1
    assert p.stats.snapshot() == {"dropped": 1}


def test_a_413_for_every_size_cuts_a_lone_event_down_then_gives_up_counted() -> None:
    p = policy([413] * 50)
    assert send_bodies(p.delivery, [body_of(1, text="x" * 50_000)], p.clock.now + 10) == [Result.DROPPED]
    sizes = [len(r.wire) for r in p.memory.requests]
    assert all(later < earlier for earlier, later in itertools.pairwise(sizes))  # each try smaller than the last
    assert sizes[1] <= sizes[0] // 2
    assert p.stats.get("dropped") == 1
    ids = {json.loads(r.wire)["events"][0]["event_id"] for r in p.memory.requests}
    assert len(ids) == 1  # its id was never cut


def test_one_failed_body_does_not_stop_the_others(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, Stats())
    p = policy([400], spool=spool)
    assert send_bodies(p.delivery, [body_of(1), body_of(2)], p.clock.now + 10) == [Result.DROPPED, Result.DELIVERED]
    assert p.stats.snapshot() == {"dropped": 1, "exported": 2}


def _spooled(tmp_path: Path, body: Body, encoding: str = "identity") -> Spool:
    spool = Spool(tmp_path, 1 << 20, Stats())
    assert spool.put(body.wire(encoding), encoding, body.events)
    return spool


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_a_spooled_request_is_replayed_as_it_was_written(tmp_path: Path, encoding: str) -> None:
    """An entry keeps the encoding it was spooled with, whatever the sink would use now."""
    spool = _spooled(tmp_path, body_of(2), encoding)
    p = policy(encoding="gzip" if encoding == "identity" else "identity")
    claim = spool.claim()
    assert claim is not None
    assert replay(p.delivery, claim, p.clock.now + 10) is Result.DELIVERED
    (request,) = p.memory.requests
    assert request.encoding == encoding
    assert (request.wire[:2] == b"\x1f\x8b") is (encoding == "gzip")
    assert p.stats.snapshot() == {"replayed": 2}
    assert spool.status().files == 0


def test_a_spooled_request_that_gets_413_is_sent_in_halves_before_its_file_goes(tmp_path: Path) -> None:
    spool = _spooled(tmp_path, body_of(4), "gzip")
    p = policy([413])
    claim = spool.claim()
    assert claim is not None
    assert replay(p.delivery, claim, p.clock.now + 10) is Result.TOO_LARGE
    assert [r.events for r in p.memory.requests] == [4, 2, 2]
    assert len(set(p.memory.event_ids())) == 4
    assert spool.status().files == 0
    assert p.stats.snapshot() == {"exported": 4}


def test_halves_of_a_spooled_request_that_fail_are_spooled_again(tmp_path: Path) -> None:
    spool = _spooled(tmp_path, body_of(4))
    p = policy([413, 503, 503], spool=spool)
    claim = spool.claim()
    assert claim is not None
    assert replay(p.delivery, claim, p.clock.now + 0.1) is Result.TOO_LARGE
    assert spool.status().events == 4  # both halves are in the spool; the original file is gone
    assert spool.status().files == 2


def test_a_spooled_lone_small_event_that_gets_413_is_quarantined_counted(tmp_path: Path) -> None:
    spool = _spooled(tmp_path, body_of(1))
    p = policy([413])
    claim = spool.claim()
    assert claim is not None
    assert replay(p.delivery, claim, p.clock.now + 10) is Result.TOO_LARGE
    assert spool.stats.get("quarantined") == 1
    assert (spool.status().files, spool.status().quarantined) == (0, 1)


def test_a_spooled_request_that_cannot_be_read_and_gets_413_is_quarantined_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, Stats())
    assert spool.put(gzip.compress(b"not json"), "gzip", 3)
    p = policy([413])
    claim = spool.claim()
    assert claim is not None
    assert replay(p.delivery, claim, p.clock.now + 10) is Result.TOO_LARGE
    assert spool.stats.get("quarantined") == 3
    assert spool.status().quarantined == 1


@pytest.mark.parametrize("status", [400, 422])
def test_a_spooled_request_refused_for_good_is_quarantined_counted(tmp_path: Path, status: int) -> None:
    """A poison entry leaves the queue so the rest can flow, and is kept aside, not deleted."""
    spool = _spooled(tmp_path, body_of(2))
    p = policy([status], spool=spool)
    claim = spool.claim()
    assert claim is not None
    assert replay(p.delivery, claim, p.clock.now + 10) is Result.REFUSED
    assert spool.stats.get("quarantined") == 2
    assert "dropped" not in p.stats.snapshot()
    assert (spool.status().files, spool.status().quarantined) == (0, 1)


def test_a_spooled_request_that_fails_again_stays_in_the_spool_once(tmp_path: Path) -> None:
    spool = _spooled(tmp_path, body_of(2))
    p = policy([503] * 10, spool=spool)
    claim = spool.claim()
    assert claim is not None
    assert replay(p.delivery, claim, p.clock.now + 1, retry=True) is Result.FAILED
    assert spool.status().files == 1
    assert p.stats.get("retried") == 1
    again = spool.claim()
    assert again is not None
    assert again.entry.attempts == 0
    assert replay(p.delivery, again, p.clock.now + 10) is Result.FAILED
    assert len(p.memory.requests) == 3  # the drainer's replay is one attempt: it paces retries itself


def test_an_entry_the_server_keeps_failing_is_quarantined_and_the_rest_flow(tmp_path: Path) -> None:
    """A poison entry (a plain 500 every time) goes behind the others, then to quarantine."""
    spool = _spooled(tmp_path, body_of(1))
    for _ in range(3):
        spool.put(body_of(2).wire("identity"), "identity", 2)
    poison = spool.claim()
    assert poison is not None
    p = policy([500], spool=spool)
    assert replay(p.delivery, poison, p.clock.now + 10) is Result.BOUNCED
    results = []
    while (claim := spool.claim()) is not None:
        if claim.entry.event_count == 1:
            p.memory.answers.append(500)
        results.append(replay(p.delivery, claim, p.clock.now + 10))
    assert results[:3] == [Result.DELIVERED] * 3  # the good ones went first
    assert results[3:] == [Result.BOUNCED] * (MAX_ATTEMPTS - 1)
    assert spool.stats.get("quarantined") == 1
    assert p.stats.get("replayed") == 6
    assert (spool.status().files, spool.status().quarantined) == (0, 1)


def test_a_body_kept_after_shutdown_is_spooled_unsent(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, Stats())
    p = policy(spool=spool)
    assert p.delivery.keep(body_of(2), "exporter shut down") is Result.SPOOLED
    assert p.memory.requests == []
    assert spool.status().events == 2
    p.delivery.close()
    assert p.memory.closed
