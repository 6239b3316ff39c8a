"""`segmarketo runs list|show|prune|undo`: the runs recorded in this profile's state store, their reports and
change logs (prune and undo live in runs_changes.py and runs_undo.py)."""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.cli.render import render_report_data
from segmarketo_cli.cli.runs_changes import runs_prune, show_changes
from segmarketo_cli.cli.runs_undo import runs_undo
from segmarketo_cli.jobs.run_lookup import find_run
from segmarketo_cli.jobs.writeback.plan import parse_when
from segmarketo_cli.timeparse import iso_utc

STATUSES = ("ok", "partial", "failed", "refused", "deferred", "interrupted", "abandoned", "running")
# The last word of the buckets `runs list` shows (docs/runs.md); every bucket is in `runs show` and --json.
OUTCOMES = frozenset({"created", "updated", "unchanged", "added", "removed", "sent", "written", "printed", "applied",
                      "rejected", "deferred", "unresolved", "failed"})
TABLE_WIDTH = 80  # the table never grows past a classic terminal; wider cells wrap inside their column


def _when(epoch: float | None) -> str:
    """ISO 8601 in UTC, e.g. 2026-12-05T07:56:07Z."""
    return iso_utc(epoch) if epoch else "-"


def _by(run: dict[str, Any]) -> str:
    return f" by pid {run['pid']} on {run['host']}" if run.get("pid") and run.get("host") else ""


def _duration_s(run: dict[str, Any]) -> float | None:
    report = run.get("report") or {}
    if report.get("duration_s") is not None:
        return float(report["duration_s"])
    if run.get("finished_at"):
        return float(run["finished_at"] - run["started_at"])
    return None


def _human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{bucket.replace('_', ' ')} {n:,}" for bucket, n in counts.items() if n) or "-"


def _key_counts(counts: dict[str, int]) -> str:
    """The outcome buckets that are not zero (created 6, rejected 3), without per-rule or per-input detail."""
    shown = {bucket: n for bucket, n in counts.items()
             if "." not in bucket and bucket.rsplit("_", 1)[-1] in OUTCOMES}
    return _counts_text(shown)


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    report = run.get("report") or {}
    return {
        "run_id": run["run_id"],
        "command": run["command"],
        "started_at": _when(run["started_at"]),
        "duration_s": _duration_s(run),
        "status": run["status"],
        "dry_run": bool(report.get("dry_run")),
        "counts": report.get("counts", {}),
        "rejects_file": report.get("rejects_file"),
    }


def _since_epoch(text: str | None) -> float | None:
    return parse_when(text, datetime.now(timezone.utc)).timestamp() if text else None


def _table(rows: list[dict[str, Any]]) -> Table:
    """Two lines a run: id over command, start over duration, then status and the key counts (wrapped)."""
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False, leading=1)
    table.add_column("RUN ID\nCOMMAND", no_wrap=True)
    table.add_column("STARTED (UTC)\nTOOK", no_wrap=True)
    table.add_column("STATUS", no_wrap=True)
    table.add_column("COUNTS", min_width=16)
    for row in rows:
        status = row["status"] + ("\n(dry run)" if row["dry_run"] else "")
        table.add_row(f"{row['run_id']}\n{row['command']}",
                      f"{row['started_at']}\n{_human_duration(row['duration_s'])}", status,
                      escape(_key_counts(row["counts"])))
    return table


@click.group("runs", epilog=epilog("runs"))
def runs() -> None:
    """List recorded runs of this profile, show their reports and changes again, undo them."""


runs.add_command(runs_prune)
runs.add_command(runs_undo)


@runs.command("list", epilog=epilog("runs list"))
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many of the newest matching runs to list.")
@click.option("--command", "command_name", metavar="NAME", default=None,
              help="Only runs of this command, e.g. backfill-leads.")
@click.option("--status", type=click.Choice(STATUSES), metavar="STATUS", default=None,
              help=f"Only runs with this status: {', '.join(STATUSES)} ('running': not finished).")
@click.option("--since", metavar="WHEN", default=None,
              help="Only runs started since: ISO date/datetime (naive = UTC) or a duration back from now (24h, 7d).")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as one JSON array on stdout.")
@click.pass_obj
def runs_list(app: AppContext, limit: int, command_name: str | None, status: str | None, since: str | None,
              as_json: bool) -> None:
    """The newest runs: id, command, status, start (ISO 8601, UTC), duration and counts, in 80 columns.

    The rejects file of a run is in 'segmarketo runs show RUN_ID' and in --json.
    """
    found = app.store.list_runs(limit=limit, command=command_name, status=status, since=_since_epoch(since))
    rows = [_summary(run) for run in found]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        filtered = " matching the filters" if command_name or status or since else ""
        click.echo(f"no runs{filtered} recorded yet for profile '{app.profile_name}'", err=True)
        return
    console = Console(width=TABLE_WIDTH, highlight=False, color_system=None)
    with console.capture() as captured:
        console.print(_table(rows))
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def _show_invocation(run: dict[str, Any]) -> None:
    context = run.get("context")
    if not context:
        return
    click.echo(f"profile {context['profile']} · segmarketo {context['version']}", err=True)
    click.echo(f"arguments: {shlex.join(['segmarketo', *context['arguments']])}", err=True)
    for path in context["inputs"]:
        click.echo(f"input: {path}", err=True)


@runs.command("show", epilog=epilog("runs show"))
@click.argument("run_id")
@click.option("--changes", "changes", is_flag=True,
              help="List what the run wrote instead: counts per action, then the first rows (key/lead, action, "
                   "target, field, before -> after).")
@click.option("--plan-out", "plan_out", metavar="FILE", default=None,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="With --changes: write every row to FILE (.csv, .jsonl, .parquet, .xlsx).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the stored report as JSON on stdout (with 'invocation': arguments, inputs, profile, "
                   "version); with --changes, the counts and first rows.")
@click.pass_obj
def runs_show(app: AppContext, run_id: str, changes: bool, plan_out: Path | None, as_json: bool) -> None:
    """Print the report of RUN_ID again, with the arguments, inputs, profile and version it ran with (a unique
    prefix of the id is enough, `last` is the newest run, `last:COMMAND` the newest of that command); with
    --changes, what it wrote (its change log)."""
    run = find_run(app.store, run_id, app.profile_name)
    if plan_out is not None and not changes:
        raise click.UsageError("--plan-out goes with --changes")
    if changes:
        show_changes(app, run, plan_out, as_json)
        return
    report = run.get("report")
    if report is None:
        # The job is still running, or its process died before writing a report (abandoned once a later run of
        # the profile found it so).
        report = {"command": run["command"], "run_id": run["run_id"], "status": run["status"], "counts": {},
                  "notes": [f"started {_when(run['started_at'])}{_by(run)}; " + (
                      "its process ended without recording a report (killed, or the machine stopped)"
                      if run["status"] == "abandoned" else
                      "no report was recorded (still running, or the process was killed)")]}
    if as_json:
        render_report_data({**report, "invocation": run.get("context")}, as_json=True)
        return
    click.echo(f"{run['command']} run {run['run_id']}: started {_when(run['started_at'])}, "
               f"finished {_when(run['finished_at'])}", err=True)
    _show_invocation(run)
    render_report_data(report, as_json=False)
