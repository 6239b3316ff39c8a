"""backfill-leads' plan key: the one list of what, besides the input files, shapes its plan (docs/backfill-leads.md)."""

from __future__ import annotations

from typing import Any

from segmarketo_cli.config.sections import FIELD_KINDS
from segmarketo_cli.jobs.backfill_leads.prepare import PreparedBackfill
from segmarketo_cli.jobs.unchanged_inputs import plan_key
from segmarketo_cli.mapping.catalog import FieldCatalog

COMMAND = "backfill-leads"


def plan_parts(prepared: PreparedBackfill, *, instance: str, partition: str | None,
               catalog: FieldCatalog) -> dict[str, Any]:
    """Everything besides the files that changes what backfill-leads would plan from them. Not in it: how the
    plan is written (--bulk-threshold, bulk_row_field), and what Marketo holds (pushed hashes, current values):
    those decide how, or whether, a planned lead is written, never what the plan would be."""
    profile, options = prepared.profile, prepared.options
    cached = catalog.to_cache()
    return {
        "instance": instance,  # the normalised Marketo endpoint
        "partition": partition,  # the lead partition new leads are created in
        "catalog": {"fields": sorted(cached["fields"]), "searchable": cached["searchable"]},  # auto-map, coercion
        "format": options.input_format,  # --format: how the files are read
        "lookup_field": profile.lookup_field,
        "user_id_field": profile.user_id_field,
        "mapping": prepared.mapping,  # the mapping used: the profile's [mapping], the --mapping file's content on top
        "fields": {kind: sorted(getattr(profile.fields, kind)) for kind in FIELD_KINDS},  # [fields]
        "nulls": options.nulls,
        "on_invalid": options.on_invalid,
        "auto_map": options.auto_map,
    }


def backfill_plan_key(prepared: PreparedBackfill, *, instance: str, partition: str | None,
                      catalog: FieldCatalog) -> str:
    """The plan key (plus the command and segmarketo's version, which `plan_key` adds)."""
    return plan_key(COMMAND, plan_parts(prepared, instance=instance, partition=partition, catalog=catalog))
