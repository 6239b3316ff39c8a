"""backfill-leads' plan key: everything that changes the plan changes the key; how it is written does not."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from segmarketo_cli.config.sections import FieldsSection
from segmarketo_cli.jobs.backfill_leads.plan_key import backfill_plan_key
from segmarketo_cli.jobs.backfill_leads.prepare import BackfillOptions, BackfillProfile, PreparedBackfill
from segmarketo_cli.mapping.catalog import FieldCatalog, FieldInfo

PROD = "https://123-ABC-456.mktorest.com"
CATALOG = FieldCatalog({f.name: f for f in (FieldInfo("email", "email", 255), FieldInfo("company", "string", 255),
                                             FieldInfo("score", "integer"))}, {"email"})
PROFILE = BackfillProfile("email", None, {"traits.company": "company"}, FieldsSection(fill_only=("company",)), None)
PREPARED = PreparedBackfill(PROFILE, dict(PROFILE.mapping), [], BackfillOptions(files=("in.jsonl",)))


def key(prepared: PreparedBackfill = PREPARED, **where: Any) -> str:
    context = {"instance": PROD, "partition": None, "catalog": CATALOG, **where}
    return backfill_plan_key(prepared, **context)


def with_options(**changes: Any) -> PreparedBackfill:
    return replace(PREPARED, options=replace(PREPARED.options, **changes))


def with_profile(**changes: Any) -> PreparedBackfill:
    return replace(PREPARED, profile=replace(PROFILE, **changes))


CHANGES = {
    "--nulls": lambda: key(with_options(nulls="clear")),
    "--on-invalid": lambda: key(with_options(on_invalid="drop-field")),
    "--no-auto-map": lambda: key(with_options(auto_map=False)),
    "--format": lambda: key(with_options(input_format="csv")),
    "lookup field": lambda: key(with_profile(lookup_field="externalId")),
    "user id field": lambda: key(with_profile(user_id_field="segmentId")),
    "mapping used (--mapping content)": lambda: key(replace(PREPARED, mapping={"traits.company": "score"})),
    "[fields]": lambda: key(with_profile(fields=FieldsSection(newer_only=("company",)))),
    "partition": lambda: key(partition="EMEA"),
    "Marketo instance": lambda: key(instance="https://987-XYZ-654.mktorest.com"),
    "Marketo fields": lambda: key(catalog=FieldCatalog({**CATALOG.fields, "title": FieldInfo("title", "string")},
                                                       CATALOG.searchable)),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_what_shapes_the_plan_changes_the_key(change):
    assert CHANGES[change]() != key()


def test_how_the_plan_is_written_does_not_change_the_key():
    assert key(with_options(bulk_threshold=10, dry_run=True, full=True, files=("other.jsonl",))) == key()
    assert key(with_profile(bulk_row_field="scratch")) == key()


def test_the_key_ignores_the_order_of_fields_and_lists():
    reordered = FieldCatalog(dict(reversed(list(CATALOG.fields.items()))), CATALOG.searchable)
    assert key(catalog=reordered) == key()
    assert key(with_profile(fields=FieldsSection(fill_only=("company", "score")))) == \
        key(with_profile(fields=FieldsSection(fill_only=("score", "company"))))
