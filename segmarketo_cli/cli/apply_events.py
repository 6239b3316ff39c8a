"""`segmarketo apply-events`: Segment track events -> Marketo scores, program statuses, campaigns, suppression."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import click

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog, setting_variable
from segmarketo_cli.cli.jobrun import run_job
from segmarketo_cli.cli.options import job_options, partition_option
from segmarketo_cli.cli.rejects_options import input_files, retry_rejects_option, strict_option
from segmarketo_cli.jobs.apply_events.prepare import ApplyOptions, prepare
from segmarketo_cli.jobs.apply_events.run import PlanSummary, run
from segmarketo_cli.sources import FORMATS


@click.command("apply-events", epilog=epilog("apply-events"))
@click.argument("files", nargs=-1, metavar="FILE...")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Rules TOML file of [[rule]] tables [default: [[rules]] in the profile].")
@click.option("--lookup-field", default=None, metavar="FIELD",
              help="Marketo field that finds a person's lead, as in backfill-leads [default: email] "
                   f"[env var: {setting_variable('lookup_field')}].")
@click.option("--format", "input_format", type=click.Choice(FORMATS), default=None,
              help="Input format when it cannot be told from the file [default: detected].")
@click.option("--reprocess", is_flag=True,
              help="Apply events again even if an earlier run applied their messageId.")
@click.option("--plan-out", type=click.Path(dir_okay=False, writable=True), default=None, metavar="FILE",
              help="Write every planned change (lead, action, field, before, after, rule, file:line) and every "
                   "reject to FILE, in a dry run and a real run: CSV, JSON lines, Parquet or Excel by its "
                   "extension (.csv, .jsonl, .parquet, .xlsx).")
@partition_option
@retry_rejects_option
@strict_option
@job_options
@click.pass_obj
def apply_events(app: AppContext, files: tuple[str, ...], rules_path: str | None, lookup_field: str | None,
                 input_format: str | None, reprocess: bool, plan_out: str | None, partition: str | None,
                 dry_run: bool, as_json: bool, rejects_path: str | None) -> None:
    """Apply rules to Segment track events: scores, program statuses, campaigns, unsubscribes, fields.

    \b
    Each [[rule]] matches `event` (a name or a list) and optional `where` property
    conditions, and does one action: score, program-status, trigger-campaign, suppress
    or set-fields. Rules and Marketo references are checked before any write.
    Each event is applied once per rule: its messageId is recorded when Marketo
    confirmed the action, so re-runs over the same files change nothing.
    --dry-run prints the plan per rule and a sample of the changes (before -> after)
    and writes nothing; --plan-out FILE writes every change. A real run records
    each change Marketo confirmed in the run's change log.
    """
    app.override(lookup_field=lookup_field, partition=partition)
    files = input_files(app, "apply-events", files)
    options = ApplyOptions(files=files, rules_path=rules_path, input_format=input_format, reprocess=reprocess,
                           dry_run=dry_run, plan_out=Path(plan_out) if plan_out else None)
    services = app.services()
    prepared = prepare(app.settings, options, services)  # rule problems: one line, exit 2
    run_job(app, "apply-events", functools.partial(run, prepared=prepared), services=services, show_plan=show_plan,
            dry_run=dry_run, as_json=as_json, rejects_path=rejects_path)


def show_plan(result: PlanSummary) -> None:
    """The dry-run plan on stdout: one line per rule, the write calls it would make, then a sample of its changes."""
    click.echo("Plan (dry run, nothing written):")
    for entry in result.plan:
        click.echo(f"  {entry['rule']}: {_describe(entry)}")
    if result.leads_to_create:
        click.echo(f"  leads to create (create = true): {result.leads_to_create}")
    calls = ", ".join(f"{name} {n}" for name, n in result.calls.items() if n) or "none"
    click.echo(f"Write calls: {calls}")
    if not result.rows:
        return
    total = sum(result.rows.values())
    click.echo(f"Changes: {total:,} row(s): " + ", ".join(f"{action} {n:,}" for action, n in result.rows.items()))
    for row in result.sample:
        click.echo(f"  {_lead(row):<32} {row['action']:<11} {_change(row)}")
    if result.plan_out:
        click.echo(f"  all rows, and the rejects, written to {result.plan_out}")
    elif total > len(result.sample):
        click.echo(f"  … and {total - len(result.sample):,} more: write all rows with --plan-out FILE")


def _lead(row: dict[str, str]) -> str:
    lead = f"lead {row['lead_id']}" if row["lead_id"] else "new lead"
    return f"{row['key']} ({lead})" if row["key"] else lead


def _change(row: dict[str, str]) -> str:
    """What a plan row changes: a field's before -> after, else the list, program or campaign it names."""
    if row["field"]:
        return f"{row['field']}: {row['before'] or '(empty)'} → {row['after'] or '(empty)'}"
    kind = {"remove": "from list", "campaign": "campaign"}.get(row["action"], "")
    return f"{kind} {row['target']}  ({row['reason']})".strip()


def _describe(entry: dict[str, Any]) -> str:
    action = entry["action"]
    if action == "score":
        return f"score: {entry['points']:+,} points to {entry['field']} on {entry['leads']:,} lead(s)"
    if action == "set-fields":
        return f"set-fields: {', '.join(entry['fields'])} on {entry['leads']:,} lead(s)"
    if action == "suppress":
        lists = entry["remove_from_lists"]
        where = "every static list" if lists == "all" else f"list(s) {', '.join(map(str, lists))}" if lists else \
            "no list"
        return f"suppress: unsubscribe {entry['leads']:,} lead(s), remove from {where}"
    if action == "program-status":
        return f"program-status: {entry['leads']:,} lead(s) to '{entry['status']}' in program {entry['program_id']}"
    return (f"trigger-campaign: campaign {entry['campaign_id']} for {entry['leads']:,} lead(s) in "
            f"{entry['token_groups']} token group(s), {entry['calls']} call(s)")
