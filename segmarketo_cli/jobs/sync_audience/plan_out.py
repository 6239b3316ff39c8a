"""--plan-out: every intended create, add and remove of a sync-audience plan, and every unresolved person."""

from __future__ import annotations

from pathlib import Path

from segmarketo_cli.jobs.plan_file import write_plan_file
from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan, plan_rows

COLUMNS = ["action", "lead_id", "identity_type", "identity", "reason", "origin"]


def write_plan(plan: ListMembershipPlan, path: Path) -> None:
    """The plan's rows in the format `path`'s extension names (.csv, .jsonl, .parquet, .xlsx)."""
    write_plan_file(path, COLUMNS, plan_rows(plan))
