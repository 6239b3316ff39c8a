"""apply-events job: read the export, resolve people to leads, plan per rule, apply once per messageId."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import SegmarketoError
from segmarketo_cli.jobs.apply_events.accounting import Ledger, close_buckets, open_buckets
from segmarketo_cli.jobs.apply_events.events import CollectedEvents, EventCollector, person_for
from segmarketo_cli.jobs.apply_events.execute import PlanExecutor
from segmarketo_cli.jobs.apply_events.leads import LeadIndex, LeadResolver
from segmarketo_cli.jobs.apply_events.pending import Recovery, reconcile, report_recovery
from segmarketo_cli.jobs.apply_events.plan import Match, RulesPlan, build_plan, describe_plan
from segmarketo_cli.jobs.apply_events.prepare import ApplyProfile, PreparedApply
from segmarketo_cli.jobs.apply_events.rules import Rule
from segmarketo_cli.jobs.context import JobContext, ProgressBar
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.sources import SourceItem, read_all
from segmarketo_cli.state import StateStore

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient


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

    with ctx.progress(None, "reading events", unit="msg") as bar:
        collected = EventCollector(rules, profile.resolved.coerce).feed(_counted(read_all(prepared.inputs), bar))
    _count_input(collected, report, ctx.rejects, ledger)
    pending = _drop_already_applied(collected.matches, collected.who, rules, store, client.instance, ledger,
                                    reprocess=options.reprocess)

    resolver = LeadResolver(client, store, lookup_field=profile.lookup_field,
                            user_id_field=profile.user_id_field, mapper=profile.mapper)
    if recovery.calls:
        resolver.calls["pending_check"] = recovery.calls
    keyed: list[tuple[Match, str]] = []
    emails: dict[str, str | None] = {}
    for match, who in pending:
        person = person_for(collected.graph, who)
        key, reason = resolver.key_for(who, person)
        if key is None or "," in key:
            _reject(ledger, match, reason or f"{profile.lookup_field} {key!r} contains a comma")
            continue
        keyed.append((match, key))
        emails.setdefault(key, resolver.email_of(who, person))
    score_fields = sorted({r.field for r in rules if r.action == "score"})
    index = resolver.resolve([k for _, k in keyed], score_fields) if keyed else LeadIndex()
    summary = PlanSummary(plan=[])
    _create_missing(keyed, index, emails, resolver, report, ledger, summary, dry_run=options.dry_run)

    ready = []
    for match, key in keyed:
        ids = index.ids.get(key)
        if ids:
            match.lead_ids = ids
            ready.append(match)
        else:
            _reject(ledger, match, index.reasons.get(key) or f"no Marketo lead with {profile.lookup_field} {key}",
                    value=key)
    targets = profile.resolved.targets
    plan = build_plan(ready, targets)
    summary.plan = describe_plan(plan, rules, targets)
    if options.dry_run:
        for match in ready:
            ledger.bucket(match.rule, "planned")
        summary.calls = plan.write_calls()
        report.details["planned_write_calls"] = summary.calls
        report.details["plan"] = summary.plan
        close_buckets(report, rules, dry_run=True)
        ctx.show_plan(summary)
        return report
    _execute(plan, client, ledger, resolver, index, profile, summary, report, rules)
    return report


def _counted(items: Iterable[SourceItem], bar: ProgressBar) -> Iterator[SourceItem]:
    for item in items:
        bar.update(1)
        yield item


def _execute(plan: RulesPlan, client: MarketoClient, ledger: Ledger, resolver: LeadResolver, index: LeadIndex,
             profile: ApplyProfile, summary: PlanSummary, report: RunReport, rules: list[Rule]) -> None:
    executor = PlanExecutor(client, ledger, resolver, index, workers=profile.workers)
    try:
        executor.run(plan)
    except (SegmarketoError, KeyboardInterrupt):
        ledger.flush()
        deferred = ledger.abandon("deferred")
        if deferred:
            report.notes.append(f"{deferred} matched event(s) not applied yet; a re-run applies them")
        raise
    finally:
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


def _count_input(collected: CollectedEvents, report: RunReport, rejects: RejectsWriter, ledger: Ledger) -> None:
    for bucket, n in collected.counts.items():
        report.add(bucket, n)
    for origin, reason in collected.malformed:
        rejects.write(reason, origin=origin)
    for match in collected.matches:
        ledger.bucket(match.rule, "matched")
    for rejection in collected.rejections:
        ledger.bucket(rejection.rule, "matched")
        ledger.bucket(rejection.rule, "rejected")
        ledger.reject(rejection.rule, rejection.message_id, rejection.origin, rejection.reason,
                      field=rejection.field, value=rejection.value)


def _drop_already_applied(matches: list[Match], who: list[str], rules: list[Rule], store: StateStore,
                          instance: str, ledger: Ledger, *, reprocess: bool) -> list[tuple[Match, str]]:
    """Matches whose messageId was applied by an earlier run are counted, not applied (unless --reprocess)."""
    pairs = list(zip(matches, who, strict=True))
    if reprocess:
        return pairs
    done: dict[str, set[str]] = {}
    for rule in rules:
        ids = [m.message_id for m in matches if m.rule is rule]
        done[rule.name] = store.processed(instance, rule.name, ids) if ids else set()
    pending = []
    for match, person in pairs:
        if match.message_id in done[match.rule.name]:
            ledger.bucket(match.rule, "already_applied")
        else:
            pending.append((match, person))
    return pending


def _create_missing(keyed: list[tuple[Match, str]], index: LeadIndex, emails: dict[str, str | None],
                    resolver: LeadResolver, report: RunReport, ledger: Ledger, summary: PlanSummary, *,
                    dry_run: bool) -> None:
    """Leads for `create = true` rules whose person has no lead yet (createOrUpdate on the lookup field)."""
    wanted = {key: emails.get(key) for match, key in keyed if match.rule.create and key in index.missing}
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


def _reject(ledger: Ledger, match: Match, reason: str, **details: Any) -> None:
    ledger.bucket(match.rule, "rejected")
    ledger.reject(match.rule, match.message_id, match.origin, reason, **details)
