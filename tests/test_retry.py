"""The retry loop alone, on a fake clock: no sockets, no waiting."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from spanhive._retry import (
    RETRYABLE_STATUSES,
    Attempt,
    Backoff,
    Outcome,
    Retrier,
    Verdict,
    for_status,
    parse_retry_after,
)


class FakeClock:
    """A clock that only moves when the retrier sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now


class FakeRetrier(Retrier):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(Backoff(), clock=clock, rand=lambda: 0.5)
        self.fake = clock

    def sleep(self, seconds: float) -> bool:
        self.fake.sleeps.append(seconds)
        self.fake.now += seconds
        return self.stop.is_set()


def script(*verdicts: Attempt) -> list[float]:
    """Run the verdicts through a fake retrier; returns the sleeps it took."""
    clock = FakeClock()
    answers = iter(verdicts)
    FakeRetrier(clock).run(lambda left: next(answers), deadline=10.0)
    return clock.sleeps


RETRY = Attempt(Verdict.RETRY, "503")


def test_backoff_doubles_with_jitter_centred() -> None:
    assert script(RETRY, RETRY, RETRY, Attempt(Verdict.SUCCESS)) == [0.5, 1.0, 2.0]


def test_gives_up_when_the_next_wait_would_pass_the_deadline() -> None:
    clock = FakeClock()
    outcome = FakeRetrier(clock).run(lambda left: RETRY, deadline=10.0)
    assert (outcome.delivered, outcome.reason) == (False, "deadline")
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]  # 7.5 s slept; the next 8 s would end at 15.5
    assert sum(clock.sleeps) <= 10.0


def test_retry_after_replaces_the_backoff() -> None:
    assert script(Attempt(Verdict.RETRY, "429", retry_after_s=3.0), Attempt(Verdict.SUCCESS)) == [3.0]


def test_retry_after_beyond_the_deadline_stops_at_once() -> None:
    clock = FakeClock()
    outcome = FakeRetrier(clock).run(lambda left: Attempt(Verdict.RETRY, "429", retry_after_s=60), deadline=10)
    assert (outcome.reason, clock.sleeps, outcome.attempts) == ("deadline", [], 1)


def test_permanent_failures_stop_at_once() -> None:
    clock = FakeClock()
    outcome = FakeRetrier(clock).run(lambda left: Attempt(Verdict.PERMANENT, "400"), deadline=10)
    assert (outcome.delivered, outcome.reason, outcome.attempts) == (False, "permanent", 1)


def test_each_attempt_is_told_the_time_left() -> None:
    clock = FakeClock()
    seen: list[float] = []
    answers = iter([RETRY, RETRY, Attempt(Verdict.SUCCESS)])

    def attempt(left: float) -> Attempt:
        seen.append(left)
        return next(answers)

    FakeRetrier(clock).run(attempt, deadline=10)
    assert seen == [10.0, 9.5, 8.5]


def test_backoff_is_capped_and_jitter_stays_in_bounds() -> None:
    backoff = Backoff(initial_s=1, max_s=5, jitter=0.2)
    assert backoff.delay(10, lambda: 0.5) == 5
    assert backoff.delay(0, lambda: 0.0) == pytest.approx(0.8)
    assert backoff.delay(0, lambda: 1.0) == pytest.approx(1.2)


def test_a_real_sleep_is_interrupted_by_stop() -> None:
    stop = threading.Event()
    retrier = Retrier(stop=stop)
    threading.Timer(0.05, stop.set).start()
    assert retrier.sleep(10) is True


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("7", 7.0, id="seconds"),
        pytest.param(None, None, id="absent"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("-3", None, id="negative"),
    ],
)
def test_parse_retry_after(header: str, expected: float) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    header = format_datetime(datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(header, now=lambda: now) == 30.0


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Attempt(Verdict.SUCCESS, status=200)),
        (299, Attempt(Verdict.SUCCESS, status=299)),
        (199, Attempt(Verdict.PERMANENT, "why", status=199)),
        (300, Attempt(Verdict.PERMANENT, "why", status=300)),
        (400, Attempt(Verdict.PERMANENT, "why", status=400)),
        (500, Attempt(Verdict.PERMANENT, "why", status=500)),  # retried by the drainer, not on the spot
        (429, Attempt(Verdict.RETRY, "why", 7.0, 429)),
        (502, Attempt(Verdict.RETRY, "why", 7.0, 502)),
        (503, Attempt(Verdict.RETRY, "why", 7.0, 503)),
        (504, Attempt(Verdict.RETRY, "why", 7.0, 504)),
    ],
)
def test_what_each_status_means(status: int, expected: Attempt) -> None:
    assert for_status(status, "why", "7") == expected
    assert for_status(status).detail == ""  # nothing said, nothing invented
    assert for_status(status).retry_after_s is None


def test_only_overload_and_gateway_statuses_are_worth_retrying() -> None:
    assert frozenset({429, 502, 503, 504}) == RETRYABLE_STATUSES


def test_every_way_out_says_how_many_attempts_and_why() -> None:
    """Each exit of the loop, its whole ``Outcome``: attempts counted, the last answer, the reason."""
    ok = Attempt(Verdict.SUCCESS, status=200)
    refused = Attempt(Verdict.PERMANENT, "400", status=400)

    def outcome(*answers: Attempt, deadline: float = 10.0, stop_after: int = 0) -> Outcome:
        clock = FakeClock()
        retrier = FakeRetrier(clock)
        calls = iter(range(1, 100))

        def attempt(left: float) -> Attempt:
            if next(calls) == stop_after:
                retrier.stop.set()
            return answers[min(len(clock.sleeps), len(answers) - 1)]

        return retrier.run(attempt, deadline=deadline)

    assert outcome(RETRY, ok) == Outcome(True, 2, ok)
    assert outcome(RETRY, RETRY, refused) == Outcome(False, 3, refused, "permanent")
    assert outcome(RETRY, deadline=1.0) == Outcome(False, 2, RETRY, "deadline")  # 0.5 s waited, 1 s would pass it
    assert outcome(RETRY, stop_after=2) == Outcome(False, 2, RETRY, "shutdown")  # stopped while it was trying


def test_a_stop_during_the_wait_ends_the_loop_as_shutdown() -> None:
    stop = threading.Event()
    answers = iter([RETRY, RETRY])

    def interrupted(seconds: float) -> bool:
        stop.set()
        return True

    retrier = Retrier(Backoff(), clock=lambda: 0.0, stop=stop, rand=lambda: 0.5, wait=interrupted)
    assert retrier.run(lambda left: next(answers), deadline=10.0) == Outcome(False, 1, RETRY, "shutdown")


def test_the_time_left_is_never_negative() -> None:
    told: list[float] = []
    now = iter([20.0, 20.0])

    def attempt(left: float) -> Attempt:
        told.append(left)
        return Attempt(Verdict.SUCCESS)

    Retrier(clock=lambda: next(now)).run(attempt, deadline=10.0)
    assert told == [0.0]


def test_a_wait_that_ends_exactly_at_the_deadline_is_taken() -> None:
    clock = FakeClock()
    answers = iter([Attempt(Verdict.RETRY, retry_after_s=10.0), Attempt(Verdict.SUCCESS)])
    outcome = FakeRetrier(clock).run(lambda left: next(answers), deadline=10.0)
    assert (outcome.delivered, clock.sleeps) == (True, [10.0])


def test_a_retry_after_date_in_the_past_means_now() -> None:
    now = datetime(2026, 1, 1, 0, 1, tzinfo=UTC).timestamp()
    header = format_datetime(datetime(2026, 1, 1, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(header, now=lambda: now) == 0.0
