"""`segmarketo backfill-leads`: upsert Marketo leads from Segment identify exports."""

from __future__ import annotations

import functools
import json
import sys

import click

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog, setting_variable
from segmarketo_cli.cli.jobrun import run_job
from segmarketo_cli.cli.options import job_options, partition_option
from segmarketo_cli.cli.rejects_options import input_files, retry_rejects_option, strict_option
from segmarketo_cli.jobs.backfill_leads.lead_plan import LeadPlan
from segmarketo_cli.jobs.backfill_leads.prepare import DEFAULT_BULK_THRESHOLD, BackfillOptions, prepare
from segmarketo_cli.jobs.backfill_leads.run import run
from segmarketo_cli.marketo.base import MAX_BATCH
from segmarketo_cli.sources import FORMATS


def show_plan(plan: LeadPlan, *, bulk_threshold: int, sample: int = 5) -> None:
    """The dry-run plan on stdout: counts, sample rows, unmapped traits, first rejects."""
    out = sys.stdout
    mode = "Bulk Import" if plan.uses_bulk(bulk_threshold) else f"REST ({MAX_BATCH} per call)"
    out.write(f"Plan: {plan.planned:,} lead(s): write {plan.upsert_count:,} via {mode}, "
              f"unchanged {plan.unchanged_count:,}, rejected {plan.reject_count:,}\n")
    for candidate in plan.sample_upserts(sample):
        out.write(f"  upsert  {json.dumps(candidate.fields, ensure_ascii=False, default=str)}\n")
    if plan.upsert_count > sample:
        out.write(f"  … and {plan.upsert_count - sample:,} more\n")
    if plan.unmapped:
        out.write(f"Unmapped traits ({len(plan.unmapped)}):\n")
        for path, why in sorted(plan.unmapped.items()):
            out.write(f"  {path}: {why}\n")
    for reject in plan.sample_rejects(sample):
        out.write(f"  reject  {reject.origin or reject.key}: {reject.reason}\n")
    out.flush()


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
@partition_option
@retry_rejects_option
@strict_option
@job_options
@click.pass_obj
def backfill_leads(app: AppContext, files: tuple[str, ...], fmt: str | None, lookup_field: str | None,
                   user_id_field: str | None, mapping_file: str | None, auto_map: bool, nulls: str,
                   on_invalid: str, bulk_threshold: int, full: bool, partition: str | None, dry_run: bool,
                   as_json: bool, rejects_path: str | None) -> None:
    """Upsert Marketo leads from Segment identify data in FILE... .

    FILE is a Segment S3 export (.jsonl, .jsonl.gz, .gz), a JSON array, a CSV or Parquet extract of the
    warehouse identifies/users tables, a folder or a glob. The identifies of one person are merged
    (userId, anonymousId, alias, e-mail) and their traits mapped to lead fields. Re-runs send only what
    changed. Exit 3 when records were rejected, 75 when Marketo's daily quota ran out (run again later).
    """
    app.override(lookup_field=lookup_field, user_id_field=user_id_field, partition=partition)
    files = input_files(app, "backfill-leads", files)
    options = BackfillOptions(files=files, input_format=fmt, mapping_file=mapping_file, auto_map=auto_map,
                              nulls=nulls, on_invalid=on_invalid, bulk_threshold=bulk_threshold, full=full,
                              dry_run=dry_run)
    services = app.services()
    prepared = prepare(app.settings, options, services)  # bad flags or mapping: exit 2; unreadable input: exit 1
    run_job(app, "backfill-leads", functools.partial(run, prepared=prepared), services=services,
            show_plan=functools.partial(show_plan, bulk_threshold=bulk_threshold), dry_run=dry_run,
            as_json=as_json, rejects_path=rejects_path)
