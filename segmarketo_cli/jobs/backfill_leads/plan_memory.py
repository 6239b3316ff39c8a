"""The backfill plan in memory, for inputs whose people fit there (sizing.uses_engine): the same outcome as
plan_table.py gives on the engine, without loading DuckDB (docs/engine.md, "backfill-leads")."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from segmarketo_cli.config.defaults import BEFORE_VALUES
from segmarketo_cli.identity import Person
from segmarketo_cli.jobs.backfill_leads.lead_changes import person_changes
from segmarketo_cli.jobs.backfill_leads.lead_plan import KEY_CHUNK, KnowsLeads, PlanCounts, knows_some
from segmarketo_cli.jobs.backfill_leads.plan import (
    Candidate,
    Ownership,
    ReadCurrent,
    Reject,
    StoredHashes,
    StoredLeads,
    needs_read,
    no_stored_leads,
    plan_person,
    recall,
    settle_chunk,
)
from segmarketo_cli.jobs.batches import batches
from segmarketo_cli.mapping.mapper import Mapper
from segmarketo_cli.state.change_log import Change


@dataclass(kw_only=True)
class MemoryPlan(PlanCounts):
    """A LeadPlan held in lists: upserts and rejects in people order, unchanged leads first those whose stored hash
    matched, then those ownership left nothing to write."""

    upserts: list[Candidate] = field(default_factory=list)
    unchanged: list[Candidate] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    marks: dict[str, set[str]] = field(default_factory=dict)  # kind -> keys of upserts marked for it
    in_order: list[tuple[str, Candidate | Reject]] = field(default_factory=list)  # (action, person) in people order
    keys: list[str | None] = field(default_factory=list)  # each person's key, people order

    def iter_upserts(self) -> Iterator[Candidate]:
        return iter(self.upserts)

    def iter_unchanged(self, *, with_cookies: bool = False) -> Iterator[Candidate]:
        return (c for c in self.unchanged if c.cookies or not with_cookies)

    def iter_rejects(self) -> Iterator[Reject]:
        return iter(self.rejects)

    def sample_upserts(self, n: int) -> list[Candidate]:
        return self.upserts[:n]

    def sample_rejects(self, n: int) -> list[Reject]:
        return self.rejects[:n]

    def mark(self, kind: str, keys: Iterable[str]) -> None:
        self.marks.setdefault(kind, set()).update(keys)

    def iter_marked(self, kind: str) -> Iterator[Candidate]:
        marked = self.marks.get(kind, set())
        return (c for c in self.upserts if c.key in marked)

    def iter_changes(self) -> Iterator[Change]:
        for action, planned in self.in_order:
            yield from person_changes(action, planned)
    def iter_keys(self) -> Iterator[str | None]:
        return iter(self.keys)


def build_memory_plan(people: Iterable[Person], mapper: Mapper, *, lookup_field: str, ownership: Ownership,
                      stored_hashes: StoredHashes, read_current: ReadCurrent,
                      stored_leads: StoredLeads = no_stored_leads, before_values: str = BEFORE_VALUES[0],
                      full: bool = False, knows_leads: KnowsLeads = knows_some) -> MemoryPlan:
    """The whole plan in memory; the lookups are called as plan_table.build_plan calls them (the same keys in the
    same chunks of at most KEY_CHUNK)."""
    plan = MemoryPlan()
    in_order = _map_people(plan, people, mapper, lookup_field=lookup_field, ownership=ownership)
    plan.keys = [planned.key for planned in in_order]
    candidates = [c for c in in_order if isinstance(c, Candidate)]
    known = knows_leads()
    matched = _matching_hashes(candidates, stored_hashes) if known and not full else set()
    emptied = _look_up_leads(plan, [c for c in candidates if c.key not in matched], read_current, stored_leads,
                             ownership, lookup_field=lookup_field, read_all=before_values == "marketo",
                             recall_known=known)
    pruned_away = []
    for planned in in_order:
        if isinstance(planned, Reject):
            plan.rejects.append(planned)
            action = "reject"
        elif planned.key in matched:
            plan.unchanged.append(planned)
            action = "unchanged"
        elif planned.key in emptied:
            pruned_away.append(planned)
            action = "unchanged"
        else:
            plan.upserts.append(planned)
            action = "upsert"
        plan.in_order.append((action, planned))
    plan.unchanged.extend(pruned_away)
    plan.upsert_count, plan.unchanged_count, plan.reject_count = \
        len(plan.upserts), len(plan.unchanged), len(plan.rejects)
    plan.create_count = sum(1 for c in plan.upserts if c.action == "create")
    plan.new_count = sum(1 for c in plan.upserts if c.action == "upsert")
    plan.update_count = plan.upsert_count - plan.create_count - plan.new_count
    plan.unmapped = dict(sorted(mapper.unmapped.items()))
    return plan


def _map_people(plan: MemoryPlan, people: Iterable[Person], mapper: Mapper, *, lookup_field: str,
                ownership: Ownership) -> list[Candidate | Reject]:
    """Every person mapped, in people order: a candidate, or a reject (the first person of a key keeps it; a later
    one is rejected naming the first one's origin)."""
    in_order: list[Candidate | Reject] = []
    first_origin: dict[str, str] = {}
    for person in people:
        mapped = mapper.map_person(person)
        plan.fields_dropped += len(mapped.dropped)
        plan.compliance_skipped += mapped.compliance_skipped
        planned, owned = plan_person(person, mapped, lookup_field=lookup_field, ownership=ownership)
        if isinstance(planned, Candidate):
            if planned.key in first_origin:
                planned = Reject(f"duplicate {lookup_field} in input (also at {first_origin[planned.key]})",
                                 planned.key, planned.origin)
            else:
                first_origin[planned.key] = planned.origin
                plan.fields_skipped["marketo_owned"] += owned
        in_order.append(planned)
    return in_order


def _matching_hashes(candidates: list[Candidate], stored_hashes: StoredHashes) -> set[str]:
    """The keys of the candidates whose fields still hash as an earlier run stored (content_hash is computed only
    for those with a stored hash)."""
    matched: set[str] = set()
    for chunk in batches(candidates, KEY_CHUNK):
        found = stored_hashes([c.key for c in chunk])
        matched.update(c.key for c in chunk if c.key in found and c.hash == found[c.key])
    return matched


def _look_up_leads(plan: MemoryPlan, changed: list[Candidate], read_current: ReadCurrent,
                   stored_leads: StoredLeads, ownership: Ownership, *, lookup_field: str, read_all: bool,
                   recall_known: bool) -> set[str]:
    """Every changed candidate plan.needs_read picks read from Marketo, then every other one recalled from the state
    store (only when it knows some leads, `recall_known`: else recalled as unknown), KEY_CHUNK at a time
    (plan.settle_chunk), as plan_table.py does; the keys of the leads field ownership left with nothing to write."""
    emptied: set[str] = set()
    wanted = [needs_read(c, ownership, read_all=read_all) for c in changed]
    read = [c for c, wants in zip(changed, wanted, strict=True) if wants]
    others = [c for c, wants in zip(changed, wanted, strict=True) if not wants]
    if not recall_known:
        for candidate in others:
            recall(candidate, None)
        others = []
    for wants, group in ((True, read), (False, others)):
        for chunk in batches(group, KEY_CHUNK):
            outcomes = settle_chunk(chunk, read=wants, read_current=read_current, stored_leads=stored_leads,
                                    ownership=ownership, lookup_field=lookup_field)
            for candidate, outcome in zip(chunk, outcomes, strict=True):
                plan.fields_skipped["fill_only"] += outcome.fill_only
                plan.fields_skipped["newer_only"] += outcome.newer_only
                if outcome.unchanged:
                    emptied.add(candidate.key)
    return emptied
