"""apply-events --plan-out and the dry-run sample: the changes of each plan window as it is planned, then every
reject, streamed to the plan file in PLAN_COLUMNS (a window's rows at a time, never the whole plan)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

from segmarketo_cli.jobs.apply_events.staging import StagedEvents, rows
from segmarketo_cli.jobs.changes import PLAN_COLUMNS, cell, plan_rows
from segmarketo_cli.jobs.plan_file import write_plan_file
from segmarketo_cli.jobs.rejects import clip
from segmarketo_cli.state.change_log import Change

SAMPLE_PER_ACTION = 2  # rows of each action the terminal dry run shows


class PlanOut:
    """Counts the plan's rows per action, keeps the first few of each action for the terminal, and writes every
    row to `path` (when given) with the rejects after them."""

    def __init__(self, path: Path | None, staged: StagedEvents) -> None:
        self.path = path
        self.staged = staged
        self.counts: dict[str, int] = {}
        self.sample: list[dict[str, str]] = []
        self.written = 0

    def reject(self, rule: str, origin: str, reason: str, details: dict[str, Any]) -> None:
        """Stage one reject for the plan file (the Ledger's `on_reject`): the value at fault, cut like the
        rejects file cuts it."""
        field = details.get("field")
        value = details.get("value") if field else None
        self.staged.add_plan_reject(details.get("leadId"), rule, field,
                                    None if value is None else str(clip(cell(value))), reason, origin)

    def write(self, changes: Iterable[Change], email: Callable[[int], str]) -> None:
        """Take `changes` to their end (in a real run that applies the plan), counting and sampling their rows;
        with a path, write them, then the rejects, to it. `email` names the lead of a refused write."""
        counted = self._counted(plan_rows(changes))
        if self.path is None:
            for _ in counted:
                pass
            return
        self.written = write_plan_file(self.path, PLAN_COLUMNS, chain(counted, self._rejects(email)))

    def _counted(self, plan: Iterator[dict[str, str]]) -> Iterator[dict[str, str]]:
        for row in plan:
            seen = self.counts.get(row["action"], 0)
            if seen < SAMPLE_PER_ACTION:
                self.sample.append(row)
            self.counts[row["action"]] = seen + 1
            yield row

    def _rejects(self, email: Callable[[int], str]) -> Iterator[dict[str, str]]:
        self.staged.plan_rejects.flush()
        for lead_id, rule, field, value, reason, origin in rows(
                self.staged.con, "SELECT lead_id, rule, field, value, reason, origin FROM ae_plan_rejects "
                                 "ORDER BY seq"):
            yield {"key": email(lead_id) if lead_id else "", "lead_id": cell(lead_id), "action": "reject",
                   "target": "", "field": field or "", "before": "", "after": value or "",
                   "reason": f"{rule}: {reason}" if rule else reason, "origin": origin}
