"""`segmarketo backfill-leads`: upsert Marketo leads from Segment identify exports."""

from __future__ import annotations

import json
import sys

import click

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.jobrun import run_job
from segmarketo_cli.cli.options import job_options, partition_option
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.jobs.backfill_leads.plan import BackfillPlan
from segmarketo_cli.jobs.backfill_leads.run import DEFAULT_BULK_THRESHOLD, BackfillJob, BackfillOptions
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.mapping.mapper import check_mapping_table, load_mapping_file
from segmarketo_cli.sources import FORMATS, preflight


def _print_plan(job: BackfillJob, plan: BackfillPlan, sample: int = 5) -> None:
    """The dry-run plan on stdout: counts, sample rows, unmapped traits, first rejects."""
    out = sys.stdout
    mode = "Bulk Import" if len(plan.upserts) >= job.o.bulk_threshold else "REST (300 per call)"
    out.write(f"Plan: {plan.planned:,} lead(s): write {len(plan.upserts):,} via {mode}, "
              f"unchanged {len(plan.unchanged):,}, rejected {len(plan.rejects):,}\n")
    for candidate in plan.upserts[:sample]:
        out.write(f"  upsert  {json.dumps(candidate.fields, ensure_ascii=False, default=str)}\n")
    if len(plan.upserts) > sample:
        out.write(f"  … and {len(plan.upserts) - sample:,} more\n")
    unmapped = job.mapper.unmapped if job.mapper else {}
    if unmapped:
        out.write(f"Unmapped traits ({len(unmapped)}):\n")
        for path, why in sorted(unmapped.items()):
            out.write(f"  {path}: {why}\n")
    for reject in plan.rejects[:sample]:
        out.write(f"  reject  {reject.origin or reject.key}: {reject.reason}\n")
    out.flush()


@click.command("backfill-leads")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Force the input format (default: detected from content and extension).")
@click.option("--lookup-field", metavar="FIELD", default=None,
              help="Marketo field that identifies a lead (searchable; default: email, or the profile's).")
@click.option("--user-id-field", metavar="FIELD", default=None,
              help="Marketo field that receives the Segment userId (default: none).")
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
@click.option("--full", is_flag=True, help="Resend every lead, even those unchanged since the last run.")
@partition_option
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
    settings = app.settings
    if settings.lookup_field == "id":
        raise ConfigError("--lookup-field id is update-only in Marketo; backfill-leads creates leads, "
                          "use email or a searchable custom field")
    explicit = check_mapping_table(settings.table("mapping"), where=f"[profiles.{settings.profile}.mapping]")
    if mapping_file:
        explicit.update(load_mapping_file(mapping_file))
    ownership = settings.table("fields")
    inputs = preflight(list(files), fmt)  # unreadable input: exit 1 before any call
    options = BackfillOptions(
        inputs=inputs, lookup_field=settings.lookup_field, user_id_field=settings.user_id_field,
        explicit_mapping=explicit, auto_map=auto_map, nulls=nulls, on_invalid=on_invalid,
        bulk_threshold=bulk_threshold, full=full, dry_run=dry_run, ownership=ownership,
        bulk_row_field=settings.bulk_row_field,
    )

    def body(env: JobContext) -> None:
        job = BackfillJob(options, client=env.marketo(), store=env.store, report=env.report,
                          rejects=env.rejects, progress=env.progress)
        plan = job.run()
        if dry_run and not as_json:
            _print_plan(job, plan)

    run_job(app, "backfill-leads", body, dry_run=dry_run, as_json=as_json, rejects_path=rejects_path)
