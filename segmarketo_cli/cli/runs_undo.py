"""`segmarketo runs undo RUN`: reverse what a run wrote to Marketo, as a run of its own."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.cli.jobrun import run_job
from segmarketo_cli.cli.options import job_options
from segmarketo_cli.cli.rejects_options import strict_option
from segmarketo_cli.cli.runs_changes import change_table
from segmarketo_cli.jobs.undo.prepare import UndoOptions, prepare
from segmarketo_cli.jobs.undo.run import UndoSummary, run
from segmarketo_cli.state.change_log import UNDO_COMMAND


@click.command("undo", epilog=epilog("runs undo"))
@click.argument("run_id")
@click.option("--delete-created", is_flag=True,
              help="Also delete the leads the run created (their activity history in Marketo is lost).")
@click.option("--plan-out", "plan_out", metavar="FILE", default=None,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write every row of the undo (restore, conflict, skip) to FILE (.csv, .jsonl, .parquet, .xlsx).")
@strict_option
@job_options
@click.pass_obj
def runs_undo(app: AppContext, run_id: str, delete_created: bool, plan_out: Path | None, dry_run: bool,
              as_json: bool, rejects_path: str | None) -> None:
    """Put back what RUN_ID wrote to Marketo, where Marketo still holds what it wrote.

    \b
    Field values go back to their before-values (a field changed since is a conflict, left alone
    and reported with its current value); list adds and removes are reversed; score increments
    are subtracted once (a second undo skips what was undone). Leads the run created are listed,
    and deleted only with --delete-created. Program statuses, campaign requests, Segment events,
    unsubscribes (and apply-events' list removals, part of a consent) and deletes are listed as not
    reversible. The undo reads and writes 300 leads at a time; stopped midway, run it again. It is
    a run of its own, with its report, change log and exit code (3 when there are conflicts or rejects).
    RUN_ID may be a unique prefix, `last` or `last:COMMAND` (e.g. last:sync-audience); `last`
    skips dry runs and undos, so `runs undo last` run again finishes the same undo.
    """
    options = UndoOptions(run_id=run_id, delete_created=delete_created, plan_out=plan_out, dry_run=dry_run)
    services = app.services()
    prepared = prepare(app.settings, options, services)  # unknown, running, other instance: one line, exit 2
    run_job(app, UNDO_COMMAND, functools.partial(run, prepared=prepared), services=services, show_plan=show_plan,
            dry_run=dry_run, as_json=as_json, rejects_path=rejects_path)


def show_plan(summary: UndoSummary) -> None:
    """The dry run on stdout: what the undo would restore, delete, leave (conflicts) and skip (the first rows)."""
    click.echo("Undo plan (dry run, nothing written):")
    click.echo(change_table(summary.rows, summary.items))
