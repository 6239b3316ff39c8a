"""Scripted fault injection: Marketo error codes, HTTP statuses, dropped connections and stalls."""

from __future__ import annotations

import threading
from dataclasses import dataclass

MARKETO_MESSAGES = {
    "601": "Access token invalid", "602": "Access token expired", "603": "Access denied",
    "604": "Request timed out", "606": "Max rate limit '100' exceeded with in '20' secs",
    "607": "Daily quota reached", "608": "API Temporarily Unavailable", "609": "Invalid JSON",
    "610": "Requested resource not found", "611": "System error", "614": "Invalid Subscription",
    "615": "Concurrent access limit '10' reached", "713": "Transient Error", "719": "Lock wait timeout exception",
    "1016": "Too many imports", "1019": "Import in progress", "1029": "Too many jobs in queue",
}
CORRUPT = "corrupt"


@dataclass
class Fault:
    """One scripted fault. `code` is a Marketo code string, an HTTP status int, "reset", "timeout", "slow" or
    "corrupt" (a bulk extract file download answers normally but with a damaged body, so its SHA-256 no longer
    matches the job's fileChecksum; it only ever matches `…/file.json` downloads)."""

    code: str | int
    times: int = 1
    path: str | None = None
    retry_after: float | None = None
    delay_s: float | None = None
    message: str | None = None

    def matches(self, path: str) -> bool:
        if self.code == CORRUPT and not path.endswith("/file.json"):
            return False
        if self.path is None:
            return path.startswith(("/rest/", "/bulk/"))
        return path.startswith(self.path)


class Faults:
    """A thread-safe FIFO of scripted faults; each matching request consumes one occurrence."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.fired: list[tuple[str, str | int]] = []  # (path, code) of every fault served

    def add(self, code: str | int, times: int = 1, path: str | None = None, *, retry_after: float | None = None,
            delay_s: float | None = None, message: str | None = None) -> Fault:
        """Script `code` for the next `times` requests under `path` (default: every Marketo /rest and /bulk call)."""
        if isinstance(code, str) and len(code) == 3 and code[0] in "45" and code.isdigit():
            code = int(code)  # "500" means the HTTP status; Marketo codes are 6xx, 7xx and 1xxx
        fault = Fault(code, times, path, retry_after, delay_s, message)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    self.fired.append((path, fault.code))
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(f.times for f in self._faults)
