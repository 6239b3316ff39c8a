"""`segmarketo apply-events`: Segment track events -> Marketo scores, program statuses, campaigns, suppression."""

from __future__ import annotations

import functools
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
@partition_option
@retry_rejects_option
@strict_option
@job_options
@click.pass_obj
def apply_events(app: AppContext, files: tuple[str, ...], rules_path: str | None, lookup_field: str | None,
                 input_format: str | None, reprocess: bool, partition: str | None, dry_run: bool, as_json: bool,
                 rejects_path: str | None) -> None:
    """Apply rules to Segment track events: scores, program statuses, campaigns, unsubscribes, fields.

    \b
    Each [[rule]] matches `event` (a name or a list) and optional `where` property
    conditions, and does one action: score, program-status, trigger-campaign, suppress
    or set-fields. Rules and Marketo references are checked before any write.
    Each event is applied once per rule: its messageId is recorded when Marketo
    confirmed the action, so re-runs over the same files change nothing.
    --dry-run prints the plan per rule and writes nothing.
    """
    app.override(lookup_field=lookup_field, partition=partition)
    files = input_files(app, "apply-events", files)
    options = ApplyOptions(files=files, rules_path=rules_path, input_format=input_format, reprocess=reprocess,
                           dry_run=dry_run)
    services = app.services()
    prepared = prepare(app.settings, options, services)  # rule problems: one line, exit 2
    run_job(app, "apply-events", functools.partial(run, prepared=prepared), services=services, show_plan=show_plan,
            dry_run=dry_run, as_json=as_json, rejects_path=rejects_path)


def show_plan(result: PlanSummary) -> None:
    """The dry-run plan on stdout: one line per rule, then the write calls it would make."""
    click.echo("Plan (dry run, nothing written):")
    for entry in result.plan:
        click.echo(f"  {entry['rule']}: {_describe(entry)}")
    if result.leads_to_create:
        click.echo(f"  leads to create (create = true): {result.leads_to_create}")
    calls = ", ".join(f"{name} {n}" for name, n in result.calls.items() if n) or "none"
    click.echo(f"Write calls: {calls}")


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
