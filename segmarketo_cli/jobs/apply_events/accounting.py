"""Per-rule outcome accounting for apply-events: each matched event settles once; applied ones are marked processed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from segmarketo_cli.jobs.apply_events.events import TOP_BUCKETS
from segmarketo_cli.jobs.apply_events.plan import DRY_RUN_OUTCOMES, OUTCOMES, Match
from segmarketo_cli.jobs.apply_events.rules import Rule
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import Balance, RunReport
from segmarketo_cli.state import StateStore

_RANK = {"": -1, "unchanged": 0, "applied": 1, "rejected": 2}
# (rule name or "" for a malformed line, origin, reason, details such as leadId, field, value): --plan-out's rejects
RejectSink = Callable[[str, str, str, dict[str, Any]], None]
HELD_ACTIONS = ("score", "trigger-campaign")  # actions whose write is not idempotent: pending until recorded


def open_buckets(report: RunReport, rules: list[Rule], *, dry_run: bool) -> None:
    """Every bucket the report shows, at zero: the input's, then each rule's outcomes."""
    report.ensure(*TOP_BUCKETS, "leads_created", "rejected", "uncertain")
    outcomes = DRY_RUN_OUTCOMES if dry_run else OUTCOMES
    for rule in rules:
        report.ensure(*(f"{rule.name}.{o}" for o in outcomes))
    report.rejected_buckets = ("malformed", *(f"{rule.name}.rejected" for rule in rules))


def close_buckets(report: RunReport, rules: list[Rule], *, dry_run: bool) -> None:
    """Balances that must add up, and `rejected`: malformed lines plus every rule's rejected events."""
    report.counts["rejected"] = report.rejected
    report.balances.append(Balance("messages", ("events_matched", "events_unmatched", "other_messages",
                                                "duplicates", "malformed")))
    for rule in rules:
        parts = ["planned"] if dry_run else ["applied", "unchanged"]
        parts += ["rejected", "already_applied"]
        if report.counts.get(f"{rule.name}.deferred"):
            parts.append("deferred")
        report.balances.append(Balance(f"{rule.name}.matched", tuple(f"{rule.name}.{p}" for p in parts)))


class Ledger:
    """Collects per-action confirmations of each match; when all are in, the match lands in one bucket.

    A match is rejected if any part failed, applied if any part changed Marketo, else unchanged. Applied and
    unchanged matches are recorded in the state store (scope = rule name) on `flush`, after each confirmed call.
    The running count and outcome live on the Match itself, so a million matches cost no extra objects.
    Writes that must not repeat (score, campaign request) are `hold`-ed as pending before they are sent; marking
    a match processed clears its pending row in the same transaction (see jobs/apply_events/pending.py for recovery).
    """

    def __init__(self, report: RunReport, rejects: RejectsWriter, store: StateStore, instance: str) -> None:
        self.report = report
        self.rejects = rejects
        self.store = store
        self.instance = instance
        self._expected: list[Match] = []
        self._reasons: dict[int, tuple[str | None, dict[str, Any]]] = {}
        self._confirmed: dict[str, list[str]] = {}
        self._released: list[tuple[str, str]] = []
        self.on_reject: RejectSink | None = None  # also tells --plan-out about every reject

    def bucket(self, rule: Rule, outcome: str, n: int = 1) -> None:
        self.report.add(f"{rule.name}.{outcome}", n)

    def expect(self, match: Match, parts: int = 1) -> None:
        if match.waiting == 0 and not match.outcome:
            self._expected.append(match)
        match.waiting += parts

    def settle(self, match: Match, outcome: str, reason: str | None = None, **details: Any) -> None:
        """One part of `match` is done with `outcome` ("applied", "unchanged" or "rejected" with a reason)."""
        if match.waiting <= 0:
            return
        if _RANK[outcome] > _RANK[match.outcome]:
            match.outcome = outcome
            if outcome == "rejected":
                self._reasons[id(match)] = (reason, details)
        match.waiting -= 1
        if match.waiting == 0:
            self._finish(match)

    def _finish(self, match: Match) -> None:
        self.bucket(match.rule, match.outcome)
        if match.outcome == "rejected":
            reason, details = self._reasons.pop(id(match), (None, {}))
            self.reject(match.rule, match.message_id, match.origin, reason or "rejected", **details)
            if match.rule.action in HELD_ACTIONS:
                self._released.append((match.rule.name, match.message_id))  # refused: the write did not happen
        else:
            self._confirmed.setdefault(match.rule.name, []).append(match.message_id)

    def reject(self, rule: Rule, message_id: str | None, origin: str, reason: str, **details: Any) -> None:
        """Write a rejects-file line for one (rule, event); callers count the bucket."""
        self.rejects.write(reason, rule=rule.name, messageId=message_id, origin=origin, **details)
        if self.on_reject is not None:
            self.on_reject(rule.name, origin, reason, details)

    def malformed(self, origin: str, reason: str) -> None:
        """Write a rejects-file line for an input line no rule could read; `malformed` counts it."""
        self.rejects.write(reason, origin=origin)
        if self.on_reject is not None:
            self.on_reject("", origin, reason, {})

    def flush(self) -> None:
        """Record confirmed events as processed, so a re-run never applies them again."""
        for scope, ids in self._confirmed.items():
            if ids:
                self.store.mark_processed(self.instance, scope, ids)
        if self._released:
            self.store.clear_pending(self.instance, self._released)
        self._confirmed.clear()
        self._released.clear()

    def hold(self, kind: str, entries: Iterable[tuple[Match, int, str | None, Any]]) -> None:
        """Record (match, lead id, field, value) writes as pending before they are sent (called on workers)."""
        rows = [(kind, m.rule.name, m.message_id, lead, name, value) for m, lead, name, value in entries]
        if rows:
            self.store.add_pending(self.instance, rows)

    def release(self, matches: Iterable[Match]) -> None:
        """Drop the pending rows of matches whose write certainly did not happen (Marketo answered an error)."""
        pairs = [(m.rule.name, m.message_id) for m in matches]
        if pairs:
            self.store.clear_pending(self.instance, pairs)

    def forget_settled(self) -> None:
        """Let go of the matches that settled (after each plan window), so they do not pile up over a run."""
        self._expected = [m for m in self._expected if m.waiting > 0]

    def abandon(self, outcome: str = "deferred") -> int:
        """Count every match still waiting (the run stopped early) in `outcome`; returns how many."""
        left = [m for m in self._expected if m.waiting > 0]
        for match in left:
            match.waiting = 0
            self.bucket(match.rule, outcome)
        self._expected.clear()
        return len(left)
