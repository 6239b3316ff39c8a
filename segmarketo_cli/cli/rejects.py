"""`segmarketo rejects list|show`: the rejects files of recent runs, and what one run rejected and why."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import click

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.errors import SegmarketoError
from segmarketo_cli.timeparse import iso_utc

_EMAIL = re.compile(r"([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
MAX_REASONS = 30  # distinct reasons summed; the rest (reasons that name a record) go under "other reasons"


def mask_emails(text: str) -> str:
    """'ann.smith@example.com' -> 'a***@example.com': enough to tell records apart, not to read the address."""
    return _EMAIL.sub(r"\1***@\2", text)


@click.group("rejects", epilog=epilog("rejects"))
def rejects() -> None:
    """List the rejects files of recent runs and show what a run rejected."""


@rejects.command("list", epilog=epilog("rejects list"))
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many of the newest runs with rejects to list.")
@click.option("--command", "command", default=None, metavar="COMMAND", help="Only runs of this command.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON on stdout.")
@click.pass_obj
def rejects_list(app: AppContext, limit: int, command: str | None, as_json: bool) -> None:
    """The newest runs that rejected records: run id, command, count, rejects file."""
    rows: list[dict[str, Any]] = [{"run_id": run.run_id, "command": run.command,
             "started_at": iso_utc(run.started_at),
             "status": run.status, "count": run.rejected, "path": run.path}
            for run in app.store.reject_history.runs(limit=limit, command=command)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no rejects recorded for profile '{app.profile_name}'", err=True)
        return
    width = max(len(row["command"]) for row in rows)
    for row in rows:
        click.echo(f"{row['run_id']}  {row['command']:<{width}}  {row['count']:>9,}  {row['path']}")


@rejects.command("show", epilog=epilog("rejects show"))
@click.argument("run_id")
@click.option("--limit", "-n", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many rejected records to print (0: all).")
@click.option("--show-pii", is_flag=True, help="Print e-mail addresses as they are (masked by default).")
@click.pass_obj
def rejects_show(app: AppContext, run_id: str, limit: int, show_pii: bool) -> None:
    """The reasons RUN_ID's records were rejected (counted) and the records themselves (a unique prefix of the id
    is enough). E-mail addresses are masked unless --show-pii."""
    run = app.store.reject_history.run(run_id.strip()) if run_id.strip() else None
    if run is None:
        raise SegmarketoError(f"no rejects recorded for run '{run_id}' in profile '{app.profile_name}' "
                              "(see 'segmarketo rejects list')")
    reasons: Counter[str] = Counter()
    shown = known = total = 0
    path = Path(run.path)
    try:
        with path.open("r", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                total += 1
                known += bool(record.get("known"))
                reason = str(record.get("reason"))
                reasons[reason if reason in reasons or len(reasons) < MAX_REASONS else "other reasons"] += 1
                if limit == 0 or shown < limit:
                    shown += 1
                    click.echo(line.rstrip("\n") if show_pii else mask_emails(line.rstrip("\n")))
    except (OSError, ValueError) as exc:
        raise SegmarketoError(f"rejects file {path} of run {run.run_id} cannot be read: {exc}") from None
    click.echo(f"{run.command} run {run.run_id}: {total:,} rejected ({known:,} known) in {path}", err=True)
    for reason, count in reasons.most_common():
        click.echo(f"  {count:>9,}  {reason if show_pii else mask_emails(reason)}", err=True)
    if shown < total:
        click.echo(f"  … {total - shown:,} more record(s): --limit 0 prints them all", err=True)
