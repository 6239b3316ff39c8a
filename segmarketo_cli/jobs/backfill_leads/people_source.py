"""Where a backfill run's people come from, and what it leaves for the next run: every file read (and a new people
store written), or, when only new files were added since the last successful run, just those files merged with the
people store (docs/backfill-leads.md, "Reruns on unchanged input")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segmarketo_cli.jobs.backfill_leads.lead_plan import LeadPlan
from segmarketo_cli.jobs.backfill_leads.messages import might_matter
from segmarketo_cli.jobs.backfill_leads.read import read_people, read_records
from segmarketo_cli.jobs.backfill_leads.sizing import measure, reads_columnar, uses_engine
from segmarketo_cli.jobs.unchanged_inputs import DETAIL_NAMES, InputCheck

if TYPE_CHECKING:
    from segmarketo_cli.engine import Engine
    from segmarketo_cli.jobs.backfill_leads.incremental import Delta
    from segmarketo_cli.jobs.backfill_leads.people_store import GenerationWriter, PeopleStore
    from segmarketo_cli.jobs.context import JobContext

BuildPlan = Callable[..., LeadPlan]  # (people) -> the plan, every other argument bound


@dataclass
class PeopleSource:
    """One run's way to its people: `delta` (only the new files) or a full read, which a real run also records in
    `generation`; `keep` puts what the run learnt in the people store once it ended ok."""

    check: InputCheck
    store: PeopleStore | None = None
    delta: Delta | None = None
    generation: GenerationWriter | None = None
    plan: LeadPlan | None = None
    note: str | None = None  # why a rerun whose only change is new files still reads everything

    def keep(self, run_id: str) -> None:
        """The run ended ok and its inputs are recorded: the store now describes it."""
        from segmarketo_cli.jobs.backfill_leads.incremental import update
        from segmarketo_cli.jobs.backfill_leads.people_store import Meta

        assert self.plan is not None
        if self.delta is not None and self.store is not None:
            self.store.apply(update(self.delta, run_id, self.check.paths, self.plan.iter_keys()))
        elif self.generation is not None:
            meta = Meta(run_id, self.check.plan_key, self.check.paths, self.generation.seq, self.generation.fold, 0)
            self.generation.commit(meta, self.plan.iter_keys())
            self.generation = None

    def close(self) -> None:
        """Release the store; a new store not committed is removed (the previous one stays in force)."""
        if self.generation is not None:
            self.generation.discard()
        if self.store is not None:
            self.store.close()


def open_source(ctx: JobContext, check: InputCheck, *, dry_run: bool) -> PeopleSource:
    """Decide how this run reads: only the new files when the input check found nothing but appended files and
    the people store describes run R under the same plan key; else everything (a note says why, unless a file
    changed or went, which the input check's own note already says) in `note`."""
    from segmarketo_cli.jobs.backfill_leads.incremental import why_full_read
    from segmarketo_cli.jobs.backfill_leads.people_store import GenerationWriter, PeopleStore
    from segmarketo_cli.sizes import parse_memory_limit

    memory = parse_memory_limit(ctx.settings.memory_limit) // 4
    state_dir, profile = ctx.store.state_dir, ctx.settings.profile
    source = PeopleSource(check)
    if check.verdict == "changed":
        store = PeopleStore.open(state_dir, profile, memory)
        why = why_full_read(check, store.meta() if store else None, check.plan_key)
        if why is None and uses_engine(measure(list(check.to_read), might_matter), memory * 4):
            why = "the new files are large enough for the planning engine"
        if why is None:
            source.store = store
            return source
        if store is not None:
            store.close()
        if not (check.modified or check.removed):
            source.note = f"every input file read: {why.replace('run R', f'run {check.since_run}')}"
    if not dry_run:
        source.generation = GenerationWriter(state_dir, profile, memory)
    return source


def plan_people(source: PeopleSource, ctx: JobContext, build: Callable[[Engine | None], BuildPlan], *,
                inputs: list[Any], nulls: str, memory_limit: int) -> LeadPlan:
    """Read and plan: a full read (recorded in `source.generation`), or the new files merged with the store."""
    if source.store is not None:
        source.plan = _plan_new_files(source, ctx, build(None), nulls=nulls)
        return source.plan
    measured = measure(inputs, might_matter)
    on_engine = uses_engine(measured, memory_limit)
    columnar = reads_columnar(measured)
    engine = ctx.engine() if on_engine or columnar else None
    tee = source.generation.add if source.generation is not None else None
    people = read_people(inputs, nulls=nulls, report=ctx.report, rejects=ctx.rejects, progress=ctx.progress,
                         engine=engine, on_engine=on_engine, tee=tee, columnar=columnar)
    source.plan = build(engine)(people)  # a columnar read plans on the engine too: it maps its people in SQL
    return source.plan


def _plan_new_files(source: PeopleSource, ctx: JobContext, build: BuildPlan, *, nulls: str) -> LeadPlan:
    """Only the new files read; the people they touch (and any earlier holder of a key one of them takes now)
    rebuilt and planned, in people order; everyone else is counted, not planned."""
    from segmarketo_cli.jobs.backfill_leads.incremental import add_key_holders, place, rebuild_people

    store, check, report = source.store, source.check, ctx.report
    assert store is not None
    meta = store.meta()
    records = read_records(list(check.to_read), seq=meta.last_seq, fold=meta.last_fold, report=report,
                           rejects=ctx.rejects, progress=ctx.progress)
    delta = source.delta = place(store, meta, records)
    rebuild_people(delta, nulls=nulls)
    plan = build(iter(delta.people))
    while add_key_holders(delta, plan.iter_keys()):
        rebuild_people(delta, nulls=nulls)
        plan = build(iter(delta.people))
    report.details["people"] = len(delta.people)
    not_affected = delta.not_affected()
    inputs = report.details.setdefault("inputs", {})
    inputs["people_not_affected"] = not_affected
    inputs["read"] = [path for path in check.new[:DETAIL_NAMES]]
    report.notes.append(f"{not_affected} people not affected by the new files: not planned again (their leads "
                        f"stand as run {check.since_run} left them); leads_planned counts the {len(delta.people)} "
                        "people the new files touch")
    return plan
