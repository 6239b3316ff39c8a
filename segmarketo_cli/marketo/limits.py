"""The one process-wide Marketo call limiter: sliding window, in-flight cap, throttle pauses and a daily budget."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import NoReturn

from segmarketo_cli.errors import DailyBudgetExhausted
from segmarketo_cli.marketo.codes import format_reset, next_quota_reset, quota_day
from segmarketo_cli.waits import waiting

log = logging.getLogger("segmarketo.marketo.limits")

RATE_WINDOW_WAIT = "waiting for Marketo's rate window"


class Limiter:
    """Admit at most `calls` calls in any `window_s` window and `max_concurrency` at once, across threads.

    `clock` and `sleep` are injectable so tests can drive the window with a fake clock. Waiting for the window
    and for a pause uses `sleep`; waiting for an in-flight slot uses a condition variable (another thread must
    finish its call first).

    The daily budget counts calls per America/Chicago day (`today`), starting from `used_today` (the calls
    earlier runs made today, kept in the state store); `usage` is what this limiter admitted per day.
    """

    def __init__(
        self,
        calls: int = 90,
        window_s: float = 20.0,
        max_concurrency: int = 5,
        daily_budget: int | None = None,
        used_today: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        today: Callable[[], str] = quota_day,
    ) -> None:
        if calls < 1 or window_s <= 0 or max_concurrency < 1:
            raise ValueError("Limiter needs calls >= 1, window_s > 0 and max_concurrency >= 1")
        if daily_budget is not None and daily_budget < 0:
            raise ValueError("daily_budget must be >= 0")
        self.calls = calls
        self.window_s = float(window_s)
        self.max_concurrency = max_concurrency
        self.daily_budget = daily_budget
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()
        self._slots = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._concurrency = max_concurrency
        self._paused_until = 0.0
        self._used = 0
        self._today = today
        self._day = today()
        self._earlier = max(used_today, 0)  # calls other runs made on self._day
        self._by_day: dict[str, int] = {}

    @property
    def used(self) -> int:
        """Calls admitted so far by this limiter."""
        with self._lock:
            return self._used

    @property
    def usage(self) -> dict[str, int]:
        """Calls admitted by this limiter per America/Chicago day (what the state store adds up)."""
        with self._lock:
            return dict(self._by_day)

    @property
    def concurrency(self) -> int:
        """The current in-flight cap (lowered by `reduce_concurrency` after 615 answers)."""
        with self._slots:
            return self._concurrency

    @property
    def in_flight(self) -> int:
        with self._slots:
            return self._in_flight

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Block until an in-flight slot and the window allow one call, then hold the slot for its duration."""
        with self._slots:
            while self._in_flight >= self._concurrency:
                self._slots.wait()
            self._in_flight += 1
        try:
            self._admit()
            yield
        finally:
            with self._slots:
                self._in_flight -= 1
                self._slots.notify()

    def recent_calls(self) -> int:
        """Calls admitted in the current window (this limiter's or inherited)."""
        with self._lock:
            self._wait_locked(self._clock())
            return len(self._stamps)

    def inherit(self, previous: Limiter) -> None:
        """Count the calls `previous` admitted in the current window, and its pause, against this limiter: one
        process running job after job (listen's flushes) stays inside Marketo's window across them."""
        with previous._lock:
            stamps, paused_until = list(previous._stamps), previous._paused_until
        with self._lock:
            self._stamps.extend(stamps)
            self._paused_until = max(self._paused_until, paused_until)

    def penalize(self, seconds: float) -> None:
        """Pause every thread for `seconds` (after Marketo said 606/615); pauses never shorten."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))

    def reduce_concurrency(self) -> int:
        """Lower the in-flight cap by one (never below 1) for the rest of the run; returns the new cap."""
        with self._slots:
            if self._concurrency > 1:
                self._concurrency -= 1
                log.info("Marketo reported too many concurrent calls; using at most %d in flight", self._concurrency)
            return self._concurrency

    def _wait_locked(self, now: float) -> float:
        while self._stamps and self._stamps[0] <= now - self.window_s:
            self._stamps.popleft()
        wait = self._paused_until - now
        if len(self._stamps) >= self.calls:
            wait = max(wait, self._stamps[0] + self.window_s - now)
        return max(wait, 0.0)

    def _admit(self) -> None:
        """Take a place in the window and count the call against today's budget; while the window is full or
        paused, the wait is on the wait board as RATE_WINDOW_WAIT."""
        with ExitStack() as board:
            on_board = False
            while True:
                with self._lock:
                    day = self._today()
                    if day != self._day:  # midnight in Chicago passed during the run: a fresh day's budget
                        self._day, self._earlier = day, 0
                    mine = self._by_day.get(day, 0)
                    if self.daily_budget is not None and self._earlier + mine >= self.daily_budget:
                        self._exhausted(day, mine)
                    now = self._clock()
                    wait = self._wait_locked(now)
                    if wait <= 0:
                        self._stamps.append(now)
                        self._used += 1
                        self._by_day[day] = mine + 1
                        return
                if not on_board:
                    board.enter_context(waiting(RATE_WINDOW_WAIT))
                    on_board = True
                # A floor keeps a fake or coarse clock from spinning on float rounding.
                self._sleep(max(wait, 0.001))

    def _exhausted(self, day: str, mine: int) -> NoReturn:
        reset = next_quota_reset()
        raise DailyBudgetExhausted(
            f"segmarketo's daily budget of {self.daily_budget:,} Marketo calls is spent for {day} "
            f"({self._earlier:,} made by earlier runs, {mine:,} by this one; setting daily_budget); "
            f"it resets at {format_reset(reset)} - run again then, or raise the budget",
            resume_at=reset.isoformat(),
        )
