"""Named waits a run is in (Marketo's rate window, a queued bulk job), registered for whoever shows progress."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Wait:
    """One wait: what it is waiting for ("bulk import queued") and since when (time.monotonic())."""

    label: str
    since: float


class WaitBoard:
    """The waits in progress across threads. Core code registers them with `waiting`; the CLI, on a terminal,
    shows the oldest one (`current`). Registering costs a lock and a dict entry, so it is done whether or not
    anybody watches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, Wait] = {}
        self._ids = itertools.count()

    @contextmanager
    def waiting(self, label: str, since: float | None = None) -> Iterator[None]:
        """Mark the block as a wait named `label`, which began at `since` (default: now)."""
        key = next(self._ids)
        with self._lock:
            self._active[key] = Wait(label, time.monotonic() if since is None else since)
        try:
            yield
        finally:
            with self._lock:
                del self._active[key]

    def current(self) -> Wait | None:
        """The wait that has lasted longest, or None when nothing waits."""
        with self._lock:
            return min(self._active.values(), key=lambda wait: wait.since, default=None)


BOARD = WaitBoard()  # one per process, like the Marketo limiter: every thread of the run waits on the same quota
waiting = BOARD.waiting
