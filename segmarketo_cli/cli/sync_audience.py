"""`segmarketo sync-audience`: make a Marketo static list match a Segment audience."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from segmarketo_cli.cli.aliases import aliased_option
from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.cli.jobrun import run_job
from segmarketo_cli.cli.options import job_options, partition_option
from segmarketo_cli.cli.rejects_options import one_input_file, retry_rejects_option
from segmarketo_cli.jobs.sync_audience.changes import plan_changes
from segmarketo_cli.jobs.sync_audience.plan import MODES
from segmarketo_cli.jobs.sync_audience.prepare import DEFAULT_EXTRACT_THRESHOLD, SyncOptions, prepare
from segmarketo_cli.jobs.sync_audience.run import DryRunPlan, run
from segmarketo_cli.sources.audience.readers import ID_TYPES
from segmarketo_cli.state.change_log import Change


def show_plan(shown: DryRunPlan, sample: int = 20) -> None:
    """The dry-run plan on stdout: totals, then the first rows of each action (all of them: --plan-out)."""
    plan, list_label = shown.plan, shown.list_label
    out = sys.stdout
    out.write(f"Plan for list '{list_label}' ({plan.mode}): {plan.current:,} members now; "
              f"add {len(plan.adds):,}, remove {len(plan.removes):,}, create {plan.to_create:,}, "
              f"unchanged {plan.unchanged:,}, kept {plan.kept:,}, unresolved {plan.unresolved:,}\n")
    for change in plan_changes(plan, shown.list_id, list_to_create=shown.list_to_create, limit=sample):
        if change.action != "reject":  # rejected rows: the report and the rejects file
            out.write(_plan_line(change) + "\n")
    hidden = sum(max(0, n - sample) for n in (plan.to_create, plan.to_create, plan.unresolved, len(plan.adds),
                                               len(plan.removes)))
    if hidden:
        out.write(f"  … and {hidden:,} more (write them all with --plan-out FILE)\n")
    out.flush()


def _plan_line(change: Change) -> str:
    """One plan row on the terminal: action, lead, key, reason (which names the key's type), origin."""
    origin = f"  ({change.origin})" if change.origin else ""
    if change.action == "unresolved":
        return f"  not in Marketo: {change.key}  {change.reason}{origin}"
    if change.target.startswith("list:"):
        return f"  create  list '{change.key}'  ({change.reason})"
    lead = "new lead" if change.lead_id is None else f"lead {change.lead_id}"
    if change.action == "create":
        return f"  create  {change.key}  {change.reason}{origin}"
    return f"  {change.action:<7} {lead}  {change.key}  {change.reason}{origin}"


@click.command("sync-audience", epilog=epilog("sync-audience"))
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--list", "list_name", metavar="NAME", help="Static list, by exact name.")
@click.option("--list-id", type=click.IntRange(min=1), metavar="ID", help="Static list, by id.")
@click.option("--mode", type=click.Choice(MODES), default=None,
              help="mirror: the list becomes the audience (default for CSV snapshots); delta: apply entries and "
                   "exits (default for events); add-only: never remove.")
@click.option("--audience", "audience_key", metavar="KEY", help="Audience key to pick from S3 CSVs and event files.")
@click.option("--id-column", metavar="C", help="Column holding the identifier (auto-detected by name otherwise).")
@click.option("--id-type", type=click.Choice(ID_TYPES), default=None, help="What the identifier column holds.")
@click.option("--sheet", metavar="NAME", help="Spreadsheet audiences (.xlsx, .xls): the sheet to read [default: "
              "the first].")
@click.option("--create-list", is_flag=True, help="Create the list when it does not exist (needs --folder).")
@click.option("--folder", metavar="NAME", help="Marketing folder or program for --create-list: exact name, full "
              "path, folder:N or program:N.")
@click.option("--create-missing", is_flag=True, help="Create leads for people not in Marketo (else: unresolved).")
@click.option("--max-removals", metavar="N|N%", default=None,
              help="Mirror mode: refuse (exit 4) to remove more than this [default: 10%].")
@click.option("--force", is_flag=True, help="Skip the mirror-mode safety guard (mass removal, empty audience).")
@aliased_option("--bulk-threshold", "bulk_threshold", hidden_aliases=["--extract-threshold"], metavar="N",
                type=click.IntRange(min=0), default=DEFAULT_EXTRACT_THRESHOLD, show_default=True,
                help="Read the list's members with one Bulk Lead Extract when it holds more than N.")
@click.option("--strict", is_flag=True, help="Exit 3 when some people cannot be found in Marketo, and for known "
              "rejects (rejects an earlier run already reported; without --strict they are marked known, exit 0).")
@click.option("--plan-out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the plan to FILE, one row per change (create, add, remove) and per person left out "
                   "(unresolved, reject): CSV, JSON lines, Parquet or Excel by its extension (.csv, .jsonl, "
                   ".parquet, .xlsx).")
@partition_option
@retry_rejects_option
@job_options
@click.pass_obj
def sync_audience(app: AppContext, file: str | None, list_name: str | None, list_id: int | None, mode: str | None,
                  audience_key: str | None, id_column: str | None, id_type: str | None, sheet: str | None,
                  create_list: bool, folder: str | None, create_missing: bool, max_removals: str | None, force: bool,
                  bulk_threshold: int, strict: bool, plan_out: str | None, partition: str | None, dry_run: bool,
                  as_json: bool, rejects_path: str | None) -> None:
    """Make a Marketo static list match a Segment audience in FILE.

    FILE is an Engage audience CSV download (formatted or unformatted), any CSV or spreadsheet (.xlsx, .xls)
    with an identifier column, an AWS S3 (Actions) CSV, or Segment JSONL(.gz) with Audience Entered/Exited events.
    Exit 4 when the safety guard refuses the plan (nothing is written).
    """
    app.override(partition=partition)
    file = one_input_file(app, "sync-audience", file, strict=strict)
    options = SyncOptions(
        file=file, list_name=list_name, list_id=list_id, mode=mode, audience_key=audience_key, id_column=id_column,
        id_type=id_type, sheet=sheet, create_list=create_list, folder=folder, create_missing=create_missing,
        max_removals=max_removals, force=force, extract_threshold=bulk_threshold, strict=strict,
        plan_out=Path(plan_out) if plan_out else None, dry_run=dry_run,
    )
    services = app.services()
    prepared = prepare(app.settings, options, services)  # flag, file and mode problems: one line, exit 2 (1)
    run_job(app, "sync-audience", functools.partial(run, prepared=prepared), services=services, show_plan=show_plan,
            dry_run=dry_run, as_json=as_json, rejects_path=rejects_path)
