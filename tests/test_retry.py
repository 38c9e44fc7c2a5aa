"""The retry loop alone, on a fake clock: no sockets, no waiting."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from spanhive._retry import Attempt, Backoff, Retrier, Verdict, parse_retry_after


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
