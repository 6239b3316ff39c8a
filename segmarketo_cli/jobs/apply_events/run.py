"""apply-events job: read the export, resolve people to leads, plan per rule, apply once per messageId."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import SegmarketoError
from segmarketo_cli.jobs.apply_events.accounting import Ledger, close_buckets, open_buckets
from segmarketo_cli.jobs.apply_events.changes import ChangeBuilder
from segmarketo_cli.jobs.apply_events.events import EventCollector
from segmarketo_cli.jobs.apply_events.execute import PlanExecutor
from segmarketo_cli.jobs.apply_events.intake import (
    count_input,
    drop_already_applied,
    find_leads,
    key_people,
    keys_to_create,
    reject_leadless,
)
from segmarketo_cli.jobs.apply_events.leads import LeadIndex, LeadResolver
from segmarketo_cli.jobs.apply_events.pending import Recovery, reconcile, report_recovery
from segmarketo_cli.jobs.apply_events.plan import PlanTally, describe_plan, written_fields
from segmarketo_cli.jobs.apply_events.plan_out import PlanOut
from segmarketo_cli.jobs.apply_events.prepare import ApplyProfile, PreparedApply
from segmarketo_cli.jobs.apply_events.rules import Rule
from segmarketo_cli.jobs.apply_events.staging import StagedEvents
from segmarketo_cli.jobs.apply_events.windows import PlanWindows
from segmarketo_cli.jobs.context import JobContext, ProgressBar
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.sources import SourceItem, read_all
from segmarketo_cli.state import StateStore
from segmarketo_cli.state.change_log import Change, ChangeWriter

if TYPE_CHECKING:
    import duckdb

    from segmarketo_cli.engine import Engine
    from segmarketo_cli.marketo.client import MarketoClient

ENGINE_SHARE = 0.5  # of memory_limit for DuckDB's buffers; the rest is for the Python side (see _engine_share)


@dataclass
class PlanSummary:
    """What a dry run shows: the plan per rule, the leads it would create, the write calls it would make, its
    plan rows per action with the first few of each (`sample`), and the --plan-out file they went to."""

    plan: list[dict[str, Any]]
    leads_to_create: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    sample: list[dict[str, str]] = field(default_factory=list)
    plan_out: str | None = None


class WindowPass:
    """One pass over the plan windows: each planned, its current values read, its changes described (for
    --plan-out and the dry-run sample) and, in a real run, applied. An error ends the pass; `finish` raises it
    once the plan file holds the windows planned so far."""

    def __init__(self, windows: PlanWindows, tally: PlanTally, executor: PlanExecutor, *, apply: bool) -> None:
        self.windows = windows
        self.tally = tally
        self.executor = executor
        self.apply = apply
        self.current = -1
        self.error: BaseException | None = None

    def changes(self, creations: Iterable[Change], *, describe: bool) -> Iterator[Change]:
        if describe:
            yield from creations
        try:
            for window, plan in self.windows.plans():
                self.current = window
                self.tally.add(plan)
                self.executor.read(plan)
                if describe:
                    yield from self.executor.builder.plan_changes(plan)
                if self.apply:
                    self.executor.apply(plan)
        except (SegmarketoError, KeyboardInterrupt) as exc:
            self.error = exc

    def finish(self) -> None:
        if self.error is not None:
            raise self.error


def run(ctx: JobContext, prepared: PreparedApply) -> RunReport:
    """The whole job; every (rule, event) pair ends in exactly one of the rule's buckets. A dry run hands its
    PlanSummary to `ctx.show_plan`."""
    profile, options = prepared.profile, prepared.options
    rules = profile.resolved.rules
    client, store, report = ctx.marketo(), ctx.store, ctx.report
    open_buckets(report, rules, dry_run=options.dry_run)
    ledger = Ledger(report, ctx.rejects, store, client.instance)
    recovery = _recover(client, store, report, dry_run=options.dry_run)

    staged = StagedEvents(_engine_share(ctx.engine()))
    plan_out = PlanOut(options.plan_out, staged)
    if options.plan_out is not None:
        ledger.on_reject = plan_out.reject
    with ctx.progress(None, "reading events", unit="msg") as bar:
        collected = EventCollector(rules, profile.resolved.coerce, staged).feed(
            _counted(read_all(prepared.inputs), bar))
    count_input(collected, staged, rules, report, ledger)
    if not options.reprocess:
        drop_already_applied(staged, rules, store, client.instance, ledger)

    resolver = LeadResolver(client, store, lookup_field=profile.lookup_field,
                            user_id_field=profile.user_id_field, mapper=profile.mapper)
    if recovery.calls:
        resolver.calls["pending_check"] = recovery.calls
    key_people(staged, collected.graph, resolver, ledger, rules)
    del collected  # the identity graph (per person) is not needed past here: its memory serves the plan windows
    fields = written_fields(rules)
    index, emails = find_leads(staged, resolver, fields)
    builder = ChangeBuilder(index, emails=emails, lookup_field=profile.lookup_field,
                            last_values=lambda keys, names: store.change_log.last_values(client.instance, keys, names))
    summary = PlanSummary(plan=[], plan_out=None if options.plan_out is None else str(options.plan_out))
    wanted = keys_to_create(staged, rules, index, emails)
    _create_missing(wanted, index, resolver, report, summary, builder, ctx.changes, frozenset(fields),
                    dry_run=options.dry_run)
    reject_leadless(staged, index, ledger, rules, profile.lookup_field)

    targets = profile.resolved.targets
    windows = PlanWindows(staged, rules, targets, index.ids)
    executor = PlanExecutor(client, ledger, resolver, index, workers=profile.workers, builder=builder,
                            log=ctx.changes)
    passing = WindowPass(windows, PlanTally(), executor, apply=not options.dry_run)
    creations = (builder.creation(key, index.ids[key][0] if key in index.ids else None) for key in wanted)
    if options.dry_run:
        plan_out.write(passing.changes(creations, describe=True), builder.email)
        passing.finish()
        for rule, n in windows.per_rule():
            ledger.bucket(rule, "planned", n)
        summary.plan = describe_plan(passing.tally, rules, targets)
        summary.calls = passing.tally.write_calls(rules)
        summary.rows, summary.sample = plan_out.counts, plan_out.sample
        report.details["planned_write_calls"] = summary.calls
        report.details["plan"] = summary.plan
        report.details["plan_rows"] = summary.rows
        close_buckets(report, rules, dry_run=True)
        ctx.show_plan(summary)
        return report
    _execute(passing, plan_out, creations, ledger, resolver, profile, summary, report, rules)
    return report


def _engine_share(engine: Engine) -> duckdb.DuckDBPyConnection:
    """The engine's connection with DuckDB held to ENGINE_SHARE of memory_limit: this job also keeps the input's
    identity graph, its lead index and one plan window as Python objects, so the whole process stays near the
    limit (docs/engine.md, "What each job keeps there")."""
    engine.hold_to(ENGINE_SHARE)
    return engine.con


def _counted(items: Iterable[SourceItem], bar: ProgressBar) -> Iterator[SourceItem]:
    for item in items:
        bar.update(1)
        yield item


def _execute(passing: WindowPass, plan_out: PlanOut, creations: Iterable[Change], ledger: Ledger,
             resolver: LeadResolver, profile: ApplyProfile, summary: PlanSummary, report: RunReport,
             rules: list[Rule]) -> None:
    """Apply the windows one after the other (writing --plan-out as they are planned, when asked)."""
    try:
        plan_out.write(passing.changes(creations, describe=plan_out.path is not None),
                       passing.executor.builder.email)
        passing.finish()
    except (SegmarketoError, KeyboardInterrupt):
        ledger.flush()
        deferred = ledger.abandon("deferred")
        for rule, n in passing.windows.per_rule(after=passing.current):
            ledger.bucket(rule, "deferred", n)
            deferred += n
        if deferred:
            report.notes.append(f"{deferred} matched event(s) not applied yet; a re-run applies them")
        raise
    finally:
        summary.plan = describe_plan(passing.tally, rules, targets=profile.resolved.targets)
        summary.calls = {**resolver.calls, **passing.executor.calls}
        report.details["plan"] = summary.plan
        report.details["calls"] = dict(summary.calls)
        if plan_out.path is not None:
            report.details["plan_rows"] = plan_out.counts
        close_buckets(report, rules, dry_run=False)


def _recover(client: MarketoClient, store: StateStore, report: RunReport, *, dry_run: bool) -> Recovery:
    """Settle the writes an interrupted run left pending (a dry run only says they exist)."""
    instance = client.instance
    if dry_run:
        left = len(store.pending(instance))
        if left:
            report.notes.append(f"{left} write(s) of an interrupted run are pending; the next real run settles them")
        return Recovery()
    recovery = reconcile(client, store, instance)
    report_recovery(recovery, report)
    return recovery


def _create_missing(wanted: dict[str, str | None], index: LeadIndex, resolver: LeadResolver, report: RunReport,
                    summary: PlanSummary, builder: ChangeBuilder, log: ChangeWriter, fields: frozenset[str], *,
                    dry_run: bool) -> None:
    """Leads for `create = true` rules whose person has no lead yet (createOrUpdate on the lookup field); each
    call's new leads go to the change log. A new lead's `fields` are known to be empty: no read before its write."""
    if not wanted:
        return
    if dry_run:
        summary.leads_to_create = len(wanted)
        for n, key in enumerate(sorted(wanted), start=1):
            index.add_created(key, -n, fields)  # placeholder ids: the plan shows these leads; nothing is written
        return
    new: set[int] = set()

    def logged(pairs: list[tuple[str, int]]) -> None:
        new.update(lead_id for _, lead_id in pairs)
        log.record(builder.creation(key, lead_id) for key, lead_id in pairs)

    created: dict[str, int] = {}
    try:
        failed = resolver.create(wanted, created, on_created=logged)
    finally:  # interrupted too: the leads Marketo created are counted
        report.add("leads_created", len(created))
    for key, lead_id in created.items():
        index.add_created(key, lead_id, fields if lead_id in new else frozenset())  # "updated": read it first
    index.reasons.update({key: f"creating the lead failed: {reason}" for key, reason in failed.items()})
