"""sync-audience's planner on given people, resolved ids and list members, in a DuckDB database of its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from segmarketo_cli.engine import create, insert_rows
from segmarketo_cli.jobs.sync_audience.audience_table import iter_people, load_audience
from segmarketo_cli.jobs.sync_audience.members import load_members
from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan, plan_membership
from segmarketo_cli.jobs.sync_audience.resolve import RESOLVED_SCHEMA
from segmarketo_cli.sources.audience.readers import AudienceInput, AudiencePerson, Identity, Rejection


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
    insert_rows(con, "resolved", RESOLVED_SCHEMA, [(k.kind, k.value, i) for k, ids in resolved.items() for i in ids])
    return plan_membership(con, current=current, mode=mode, create_missing=create_missing, user_field=user_field)


@dataclass
class LoadedAudience:
    """An audience file as the run sees it once loaded: its counts, people in order, and rejects in order."""

    path: str
    shape: str
    kind: str
    audience: str | None
    rows: int
    ignored: int
    repeated: int
    people: list[AudiencePerson]
    rejects: list[Rejection]


class CollectedRejects:
    """A rejects file kept in memory."""

    def __init__(self) -> None:
        self.rows: list[Rejection] = []

    def write(self, reason: str, *, origin: str, field: str | None = None, value: str | None = None) -> None:
        self.rows.append(Rejection(origin, reason, field, value))


def loaded(audience: AudienceInput) -> LoadedAudience:
    """`audience` loaded into a DuckDB database of its own, then read back."""
    con = duckdb.connect()
    rejects = CollectedRejects()
    load_audience(con, audience, rejects)  # type: ignore[arg-type]
    return LoadedAudience(audience.path, audience.shape, audience.kind, audience.audience, audience.rows,
                          audience.ignored, audience.repeated, list(iter_people(con)), rejects.rows)
