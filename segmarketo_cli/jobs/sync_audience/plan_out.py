"""--plan-out: every row of a sync-audience plan (changes.plan_changes) in the columns every job's plan file has."""

from __future__ import annotations

from pathlib import Path

from segmarketo_cli.jobs.changes import PLAN_COLUMNS, plan_rows
from segmarketo_cli.jobs.plan_file import write_plan_file
from segmarketo_cli.jobs.sync_audience.changes import plan_changes
from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan
from segmarketo_cli.state.change_log import Change


def write_plan(plan: ListMembershipPlan, path: Path, list_id: int | None = None,
               list_to_create: Change | None = None) -> None:
    """The plan's rows, streamed from the engine, in the format `path`'s extension names (.csv, .jsonl, .parquet,
    .xlsx)."""
    write_plan_file(path, PLAN_COLUMNS, plan_rows(plan_changes(plan, list_id, list_to_create=list_to_create)))
