"""sync-audience's planner on given people, resolved ids and list members, in a DuckDB database of its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from segmarketo_cli.jobs.sync_audience.audience_table import load_audience
from segmarketo_cli.jobs.sync_audience.members import load_members
from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan, plan_membership
from segmarketo_cli.jobs.sync_audience.resolve import RESOLVED_SCHEMA
from segmarketo_cli.jobs.sync_audience.tables import create, insert
from segmarketo_cli.sources.audience.readers import AudienceInput, AudiencePerson, Identity


class NoRejects:
    """A rejects file for inputs that have none."""

    def write(self, reason: str, **fields: Any) -> None:
        raise AssertionError(f"unexpected reject: {reason} {fields}")


def plan_of(people: Sequence[AudiencePerson], resolved: Mapping[Identity, Sequence[int]],
            members: Mapping[int, Mapping[str, Any]], *, mode: str = "mirror", create_missing: bool = False,
            user_field: str | None = None, con: duckdb.DuckDBPyConnection | None = None) -> ListMembershipPlan:
    """The plan of `people` against a list of `members`, the lookups having found `resolved`."""
    con = con or duckdb.connect()
    load_audience(con, AudienceInput.of_people("f.csv", list(people)), NoRejects())  # type: ignore[arg-type]
    current = load_members(con, members.values(), user_field)
    create(con, "resolved", RESOLVED_SCHEMA)
    insert(con, "resolved", RESOLVED_SCHEMA, [(k.kind, k.value, i) for k, ids in resolved.items() for i in ids])
    return plan_membership(con, current=current, mode=mode, create_missing=create_missing, user_field=user_field)
