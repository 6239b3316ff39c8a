"""A FIFO bulk job queue: N running, M queued including running, advanced per poll or by elapsed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Job(Protocol):
    phase: str  # "created" | "queued" | "running" | "done"
    since: float

    def start(self) -> None: ...

    def finish(self) -> None: ...


class BulkQueue:
    """Jobs move queued -> running -> done. With step_s == 0 each `advance()` is one step (poll-driven);
    otherwise a job moves once it has spent step_s in its phase (time-driven)."""

    def __init__(self, running: int = 2, capacity: int = 10, step_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.running_limit = running
        self.capacity = capacity
        self.step_s = step_s
        self.clock = clock
        self.jobs: list[Job] = []  # FIFO of jobs that are queued or running

    def active(self) -> int:
        return sum(1 for job in self.jobs if job.phase in ("queued", "running"))

    def has_room(self) -> bool:
        return self.active() < self.capacity

    def enqueue(self, job: Job) -> None:
        job.phase = "queued"
        job.since = self.clock()
        self.jobs.append(job)

    def drop(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)

    def refresh(self) -> None:
        """Apply elapsed time only (a no-op when poll-driven): used by calls that are not status polls."""
        if self.step_s > 0:
            self.advance()

    def advance(self) -> None:
        """One poll: move jobs along (one step when poll-driven, by elapsed time otherwise)."""
        now = self.clock()
        if self.step_s <= 0:
            self._finish_running(now, lambda job: True)
            self._promote(now)
            return
        self._replay(now)

    def _replay(self, now: float) -> None:
        """Time-driven: replay every finish/start event due by `now`, in time order, at its own instant."""
        free_at = 0.0
        while True:
            running = [job for job in self.jobs if job.phase == "running"]
            queued = [job for job in self.jobs if job.phase == "queued"]
            next_finish = min(running, key=lambda job: job.since, default=None)
            finish_at = next_finish.since + self.step_s if next_finish else float("inf")
            start_at = (max(queued[0].since + self.step_s, free_at)
                        if queued and len(running) < self.running_limit else float("inf"))
            moment = min(finish_at, start_at)
            if moment > now:
                return
            if finish_at <= start_at and next_finish is not None:
                next_finish.finish()
                next_finish.phase, next_finish.since = "done", finish_at
                self.jobs.remove(next_finish)
                free_at = finish_at
            else:
                job = queued[0]
                job.phase, job.since = "running", start_at
                job.start()

    def _finish_running(self, now: float, ready: Callable[[Job], bool]) -> bool:
        done = [job for job in self.jobs if job.phase == "running" and ready(job)]
        for job in done:
            job.finish()
            job.phase = "done"
            job.since = now
            self.jobs.remove(job)
        return bool(done)

    def _promote(self, now: float, ready: Callable[[Job], bool] = lambda job: False) -> bool:
        """Start queued jobs in FIFO order while fewer than `running_limit` run."""
        promoted = False
        running = sum(1 for job in self.jobs if job.phase == "running")
        for job in self.jobs:
            if running >= self.running_limit:
                break
            if job.phase == "queued" and (self.step_s <= 0 or ready(job)):
                job.phase = "running"
                job.since = now
                job.start()
                running += 1
                promoted = True
        return promoted
