"""backfill-leads end to end: read inputs -> identity graph -> describe + plan -> REST or bulk writes -> report."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from segmarketo_cli.jobs.backfill_leads.execute import LeadWriter
from segmarketo_cli.jobs.backfill_leads.lead_plan import LeadPlan
from segmarketo_cli.jobs.backfill_leads.messages import MESSAGE_BUCKETS
from segmarketo_cli.jobs.backfill_leads.people_source import PeopleSource, open_source, plan_people
from segmarketo_cli.jobs.backfill_leads.plan import Ownership, lead_key
from segmarketo_cli.jobs.backfill_leads.plan_key import backfill_plan_key
from segmarketo_cli.jobs.backfill_leads.plan_memory import build_memory_plan
from segmarketo_cli.jobs.backfill_leads.prepare import PreparedBackfill
from segmarketo_cli.jobs.backfill_leads.stored_leads import stored_leads
from segmarketo_cli.jobs.changes import PLAN_COLUMNS, plan_rows
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.plan_file import write_plan_file
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.unchanged_inputs import check_inputs, record_inputs, report_input_check
from segmarketo_cli.mapping.catalog import FieldCatalog
from segmarketo_cli.mapping.mapper import Mapper, load_catalog
from segmarketo_cli.sizes import parse_memory_limit

if TYPE_CHECKING:
    from segmarketo_cli.engine import Engine
    from segmarketo_cli.marketo.client import MarketoClient

LEAD_BUCKETS = ("leads_created", "leads_updated", "leads_imported", "leads_unchanged", "leads_rejected",
                "leads_deferred")
DRY_RUN_LEAD_BUCKETS = ("leads_to_write", "leads_unchanged", "leads_rejected")
# leads_to_write split: read from Marketo and absent, read and present or known to the state store, neither read nor
# known (created unless Marketo already has them; `--before-values marketo` reads every one for an exact split)
DRY_RUN_WRITE_BUCKETS = ("leads_to_create", "leads_to_update", "leads_new_to_state")
SAMPLES = 5  # upserts shown in a dry run's report
WRITE_SHARE = 0.5  # of memory_limit for DuckDB while the writes stream the plan (Engine.hold_to)


def run(ctx: JobContext, prepared: PreparedBackfill) -> RunReport:
    """The whole job; every message and every planned lead ends in exactly one bucket. A dry run hands its
    LeadPlan to `ctx.show_plan`. Inputs whose people fit in memory (sizing.uses_engine) are read and planned there
    without opening the engine; larger ones are both read and planned on it."""
    profile, options = prepared.profile, prepared.options
    lookup_field = profile.lookup_field
    client, store, report = ctx.marketo(), ctx.store, ctx.report
    report.rejected_buckets = ("leads_rejected", "messages_malformed")
    report.expect_balance("messages_read", *MESSAGE_BUCKETS[1:])
    report.expect_balance("leads_planned", *(DRY_RUN_LEAD_BUCKETS if options.dry_run else LEAD_BUCKETS))
    if options.dry_run:
        report.expect_balance("leads_to_write", *DRY_RUN_WRITE_BUCKETS)
    if not options.dry_run:
        report.ensure("cookies_associated")
    catalog = load_catalog(client, store)
    catalog.check_lookup(lookup_field)
    client.partition_for_create()  # a misspelt partition: exit 2 now, dry run included
    profile.check_row_field(catalog, mapped=prepared.mapping.values())
    ownership = profile.ownership(catalog)
    key = backfill_plan_key(prepared, instance=client.instance, partition=ctx.settings.partition, catalog=catalog)
    inputs = check_inputs(store.input_history, "backfill-leads", prepared.inputs, key, full=options.full,
                          dry_run=options.dry_run)
    if inputs.skip_all:
        report_input_check(report, inputs)
        return report
    source = open_source(ctx, inputs, dry_run=options.dry_run)
    try:
        report_input_check(report, inputs, reads_all=source.store is None)
        if source.note:
            report.notes.append(source.note)
        return _plan_and_write(ctx, prepared, source, catalog, ownership)
    finally:
        source.close()


def _plan_and_write(ctx: JobContext, prepared: PreparedBackfill, source: PeopleSource, catalog: FieldCatalog,
                    ownership: Ownership) -> RunReport:
    """Read, plan, then show (dry run) or write; the people store keeps what the run learnt once it ended ok."""
    profile, options = prepared.profile, prepared.options
    lookup_field = profile.lookup_field
    client, store, report = ctx.marketo(), ctx.store, ctx.report
    mapper = Mapper(catalog, explicit=prepared.mapping, auto_map=options.auto_map,
                    user_id_field=profile.user_id_field, on_invalid=options.on_invalid)
    writer = LeadWriter(client, store, report, ctx.rejects, lookup_field=lookup_field,
                        bulk_row_field=profile.bulk_row_field, changes=ctx.changes)
    # Reading builds millions of small acyclic objects; the cyclic GC would rescan them over and over
    # (it halved throughput in bench/bench_backfill.py), so it is paused while the plan is built.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        def build(engine: Engine | None) -> Callable[..., LeadPlan]:
            return functools.partial(
                plan_builder(engine), mapper=mapper, lookup_field=lookup_field, ownership=ownership,
                stored_hashes=lambda keys: store.pushed_hashes(client.instance, lookup_field, keys),
                read_current=lambda keys, fields: _read_current(client, lookup_field, keys, fields),
                stored_leads=stored_leads(store, client.instance, lookup_field),
                before_values=profile.before_values, full=options.full,
                knows_leads=lambda: store.knows_leads(client.instance, lookup_field))

        plan = plan_people(source, ctx, build, inputs=prepared.inputs, nulls=options.nulls,
                           memory_limit=parse_memory_limit(ctx.settings.memory_limit))
    finally:
        if gc_was_enabled:
            gc.enable()
    _record_plan(plan, report, writer, dry_run=options.dry_run)
    report.details["before_values"] = profile.before_values
    if options.plan_out is not None:  # a real run's plan file is complete before its first write
        report.details["plan_rows"] = write_plan_file(options.plan_out, PLAN_COLUMNS, plan_rows(plan.iter_changes()))
    bulk = plan.uses_bulk(options.bulk_threshold)
    if options.dry_run:
        report.add("leads_to_write", plan.upsert_count)
        report.add("leads_to_create", plan.create_count)
        report.add("leads_to_update", plan.update_count)
        report.add("leads_new_to_state", plan.new_count)
        report.details["sample"] = [c.fields for c in plan.sample_upserts(SAMPLES)]
        report.details["mode"] = "bulk" if bulk else "rest"
        ctx.show_plan(plan)
        return report
    if ctx.services.engine_open:  # the writes stream the plan: the batches in flight take the rest of the limit
        ctx.engine().hold_to(WRITE_SHARE)
    writer.write(plan, bulk=bulk, progress=ctx.progress)
    if record_inputs(store.input_history, report, source.check):
        source.keep(report.run_id)
    return report


def plan_builder(engine: Engine | None) -> Callable[..., LeadPlan]:
    """build_memory_plan without an engine, else plan_table.build_plan on the engine's connection (only then
    is DuckDB imported)."""
    if engine is None:
        return build_memory_plan
    from segmarketo_cli.jobs.backfill_leads.plan_table import build_plan

    return functools.partial(build_plan, con=engine.con)


def _read_current(client: MarketoClient, lookup_field: str, keys: list[str],
                  fields: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The leads Marketo holds for `keys` (their `fields`), by normalised key; the plan passes only keys Marketo
    can filter on (plan.can_look_up)."""
    current: dict[str, list[dict[str, Any]]] = {}
    for row in client.get_leads_by_filter(lookup_field, keys, fields):
        key = lead_key(lookup_field, row.get(lookup_field))
        if key is not None:
            current.setdefault(key, []).append(row)
    return current


def _record_plan(plan: LeadPlan, report: RunReport, writer: LeadWriter, *, dry_run: bool) -> None:
    report.add("leads_unchanged", plan.unchanged_count)
    for reject in plan.iter_rejects():
        writer.reject(reject.key, reject.reason, origin=reject.origin, fields=reject.fields)
    for kind, n in plan.fields_skipped.items():
        if n:
            report.add(f"fields_skipped_{kind}", n)
    if plan.fields_dropped:
        report.add("fields_dropped_invalid", plan.fields_dropped)
    if plan.compliance_skipped:
        report.add("consent_values_not_lowered", plan.compliance_skipped)
    unmapped = plan.unmapped
    if unmapped:
        report.details["unmapped_traits"] = unmapped
        report.notes.append(f"{len(unmapped)} trait(s) map to no Marketo field: " + ", ".join(list(unmapped)[:20])
                            + (" ..." if len(unmapped) > 20 else ""))
    # Leads found unchanged by reading Marketo (ownership left nothing to write) count as confirmed.
    if plan.unchanged_count and not dry_run:
        writer.confirm(plan.iter_unchanged())
    report.counts["leads_planned"] = plan.planned
