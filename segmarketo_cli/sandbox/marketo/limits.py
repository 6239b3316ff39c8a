"""Marketo's limits as the server enforces them: sliding window (606), concurrency (615), daily quota (607)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from segmarketo_cli.sandbox.envelope import ApiError

# Codes whose calls do not count toward the quota or the rate limit (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/error-codes).
NON_COUNTING = frozenset({"601", "602", "604", "605", "608", "611"})
CENTRAL = ZoneInfo("America/Chicago")


def quota_day(now: float | None = None) -> str:
    """The daily-quota day: the date in US Central time, where Marketo's quota resets."""
    return datetime.fromtimestamp(time.time() if now is None else now, CENTRAL).strftime("%Y-%m-%d")


class Admission:
    """One admitted call: its window stamp, so a non-counting outcome can be given back."""

    def __init__(self, stamp: float, day: str) -> None:
        self.stamp = stamp
        self.day = day


class ServerLimits:
    """Thread-safe admission control. Calls refused with 606/615/607 are not counted (UNCONFIRMED choice)."""

    def __init__(self, calls: int = 100, window_s: float = 20.0, max_concurrency: int = 10,
                 daily_quota: int = 50000, clock: Callable[[], float] = time.monotonic) -> None:
        self.calls = calls
        self.window_s = window_s
        self.max_concurrency = max_concurrency
        self.daily_quota = daily_quota
        self.clock = clock
        self.in_flight = 0
        self.peak_in_flight = 0
        self.usage: dict[str, int] = {}  # quota day -> counted calls
        self.errors: dict[str, dict[str, int]] = {}  # quota day -> code -> count
        self._window: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> Admission:
        """Count one call or raise ApiError 607 / 606 / 615."""
        with self._lock:
            day = quota_day()
            if self.usage.get(day, 0) >= self.daily_quota:
                raise ApiError("607", "Daily quota reached")
            now = self.clock()
            while self._window and self._window[0] <= now - self.window_s:
                self._window.popleft()
            if len(self._window) >= self.calls:
                raise ApiError("606", f"Max rate limit '{self.calls}' exceeded with in '{int(self.window_s)}' secs")
            if self.in_flight >= self.max_concurrency:
                raise ApiError("615", f"Concurrent access limit '{self.max_concurrency}' reached")
            self._window.append(now)
            self.usage[day] = self.usage.get(day, 0) + 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return Admission(now, day)

    def release(self, admission: Admission, code: str | None) -> None:
        """End an admitted call; a non-counting response code gives the call back to window and quota."""
        with self._lock:
            self.in_flight -= 1
            if code in NON_COUNTING:
                try:
                    self._window.remove(admission.stamp)
                except ValueError:
                    pass
                self.usage[admission.day] = max(0, self.usage.get(admission.day, 0) - 1)

    def record_error(self, code: str) -> None:
        with self._lock:
            per_day = self.errors.setdefault(quota_day(), {})
            per_day[code] = per_day.get(code, 0) + 1

    def used_today(self) -> int:
        with self._lock:
            return self.usage.get(quota_day(), 0)

    def set_used_today(self, count: int) -> None:
        """Test hook: pretend `count` calls were already made today (e.g. to reach the 607 quota quickly)."""
        with self._lock:
            self.usage[quota_day()] = count

    def reset_window(self) -> None:
        with self._lock:
            self._window.clear()
