"""`segmarketo runs list|show`: the runs recorded in this profile's state store, and their reports."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.cli.render import render_report_data
from segmarketo_cli.errors import SegmarketoError

COUNTS_WIDTH = 60


def _when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch)) if epoch else "-"


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
    text = ", ".join(f"{bucket.replace('_', ' ')} {n:,}" for bucket, n in counts.items() if n) or "-"
    return text if len(text) <= COUNTS_WIDTH else text[: COUNTS_WIDTH - 1] + "…"


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


@click.group("runs", epilog=epilog("runs"))
def runs() -> None:
    """List recorded runs of this profile and show their reports again."""


@runs.command("list", epilog=epilog("runs list"))
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many of the newest runs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON on stdout.")
@click.pass_obj
def runs_list(app: AppContext, limit: int, as_json: bool) -> None:
    """The newest runs: id, command, start (UTC), duration, status, main counts, rejects file."""
    rows = [_summary(run) for run in app.store.list_runs(limit=limit)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no runs recorded yet for profile '{app.profile_name}'", err=True)
        return
    table = [("RUN ID", "COMMAND", "STARTED (UTC)", "TOOK", "STATUS", "COUNTS", "REJECTS")]
    for row in rows:
        status = row["status"] + (" (dry run)" if row["dry_run"] else "")
        table.append((row["run_id"], row["command"], row["started_at"], _human_duration(row["duration_s"]),
                      status, _counts_text(row["counts"]), row["rejects_file"] or "-"))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*cells, line[-1]]).rstrip())


@runs.command("show", epilog=epilog("runs show"))
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the stored report as JSON on stdout.")
@click.pass_obj
def runs_show(app: AppContext, run_id: str, as_json: bool) -> None:
    """Print the report of RUN_ID again (a unique prefix of the id is enough)."""
    run_id = run_id.strip()
    matches = app.store.find_runs(run_id, limit=6) if run_id else []
    exact = [run for run in matches if run["run_id"] == run_id]
    if exact:
        matches = exact
    if not matches:
        raise SegmarketoError(f"no run '{run_id}' in profile '{app.profile_name}' (see 'segmarketo runs list')")
    if len(matches) > 1:
        ids = ", ".join(run["run_id"] for run in matches[:5])
        raise SegmarketoError(f"run id '{run_id}' is ambiguous: it starts {ids}{', …' if len(matches) > 5 else ''}")
    run = matches[0]
    report = run.get("report")
    if report is None:
        # The job is still running, or its process died before writing a report.
        report = {"command": run["command"], "run_id": run["run_id"], "status": run["status"], "counts": {},
                  "notes": [f"started {_when(run['started_at'])}; no report was recorded (still running, "
                            "or the process was killed)"]}
    if not as_json:
        click.echo(f"{run['command']} run {run['run_id']}: started {_when(run['started_at'])}, "
                   f"finished {_when(run['finished_at'])}", err=True)
    render_report_data(report, as_json=as_json)
