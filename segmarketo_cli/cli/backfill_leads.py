"""`segmarketo backfill-leads`: upsert Marketo leads from Segment identify exports."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog, setting_variable
from segmarketo_cli.cli.jobrun import run_job
from segmarketo_cli.cli.options import job_options, partition_option
from segmarketo_cli.cli.rejects_options import input_files, retry_rejects_option, strict_option
from segmarketo_cli.config.defaults import BEFORE_VALUES
from segmarketo_cli.jobs.backfill_leads.lead_changes import written
from segmarketo_cli.jobs.backfill_leads.lead_plan import LeadPlan
from segmarketo_cli.jobs.backfill_leads.prepare import DEFAULT_BULK_THRESHOLD, BackfillOptions, prepare
from segmarketo_cli.jobs.backfill_leads.run import run
from segmarketo_cli.jobs.changes import change_rows
from segmarketo_cli.marketo.base import MAX_BATCH
from segmarketo_cli.sources import FORMATS


def show_plan(plan: LeadPlan, *, bulk_threshold: int, lookup_field: str, plan_out: Path | None = None,
              sample: int = 5, sample_rows: int = 10) -> None:
    """The dry-run plan on stdout: created / updated / unchanged / rejected counts, a field-level sample of the
    first leads to write (key, field, before -> after; the lookup field is the key), unmapped traits, first
    rejects."""
    out = sys.stdout
    mode = "Bulk Import" if plan.uses_bulk(bulk_threshold) else f"REST ({MAX_BATCH} per call)"
    new = f"{plan.new_count:,} new to this instance's state (created unless Marketo already has them), " \
        if plan.new_count else ""
    out.write(f"Plan: {plan.planned:,} lead(s): {plan.create_count:,} to create, {plan.update_count:,} to update, "
              f"{new}{plan.unchanged_count:,} unchanged, {plan.reject_count:,} rejected; writes via {mode}\n")
    if plan.new_count:
        out.write("  before-values of those: unknown; --before-values marketo reads them first for an exact split "
                  f"(one Get Leads call per {MAX_BATCH} leads)\n")
    leads = plan.sample_upserts(sample)
    rows = [row for lead in leads for row in change_rows(written(lead)) if row["field"] != lookup_field]
    rows = rows[:sample_rows]
    width = max((len(row["key"]) for row in rows), default=0)
    for row in rows:
        out.write(f"  {row['action']:<6}  {row['key']:<{width}}  {row['field']}: {_shown(row['before'])} → "
                  f"{_shown(row['after'])}\n")
    more = plan.upsert_count - len({row["key"] for row in rows})
    if plan_out is not None:
        out.write(f"  every change, field by field: {plan_out}\n")
    elif plan.planned:
        out.write((f"  … and {more:,} more lead(s); " if more > 0 else "  ") + "write all rows with --plan-out FILE\n")
    if plan.unmapped:
        out.write(f"Unmapped traits ({len(plan.unmapped)}):\n")
        for path, why in sorted(plan.unmapped.items()):
            out.write(f"  {path}: {why}\n")
    for reject in plan.sample_rejects(sample):
        out.write(f"  reject  {reject.origin or reject.key}: {reject.reason}\n")
    out.flush()


def _shown(value: str) -> str:
    """A plan cell for the terminal: text quoted, an empty value as (empty), unknown as is."""
    if value == "unknown":
        return value
    return json.dumps(value, ensure_ascii=False) if value else "(empty)"


@click.command("backfill-leads", epilog=epilog("backfill-leads"))
@click.argument("files", nargs=-1, metavar="FILE...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Force the input format (default: detected from content and extension).")
@click.option("--lookup-field", metavar="FIELD", default=None,
              help="Marketo field that identifies a lead (searchable; default: email, or the profile's) "
                   f"[env var: {setting_variable('lookup_field')}].")
@click.option("--user-id-field", metavar="FIELD", default=None,
              help="Marketo field that receives the Segment userId (default: none) "
                   f"[env var: {setting_variable('user_id_field')}].")
@click.option("--mapping", "mapping_file", type=click.Path(dir_okay=False), default=None,
              help="TOML file of \"trait.path\" = \"marketoField\" (adds to / overrides the profile's [mapping]).")
@click.option("--auto-map/--no-auto-map", default=True, show_default=True,
              help="Map traits whose camelCase/PascalCase/snake_case spelling equals a Marketo field name.")
@click.option("--nulls", type=click.Choice(["keep", "clear"]), default="keep", show_default=True,
              help="A null trait keeps the Marketo value, or clears it.")
@click.option("--on-invalid", type=click.Choice(["reject", "drop-field"]), default="reject", show_default=True,
              help="A value that does not fit its field rejects the lead, or just drops that field.")
@click.option("--bulk-threshold", type=click.IntRange(min=1), default=DEFAULT_BULK_THRESHOLD, show_default=True,
              metavar="N", help="Use Bulk Import when at least N leads are to be written.")
@click.option("--full", is_flag=True,
              help="Read every input file again and resend every lead, even those unchanged since the last run.")
@click.option("--before-values", type=click.Choice(BEFORE_VALUES), default=None,
              help="Where each lead's values before the write come from (plan file, change log, runs undo): "
                   "stored (no extra call: the state store, Marketo only where fill_only/newer_only read it anyway) "
                   f"or marketo (one Get Leads call per {MAX_BATCH} leads written: exact created/updated and "
                   "before-values) [default: the profile's before_values, else stored] "
                   f"[env var: {setting_variable('before_values')}].")
@click.option("--plan-out", type=click.Path(dir_okay=False, writable=True), default=None, metavar="FILE",
              help="Write every planned change to FILE, one row per lead and field (create, update, upsert, unchanged, "
                   "skip-owned, skip-fill-only, skip-older, reject) with before and after values: CSV, JSON lines, "
                   "Parquet or Excel by its extension (.csv, .jsonl, .parquet, .xlsx). Also in a real run, "
                   "before its first write.")
@partition_option
@retry_rejects_option
@strict_option
@job_options
@click.pass_obj
def backfill_leads(app: AppContext, files: tuple[str, ...], fmt: str | None, lookup_field: str | None,
                   user_id_field: str | None, mapping_file: str | None, auto_map: bool, nulls: str,
                   on_invalid: str, bulk_threshold: int, full: bool, before_values: str | None, plan_out: str | None,
                   partition: str | None, dry_run: bool, as_json: bool, rejects_path: str | None) -> None:
    """Upsert Marketo leads from Segment identify data in FILE... .

    FILE is a Segment S3 export (.jsonl, .jsonl.gz, .gz), a JSON array, a CSV or Parquet extract of the
    warehouse identifies/users tables, a folder or a glob. The identifies of one person are merged
    (userId, anonymousId, alias, e-mail) and their traits mapped to lead fields. Re-runs send only what
    changed. The run's change log holds each field's value before and after (`runs show --changes`): before-values
    come from the state store at no extra call (--before-values marketo reads every lead first, one Get Leads call
    per 300, for exact created/updated counts in the dry run and Marketo's own before-values).
    Exit 3 when records were rejected, 75 when Marketo's daily quota ran out (run again later).
    """
    app.override(lookup_field=lookup_field, user_id_field=user_id_field, partition=partition,
                 before_values=before_values)
    files = input_files(app, "backfill-leads", files)
    options = BackfillOptions(files=files, input_format=fmt, mapping_file=mapping_file, auto_map=auto_map,
                              nulls=nulls, on_invalid=on_invalid, bulk_threshold=bulk_threshold, full=full,
                              dry_run=dry_run, plan_out=Path(plan_out) if plan_out else None)
    services = app.services()
    prepared = prepare(app.settings, options, services)  # bad flags or mapping: exit 2; unreadable input: exit 1
    run_job(app, "backfill-leads", functools.partial(run, prepared=prepared), services=services,
            show_plan=functools.partial(show_plan, bulk_threshold=bulk_threshold,
                                        lookup_field=app.settings.lookup_field, plan_out=options.plan_out),
            dry_run=dry_run,
            as_json=as_json, rejects_path=rejects_path)
