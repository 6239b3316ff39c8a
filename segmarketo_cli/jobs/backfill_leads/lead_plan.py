"""What a backfill plan offers the report, the dry run and the writers, whether it is held in memory
(plan_memory.py) or on the engine (plan_table.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from segmarketo_cli.config.sections import FIELD_KINDS
from segmarketo_cli.identity import Person
from segmarketo_cli.jobs.backfill_leads.plan import Candidate, Ownership, Reject
from segmarketo_cli.mapping.mapper import Mapper
from segmarketo_cli.state.change_log import Change

KEY_CHUNK = 9_900  # keys per state-store or Marketo lookup: whole 300-value Marketo calls
KnowsLeads = Callable[[], bool]  # whether the state store knows any lead of the run's instance (else: no lookups)


def knows_some() -> bool:
    """A state store that may know leads (plans built without one look every key up)."""
    return True


@runtime_checkable
class SqlPeople(Protocol):
    """People some of whom SQL maps (columnar.ColumnarPeople): `map_simple` inserts their rows into the plan's people
    (plan_table.SQL_PEOPLE) and says how many, and iterating then gives the others."""

    def map_simple(self, mapper: Mapper, *, ownership: Ownership, lookup_field: str, read_all: bool) -> int: ...

    def __iter__(self) -> Iterator[Person]: ...


@dataclass(kw_only=True)
class PlanCounts:
    """The counters both plans keep while planning, and what follows from them."""

    upsert_count: int = 0
    create_count: int = 0  # upsert_count split: leads Marketo does not hold (as read) ...
    update_count: int = 0  # ... those it holds (as read) or the state store knows ...
    new_count: int = 0  # ... and those neither read nor known: created unless Marketo already has them
    unchanged_count: int = 0
    reject_count: int = 0
    fields_skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELD_KINDS, 0))
    fields_dropped: int = 0
    compliance_skipped: int = 0
    unmapped: dict[str, str] = field(default_factory=dict)  # trait path -> why it maps to no field, sorted

    @property
    def planned(self) -> int:
        return self.upsert_count + self.unchanged_count + self.reject_count

    def uses_bulk(self, threshold: int) -> bool:
        """Whether the writes go through Bulk Import: at least `threshold` leads to write."""
        return self.upsert_count >= threshold


class LeadPlan(Protocol):
    """Counters, samples, and streams of the upserts, unchanged leads and rejects in people order (the unchanged:
    first those whose stored hash matched, then those ownership left nothing to write); `mark` remembers upserts
    that need a second look while the writes run; `iter_changes` is every person's plan changes in people order
    (--plan-out)."""

    upsert_count: int
    create_count: int
    update_count: int
    new_count: int
    unchanged_count: int
    reject_count: int
    fields_skipped: dict[str, int]
    fields_dropped: int
    compliance_skipped: int
    unmapped: dict[str, str]

    @property
    def planned(self) -> int: ...

    def uses_bulk(self, threshold: int) -> bool: ...

    def iter_upserts(self) -> Iterator[Candidate]: ...

    def iter_unchanged(self, *, with_cookies: bool = False) -> Iterator[Candidate]: ...

    def iter_rejects(self) -> Iterator[Reject]: ...

    def sample_upserts(self, n: int) -> list[Candidate]: ...

    def sample_rejects(self, n: int) -> list[Reject]: ...

    def mark(self, kind: str, keys: Iterable[str]) -> None: ...

    def iter_marked(self, kind: str) -> Iterator[Candidate]: ...

    def iter_changes(self) -> Iterator[Change]: ...
    def iter_keys(self) -> Iterator[str | None]: ...
