"""Limiter: sliding window (fake clock), in-flight cap, penalize, daily budget."""

from __future__ import annotations

import threading
import time

import pytest

from segmarketo_cli.errors import DailyBudgetExhausted, ExitCode
from segmarketo_cli.marketo.limits import Limiter


class FakeClock:
    """A clock that only moves when someone sleeps; thread-safe."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def admitted_times(limiter: Limiter, clock: FakeClock, n: int) -> list[float]:
    times = []
    for _ in range(n):
        with limiter.slot():
            times.append(clock())
    return times


def max_in_any_window(times: list[float], window: float) -> int:
    """The most calls inside any half-open window [t, t + window)."""
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


def test_window_never_admits_more_than_calls_in_any_window():
    clock = FakeClock()
    limiter = Limiter(calls=5, window_s=2.0, max_concurrency=3, clock=clock, sleep=clock.sleep)
    times = admitted_times(limiter, clock, 23)
    assert max_in_any_window(times, 2.0) == 5
    assert limiter.used == 23
    # 23 calls at 5 per 2 s need four full windows of waiting, and no more
    assert times[-1] - times[0] == pytest.approx(8.0)


def test_first_calls_go_without_waiting():
    clock = FakeClock()
    limiter = Limiter(calls=10, window_s=20.0, clock=clock, sleep=clock.sleep)
    admitted_times(limiter, clock, 10)
    assert clock.slept == []
    # the eleventh waits for the first call to leave the window
    assert admitted_times(limiter, clock, 1) == [pytest.approx(1020.0)]


def test_a_limiter_inheriting_a_previous_runs_window_waits_for_it():
    clock = FakeClock()
    first = Limiter(calls=10, window_s=20.0, clock=clock, sleep=clock.sleep)
    admitted_times(first, clock, 10)  # one flush used the whole window
    fresh = Limiter(calls=10, window_s=20.0, clock=clock, sleep=clock.sleep)
    second = Limiter(calls=10, window_s=20.0, clock=clock, sleep=clock.sleep)
    second.inherit(first)
    assert fresh.recent_calls() == 0  # without inheriting, a new limiter would call at once
    assert second.recent_calls() == 10
    assert admitted_times(second, clock, 1) == [pytest.approx(1020.0)]  # the next flush waits for that window


def test_inherit_carries_the_pause():
    clock = FakeClock()
    first = Limiter(calls=100, window_s=20.0, clock=clock, sleep=clock.sleep)
    first.penalize(5.0)
    second = Limiter(calls=100, window_s=20.0, clock=clock, sleep=clock.sleep)
    second.inherit(first)
    assert admitted_times(second, clock, 1) == [pytest.approx(1005.0)]


def test_penalize_pauses_the_next_call_and_never_shortens():
    clock = FakeClock()
    limiter = Limiter(calls=100, window_s=20.0, clock=clock, sleep=clock.sleep)
    limiter.penalize(5.0)
    limiter.penalize(1.0)
    start = clock()
    with limiter.slot():
        assert clock() - start == pytest.approx(5.0)


def test_daily_budget_stops_with_exit_75():
    clock = FakeClock()
    limiter = Limiter(calls=100, window_s=20.0, daily_budget=3, clock=clock, sleep=clock.sleep)
    admitted_times(limiter, clock, 3)
    with pytest.raises(DailyBudgetExhausted) as info, limiter.slot():
        pass
    assert info.value.exit_code == ExitCode.TEMPFAIL
    assert "3 Marketo calls" in str(info.value)
    assert limiter.used == 3
    assert limiter.in_flight == 0


def test_concurrency_cap_holds_across_threads():
    limiter = Limiter(calls=1000, window_s=1.0, max_concurrency=3)
    peak = 0
    current = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal peak, current
        with limiter.slot():
            with lock:
                current += 1
                peak = max(peak, current)
            time.sleep(0.02)
            with lock:
                current -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 3
    assert limiter.used == 12
    assert limiter.in_flight == 0


def test_reduce_concurrency_stops_at_one():
    limiter = Limiter(max_concurrency=3)
    assert [limiter.reduce_concurrency() for _ in range(4)] == [2, 1, 1, 1]
    assert limiter.concurrency == 1


def test_window_holds_with_threads_and_real_clock():
    limiter = Limiter(calls=4, window_s=0.3, max_concurrency=4)
    stamps: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        with limiter.slot(), lock:
            stamps.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stamps) == 10
    # scheduling jitter can only make calls later, never earlier
    assert max_in_any_window(sorted(stamps), 0.3 - 0.005) <= 4


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        Limiter(calls=0)
    with pytest.raises(ValueError):
        Limiter(max_concurrency=0)
    with pytest.raises(ValueError):
        Limiter(daily_budget=-1)
