"""apply-events job: read the export, resolve people to leads, plan per rule, apply once per messageId."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import SegmarketoError
from segmarketo_cli.jobs.apply_events.accounting import Ledger, close_buckets, open_buckets
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
from segmarketo_cli.jobs.apply_events.plan import PlanTally, describe_plan
from segmarketo_cli.jobs.apply_events.prepare import ApplyProfile, PreparedApply
from segmarketo_cli.jobs.apply_events.rules import Rule
from segmarketo_cli.jobs.apply_events.staging import StagedEvents
from segmarketo_cli.jobs.apply_events.windows import PlanWindows
from segmarketo_cli.jobs.context import JobContext, ProgressBar
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.sizes import MIN_MEMORY_BYTES
from segmarketo_cli.sources import SourceItem, read_all
from segmarketo_cli.state import StateStore

if TYPE_CHECKING:
    import duckdb

    from segmarketo_cli.engine import Engine
    from segmarketo_cli.marketo.client import MarketoClient

ENGINE_SHARE = 0.5  # of memory_limit for DuckDB's buffers; the rest is for the Python side (see _engine_share)


@dataclass
class PlanSummary:
    """What a dry run shows: the plan per rule, the leads it would create and the write calls it would make."""

    plan: list[dict[str, Any]]
    leads_to_create: int = 0
    calls: dict[str, int] = field(default_factory=dict)


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
    with ctx.progress(None, "reading events", unit="msg") as bar:
        collected = EventCollector(rules, profile.resolved.coerce, staged).feed(
            _counted(read_all(prepared.inputs), bar))
    count_input(collected, staged, rules, report, ctx.rejects, ledger)
    if not options.reprocess:
        drop_already_applied(staged, rules, store, client.instance, ledger)

    resolver = LeadResolver(client, store, lookup_field=profile.lookup_field,
                            user_id_field=profile.user_id_field, mapper=profile.mapper)
    if recovery.calls:
        resolver.calls["pending_check"] = recovery.calls
    key_people(staged, collected.graph, resolver, ledger, rules)
    del collected  # the identity graph (per person) is not needed past here: its memory serves the plan windows
    index, emails = find_leads(staged, resolver, sorted({r.field for r in rules if r.action == "score"}))
    summary = PlanSummary(plan=[])
    _create_missing(keys_to_create(staged, rules, index, emails), index, resolver, report, summary,
                    dry_run=options.dry_run)
    reject_leadless(staged, index, ledger, rules, profile.lookup_field)

    targets = profile.resolved.targets
    windows = PlanWindows(staged, rules, targets, index.ids)
    tally = PlanTally()
    if options.dry_run:
        for _, plan in windows.plans():
            tally.add(plan)
        for rule, n in windows.per_rule():
            ledger.bucket(rule, "planned", n)
        summary.plan = describe_plan(tally, rules, targets)
        summary.calls = tally.write_calls(rules)
        report.details["planned_write_calls"] = summary.calls
        report.details["plan"] = summary.plan
        close_buckets(report, rules, dry_run=True)
        ctx.show_plan(summary)
        return report
    _execute(windows, tally, client, ledger, resolver, index, profile, summary, report, rules)
    return report


def _engine_share(engine: Engine) -> duckdb.DuckDBPyConnection:
    """The engine's connection with DuckDB held to ENGINE_SHARE of memory_limit: this job also keeps the input's
    identity graph, its lead index and one plan window as Python objects, so the whole process stays near the
    limit (docs/engine.md, "What each job keeps there")."""
    share = max(int(engine.memory_limit * ENGINE_SHARE), min(engine.memory_limit, MIN_MEMORY_BYTES))
    engine.con.execute(f"SET memory_limit = '{share}B'")
    return engine.con


def _counted(items: Iterable[SourceItem], bar: ProgressBar) -> Iterator[SourceItem]:
    for item in items:
        bar.update(1)
        yield item


def _execute(windows: PlanWindows, tally: PlanTally, client: MarketoClient, ledger: Ledger, resolver: LeadResolver,
             index: LeadIndex, profile: ApplyProfile, summary: PlanSummary, report: RunReport,
             rules: list[Rule]) -> None:
    executor = PlanExecutor(client, ledger, resolver, index, workers=profile.workers)
    current = -1
    try:
        for window, plan in windows.plans():
            current = window
            tally.add(plan)
            executor.run(plan)
    except (SegmarketoError, KeyboardInterrupt):
        ledger.flush()
        deferred = ledger.abandon("deferred")
        for rule, n in windows.per_rule(after=current):
            ledger.bucket(rule, "deferred", n)
            deferred += n
        if deferred:
            report.notes.append(f"{deferred} matched event(s) not applied yet; a re-run applies them")
        raise
    finally:
        summary.plan = describe_plan(tally, rules, targets=profile.resolved.targets)
        summary.calls = {**resolver.calls, **executor.calls}
        report.details["plan"] = summary.plan
        report.details["calls"] = dict(summary.calls)
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
                    summary: PlanSummary, *, dry_run: bool) -> None:
    """Leads for `create = true` rules whose person has no lead yet (createOrUpdate on the lookup field)."""
    if not wanted:
        return
    if dry_run:
        summary.leads_to_create = len(wanted)
        for n, key in enumerate(sorted(wanted), start=1):
            index.ids[key] = (-n,)  # placeholder ids: the plan shows these leads; nothing is written
        return
    created, failed = resolver.create(wanted)
    report.add("leads_created", len(created))
    for key, lead_id in created.items():
        index.ids[key] = (lead_id,)
        index.key_of[lead_id] = key
        index.fetched[lead_id] = frozenset()
    index.reasons.update({key: f"creating the lead failed: {reason}" for key, reason in failed.items()})
