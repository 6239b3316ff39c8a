"""apply-events job: read the export, resolve people to leads, plan per rule, apply once per messageId."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.errors import ConfigError, SegmarketoError
from segmarketo_cli.jobs.apply_events.accounting import Ledger
from segmarketo_cli.jobs.apply_events.events import TOP_BUCKETS, CollectedEvents, EventCollector, person_for
from segmarketo_cli.jobs.apply_events.execute import PlanExecutor
from segmarketo_cli.jobs.apply_events.leads import LeadIndex, LeadResolver
from segmarketo_cli.jobs.apply_events.pending import Recovery, reconcile, report_recovery
from segmarketo_cli.jobs.apply_events.plan import OUTCOMES, Match, RulesPlan, Targets, build_plan, describe_plan
from segmarketo_cli.jobs.apply_events.resolve import check_fields, resolve_targets
from segmarketo_cli.jobs.apply_events.rules import Rule
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import Balance, RunReport
from segmarketo_cli.mapping.mapper import CoercionError, Mapper, coerce, load_catalog
from segmarketo_cli.sources import SourceItem
from segmarketo_cli.state import StateStore


@dataclass
class ApplyOptions:
    lookup_field: str = "email"
    user_id_field: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    reprocess: bool = False
    dry_run: bool = False
    workers: int = 1


@dataclass
class ApplyResult:
    """What the command renders: the plan per rule, and the leads a dry run would create."""

    plan: list[dict[str, Any]]
    leads_to_create: int = 0
    calls: dict[str, int] = field(default_factory=dict)


def make_coercer(catalog: Any) -> Callable[[str, Any], Any]:
    def _coerce(name: str, value: Any) -> Any:
        info = catalog.get(name)
        try:
            return coerce(value, info) if info is not None else value
        except CoercionError as exc:
            raise ValueError(f"{value!r} is not {exc.expected}") from None
    return _coerce


def prepare_report(report: RunReport, rules: list[Rule], *, dry_run: bool) -> None:
    report.ensure(*TOP_BUCKETS, "leads_created", "rejected", "uncertain")
    outcomes = ("matched", "planned", "rejected", "already_applied") if dry_run else OUTCOMES
    for rule in rules:
        report.ensure(*(f"{rule.name}.{o}" for o in outcomes))
    report.rejected_buckets = ("malformed", *(f"{rule.name}.rejected" for rule in rules))


def finish_report(report: RunReport, rules: list[Rule], *, dry_run: bool) -> None:
    """Balances that must add up, and `rejected`: malformed lines plus every rule's rejected events."""
    report.counts["rejected"] = report.rejected
    report.balances.append(Balance("messages", ("events_matched", "events_unmatched", "other_messages",
                                                "duplicates", "malformed")))
    for rule in rules:
        parts = ["planned"] if dry_run else ["applied", "unchanged"]
        parts += ["rejected", "already_applied"]
        if report.counts.get(f"{rule.name}.deferred"):
            parts.append("deferred")
        report.balances.append(Balance(f"{rule.name}.matched", tuple(f"{rule.name}.{p}" for p in parts)))


@dataclass
class Prepared:
    """Rules checked against the instance: field catalog, resolved targets, coercion and (if needed) mapper."""

    rules: list[Rule]
    targets: dict[str, Targets]
    coerce: Callable[[str, Any], Any]
    mapper: Mapper | None = None


def prepare(rules: list[Rule], client: Any, store: StateStore | None, options: ApplyOptions) -> Prepared:
    """Check every rule against Marketo (fields, programs and statuses, campaigns, lists) before any write."""
    catalog = load_catalog(client, store)
    check_fields(rules, {name: {"dataType": f.data_type, "readOnly": f.read_only}
                         for name, f in catalog.fields.items()})
    coercer = make_coercer(catalog)
    check_constants(rules, coercer)
    targets = resolve_targets(client, rules)
    mapper = None
    if options.lookup_field != "email":
        catalog.check_lookup(options.lookup_field)
        mapper = Mapper(catalog, explicit=options.mapping, user_id_field=options.user_id_field)
    return Prepared(rules, targets, coercer, mapper)


def check_constants(rules: list[Rule], coercer: Callable[[str, Any], Any]) -> None:
    """set-fields constants and defaults must fit their field's type: a config error, not a reject per event."""
    for rule in rules:
        for name, source in rule.fields.items():
            value = source.constant if source.kind == "constant" else source.default
            if value is None:
                continue
            try:
                coercer(name, value)
            except ValueError as exc:
                raise ConfigError(f"{rule.origin}: {rule.label}, key 'fields.{name}': {exc}") from None


def run(items: Iterable[SourceItem], prepared: Prepared, client: Any, store: StateStore | None, report: RunReport,
        rejects: RejectsWriter, options: ApplyOptions) -> ApplyResult:
    """The whole job; every (rule, event) pair ends in exactly one of the rule's buckets."""
    try:
        return _run(items, prepared, client, store, report, rejects, options)
    finally:
        report.api_calls["marketo"] = getattr(client, "calls", 0)


def _run(items: Iterable[SourceItem], prepared: Prepared, client: Any, store: StateStore | None, report: RunReport,
         rejects: RejectsWriter, options: ApplyOptions) -> ApplyResult:
    rules, targets = prepared.rules, prepared.targets
    prepare_report(report, rules, dry_run=options.dry_run)
    instance = getattr(client, "instance", "")
    ledger = Ledger(report, rejects, store, instance)
    recovery = _recover(client, store, instance, report, dry_run=options.dry_run)

    collected = EventCollector(rules, prepared.coerce).feed(items)
    _count_input(collected, report, rejects, ledger)
    pending = _drop_already_applied(collected.matches, collected.who, rules, store, instance, ledger,
                                    reprocess=options.reprocess)

    resolver = LeadResolver(client, store, lookup_field=options.lookup_field,
                            user_id_field=options.user_id_field, mapper=prepared.mapper)
    if recovery.calls:
        resolver.calls["pending_check"] = recovery.calls
    keyed: list[tuple[Match, str]] = []
    emails: dict[str, str | None] = {}
    for match, who in pending:
        person = person_for(collected.graph, who)
        key, reason = resolver.key_for(who, person)
        if key is None or "," in key:
            _reject(ledger, match, reason or f"{options.lookup_field} {key!r} contains a comma")
            continue
        keyed.append((match, key))
        emails.setdefault(key, resolver.email_of(who, person))
    score_fields = sorted({r.field for r in rules if r.action == "score"})
    index = resolver.resolve([k for _, k in keyed], score_fields) if keyed else LeadIndex()
    result = ApplyResult(plan=[])
    _create_missing(keyed, index, emails, resolver, report, ledger, result, dry_run=options.dry_run)

    ready = []
    for match, key in keyed:
        ids = index.ids.get(key)
        if ids:
            match.lead_ids = ids
            ready.append(match)
        else:
            _reject(ledger, match, index.reasons.get(key) or f"no Marketo lead with {options.lookup_field} {key}",
                    value=key)
    plan = build_plan(ready, targets)
    result.plan = describe_plan(plan, rules, targets)
    if options.dry_run:
        for match in ready:
            ledger.bucket(match.rule, "planned")
        result.calls = plan.write_calls()
        report.details["planned_write_calls"] = result.calls
        report.details["plan"] = result.plan
        finish_report(report, rules, dry_run=True)
        return result
    _execute(plan, client, ledger, resolver, index, options, result, report, rules)
    return result


def _execute(plan: RulesPlan, client: Any, ledger: Ledger, resolver: LeadResolver, index: LeadIndex,
             options: ApplyOptions, result: ApplyResult, report: RunReport, rules: list[Rule]) -> None:
    executor = PlanExecutor(client, ledger, resolver, index, workers=options.workers)
    try:
        executor.run(plan)
    except (SegmarketoError, KeyboardInterrupt):
        ledger.flush()
        deferred = ledger.abandon("deferred")
        if deferred:
            report.notes.append(f"{deferred} matched event(s) not applied yet; a re-run applies them")
        raise
    finally:
        result.calls = {**resolver.calls, **executor.calls}
        report.details["plan"] = result.plan
        report.details["calls"] = dict(result.calls)
        finish_report(report, rules, dry_run=False)


def _recover(client: Any, store: StateStore | None, instance: str, report: RunReport, *,
             dry_run: bool) -> Recovery:
    """Settle the writes an interrupted run left pending (a dry run only says they exist)."""
    if store is None:
        return Recovery()
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


def _drop_already_applied(matches: list[Match], who: list[str], rules: list[Rule], store: StateStore | None,
                          instance: str, ledger: Ledger, *, reprocess: bool) -> list[tuple[Match, str]]:
    """Matches whose messageId was applied by an earlier run are counted, not applied (unless --reprocess)."""
    pairs = list(zip(matches, who, strict=True))
    if reprocess or store is None:
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
                    resolver: LeadResolver, report: RunReport, ledger: Ledger, result: ApplyResult, *,
                    dry_run: bool) -> None:
    """Leads for `create = true` rules whose person has no lead yet (createOrUpdate on the lookup field)."""
    wanted = {key: emails.get(key) for match, key in keyed if match.rule.create and key in index.missing}
    if not wanted:
        return
    if dry_run:
        result.leads_to_create = len(wanted)
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
