"""Field-level plan rows: one row per record and field, the shape every job's --plan-out and `runs show --changes
--plan-out` write, so a dry run's plan file can be compared row for row with what the real run then logged."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from segmarketo_cli.state.change_log import UNKNOWN, Change, LoggedChange

PLAN_COLUMNS = ["key", "lead_id", "action", "target", "field", "before", "after", "reason", "origin"]


def cell(value: Any) -> str:
    """A value as a plan file shows it: UNKNOWN as "unknown", None as empty, booleans as true/false."""
    if value is UNKNOWN:
        return "unknown"
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def change_rows(change: Change) -> Iterator[dict[str, str]]:
    """A change's plan rows: one per field it changed, or one with an empty field when it changed none."""
    base = {"key": change.key, "lead_id": cell(change.lead_id), "action": change.action, "target": change.target,
            "reason": change.reason, "origin": change.origin}
    if not change.fields:
        yield {**base, "field": "", "before": "", "after": ""}
        return
    for name, (before, after) in change.fields.items():
        yield {**base, "field": name, "before": cell(before), "after": cell(after)}


def plan_rows(changes: Iterable[Change | LoggedChange]) -> Iterator[dict[str, str]]:
    """The plan rows of many changes, in order."""
    for change in changes:
        yield from change_rows(change.change if isinstance(change, LoggedChange) else change)
