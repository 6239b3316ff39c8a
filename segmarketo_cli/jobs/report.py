"""RunReport: outcome buckets that must add up (or, once interrupted, say what was not reached), status, exit."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.errors import ExitCode

STATUS_EXIT = {
    "ok": ExitCode.OK,
    "partial": ExitCode.PARTIAL,
    "refused": ExitCode.REFUSED,
    "deferred": ExitCode.TEMPFAIL,
    "failed": ExitCode.ERROR,
    "interrupted": ExitCode.INTERRUPTED,
}


def run_id_prefix(epoch: float) -> str:
    """The start of the id of a run started at `epoch`: ids sort by start time (20261205T075607Z-3f9a1c)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def new_run_id() -> str:
    return run_id_prefix(time.time()) + "-" + uuid.uuid4().hex[:6]


@dataclass
class Balance:
    """`total` must equal the sum of `parts` (e.g. leads planned = created + updated + ...)."""

    total: str
    parts: tuple[str, ...]


@dataclass
class RunReport:
    command: str
    run_id: str = field(default_factory=new_run_id)
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=lambda: {"marketo": 0, "segment": 0})
    rejects_file: str | None = None
    marketo_quota: dict[str, Any] | None = None  # jobs/quota.py: the day's calls, limit, budget, reset
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    balances: list[Balance] = field(default_factory=list)
    error: str | None = None
    forced_status: str | None = None
    started: float = field(default_factory=time.monotonic)
    started_at: float = field(default_factory=time.time)
    duration_s: float | None = None
    rejected_buckets: tuple[str, ...] = ("rejected",)
    rejects_written: int = 0
    known_rejects: int = 0  # of rejects_written, those an earlier run reported (docs/errors.md "Known rejects")
    strict: bool = False  # --strict: known rejects end the run partial (exit 3) like new ones

    def add(self, bucket: str, n: int = 1) -> None:
        self.counts[bucket] = self.counts.get(bucket, 0) + n

    def ensure(self, *buckets: str) -> None:
        """Make buckets appear (as 0) in a fixed order even when nothing landed in them."""
        for bucket in buckets:
            self.counts.setdefault(bucket, 0)

    def expect_balance(self, total: str, *parts: str) -> None:
        self.ensure(total, *parts)
        self.balances.append(Balance(total, parts))

    def imbalances(self) -> list[str]:
        problems = []
        for balance in self.balances:
            got = sum(self.counts.get(p, 0) for p in balance.parts)
            want = self.counts.get(balance.total, 0)
            if got != want:
                problems.append(f"{balance.total}={want} but {' + '.join(balance.parts)}={got}")
        return problems

    def finish(self) -> RunReport:
        if self.duration_s is None:
            self.duration_s = round(time.monotonic() - self.started, 3)
        return self

    @property
    def rejected(self) -> int:
        return sum(self.counts.get(b, 0) for b in self.rejected_buckets)

    @property
    def status(self) -> str:
        if self.forced_status:
            return self.forced_status
        if self.error:
            return "failed"
        return "partial" if self.rejected and not self.only_known_rejects else "ok"

    @property
    def only_known_rejects(self) -> bool:
        """Every reject written was reported by an earlier run, and --strict is off: exit 0 rather than 3."""
        return not self.strict and 0 < self.rejects_written == self.known_rejects

    @property
    def exit_code(self) -> ExitCode:
        return STATUS_EXIT[self.status]

    def to_dict(self) -> dict[str, Any]:
        self.finish()
        data: dict[str, Any] = {
            "command": self.command,
            "run_id": self.run_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "counts": dict(self.counts),
            "api_calls": dict(self.api_calls),
            "rejects_file": self.rejects_file,
            "duration_s": self.duration_s,
        }
        if self.known_rejects:
            data["rejects_written"], data["known_rejects"] = self.rejects_written, self.known_rejects
        if self.marketo_quota:
            data["marketo_quota"] = dict(self.marketo_quota)
        if self.notes:
            data["notes"] = list(self.notes)
        if self.error:
            data["error"] = self.error
        if self.details:
            data["details"] = self.details
        if self.status == "interrupted":
            not_reached = self.not_reached()
            if not_reached:
                data["not_reached"] = not_reached
                data.setdefault("notes", []).append(
                    "stopped before the end: " + ", ".join(f"{n:,} of {total.replace('_', ' ')}"
                                                           for total, n in not_reached.items())
                    + " not reached (a re-run takes them up)")
            return data
        problems = self.imbalances()
        if problems:
            data["imbalances"] = problems
        return data

    def not_reached(self) -> dict[str, int]:
        """Per balance total, how many of its records an interrupted run left without an outcome: the buckets of
        a run stopped early count what it did, so they fall short of their totals (docs/errors.md)."""
        gaps: dict[str, int] = {}
        for balance in self.balances:
            gap = self.counts.get(balance.total, 0) - sum(self.counts.get(p, 0) for p in balance.parts)
            if gap > 0:
                gaps[balance.total] = gap
        return gaps
