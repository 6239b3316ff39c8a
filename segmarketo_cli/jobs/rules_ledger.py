"""Per-rule outcome accounting for apply-events: each matched event settles once; applied ones are marked processed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..rejects import RejectsWriter
from ..report import RunReport
from ..rules import Rule
from ..state import StateStore
from .rules import Match

_RANK = {"unchanged": 0, "applied": 1, "rejected": 2}


@dataclass(slots=True)
class _Pending:
    match: Match
    remaining: int
    outcome: str = "unchanged"
    reason: str | None = None
    details: dict[str, Any] | None = None


class Ledger:
    """Collects per-action confirmations of each match; when all are in, the match lands in one bucket.

    A match is rejected if any part failed, applied if any part changed Marketo, else unchanged. Applied and
    unchanged matches are recorded in the state store (scope = rule name) on `flush`, after each confirmed call.
    """

    def __init__(self, report: RunReport, rejects: RejectsWriter, store: StateStore | None, instance: str) -> None:
        self.report = report
        self.rejects = rejects
        self.store = store
        self.instance = instance
        self._pending: dict[int, _Pending] = {}
        self._confirmed: dict[str, list[str]] = {}

    def bucket(self, rule: Rule, outcome: str, n: int = 1) -> None:
        self.report.add(f"{rule.name}.{outcome}", n)

    def expect(self, match: Match, parts: int = 1) -> None:
        entry = self._pending.get(id(match))
        if entry is None:
            self._pending[id(match)] = _Pending(match, parts)
        else:
            entry.remaining += parts

    def settle(self, match: Match, outcome: str, reason: str | None = None, **details: Any) -> None:
        """One part of `match` is done with `outcome` ("applied", "unchanged" or "rejected" with a reason)."""
        entry = self._pending.get(id(match))
        if entry is None:
            return
        if _RANK[outcome] > _RANK[entry.outcome]:
            entry.outcome = outcome
            if outcome == "rejected":
                entry.reason, entry.details = reason, details
        entry.remaining -= 1
        if entry.remaining <= 0:
            del self._pending[id(match)]
            self._finish(entry)

    def _finish(self, entry: _Pending) -> None:
        match = entry.match
        self.bucket(match.rule, entry.outcome)
        if entry.outcome == "rejected":
            self.reject(match.rule, match.message_id, match.origin, entry.reason or "rejected", **(entry.details or {}))
        else:
            self._confirmed.setdefault(match.rule.name, []).append(match.message_id)

    def reject(self, rule: Rule, message_id: str | None, origin: str, reason: str, **details: Any) -> None:
        """Write a rejects-file line for one (rule, event); callers count the bucket."""
        self.rejects.write(reason, rule=rule.name, messageId=message_id, origin=origin, **details)

    def flush(self) -> None:
        """Record confirmed events as processed, so a re-run never applies them again."""
        if self.store is not None:
            for scope, ids in self._confirmed.items():
                if ids:
                    self.store.mark_processed(self.instance, scope, ids)
        self._confirmed.clear()

    def abandon(self, outcome: str = "deferred") -> int:
        """Count every match still waiting (the run stopped early) in `outcome`; returns how many."""
        entries = list(self._pending.values())
        self._pending.clear()
        for entry in entries:
            self.bucket(entry.match.rule, outcome)
        return len(entries)

    @property
    def waiting(self) -> int:
        return len(self._pending)
