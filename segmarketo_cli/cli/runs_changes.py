"""`runs show RUN --changes` and `runs prune`: a run's change log on the terminal or in a plan file, and its
retention."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.jobs.changes import PLAN_COLUMNS, plan_rows
from segmarketo_cli.jobs.plan_file import check_plan_out, write_plan_file
from segmarketo_cli.timeparse import duration_s, iso_utc

SHOWN_ROWS = 20  # rows of a change log the terminal shows; --plan-out writes them all
TABLE_WIDTH = 100


def change_table(rows: Iterable[dict[str, str]], total: int, *, limit: int = SHOWN_ROWS) -> str:
    """The first `limit` plan rows as a table (key/lead, action, target, field, before → after), then how many
    more there are."""
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False)
    for name in ("KEY / LEAD", "ACTION", "TARGET", "FIELD", "BEFORE → AFTER"):
        table.add_column(name, overflow="fold")
    shown = 0
    for row in islice(rows, limit):
        who = row["key"] or "-"
        if row["lead_id"] and row["lead_id"] != row["key"]:
            who = f"{who} / {row['lead_id']}" if row["key"] else row["lead_id"]
        values = f"{row['before'] or '∅'} → {row['after'] or '∅'}" if row["field"] else ""
        table.add_row(*(escape(text) for text in (who, row["action"], row["target"], row["field"], values)))
        shown += 1
    console = Console(width=TABLE_WIDTH, highlight=False, color_system=None)
    with console.capture() as captured:
        console.print(table)
    lines = [line.rstrip() for line in captured.get().splitlines()]
    if total > shown:
        lines.append(f"… and {total - shown:,} more (write all with --plan-out FILE)")
    return "\n".join(lines)


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{action} {n:,}" for action, n in counts.items())


def show_changes(app: AppContext, run: dict[str, Any], plan_out: Path | None, as_json: bool) -> None:
    """The run's changes: counts per action, the first rows, and every row in `plan_out`."""
    log = app.store.change_log
    run_id = run["run_id"]
    counts = log.counts(run_id)
    if plan_out is not None:
        check_plan_out(plan_out)
    if not counts:
        why = "it was a dry run" if (run.get("report") or {}).get("dry_run") else \
            "it wrote nothing, or its change log was pruned"
        click.echo(f"run {run_id} has no changes in the log ({why})", err=True)
        if as_json:
            click.echo(json.dumps({"run_id": run_id, "counts": {}, "rows": 0, "changes": []}, indent=2))
        return
    written = write_plan_file(plan_out, PLAN_COLUMNS, plan_rows(log.changes(run_id))) if plan_out else None
    first = list(islice(plan_rows(log.changes(run_id)), SHOWN_ROWS))
    if as_json:
        data = {"run_id": run_id, "counts": counts, "changes": first, "plan_out": str(plan_out) if plan_out else None,
                "rows_written": written}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(f"{run['command']} run {run_id}: {_counts_line(counts)}", err=True)
    total = written if written is not None else len(first) if len(first) < SHOWN_ROWS else \
        sum(1 for _ in plan_rows(log.changes(run_id)))
    table = change_table(iter(first), total)
    if plan_out is not None:
        table = table.replace("(write all with --plan-out FILE)", f"(all {written:,} rows in {plan_out})")
    click.echo(table)


@click.command("prune", epilog=epilog("runs prune"))
@click.option("--older-than", "older_than", metavar="AGE", required=True,
              help="Drop the change logs of runs started longer ago than AGE: 90d, 12w, 24h.")
@click.option("--dry-run", is_flag=True, help="Say what would be dropped; drop nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print {runs, changes, before, dry_run} as JSON on stdout.")
@click.pass_obj
def runs_prune(app: AppContext, older_than: str, dry_run: bool, as_json: bool) -> None:
    """Drop the change logs (what `runs show --changes` lists and `runs undo` reverses) of old runs.

    The runs and their reports stay. Every real run also drops changes older than the profile's
    keep_changes (default 90d)."""
    cutoff = time.time() - duration_s(older_than, what="--older-than")
    log = app.store.change_log
    runs, rows = log.prunable(cutoff) if dry_run else log.prune(cutoff)
    if as_json:
        click.echo(json.dumps({"runs": runs, "changes": rows, "before": iso_utc(cutoff), "dry_run": dry_run}))
        return
    verb = "would drop" if dry_run else "dropped"
    click.echo(f"{verb} the change logs of {runs:,} run(s) ({rows:,} changes) started before {iso_utc(cutoff)}",
               err=True)
