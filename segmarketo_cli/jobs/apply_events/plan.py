"""Pure apply-events planner: matched track events, in timestamp order per lead -> per-action plans."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.jobs.apply_events.rules import Rule, as_number
from segmarketo_cli.marketo.base import MAX_BATCH, MAX_CAMPAIGN_BATCH

OUTCOMES = ("matched", "applied", "unchanged", "rejected", "already_applied")
DRY_RUN_OUTCOMES = ("matched", "planned", "rejected", "already_applied")
REASON_MAX_LENGTH = 2000  # unsubscribedReason is a 2,000-character string field
UNSUBSCRIBE_REASON = "unsubscribedReason"  # written by suppress with `unsubscribed`; its before-value is not read


class EventRejected(ValueError):
    """An event cannot be applied by a rule; the message is the reason for the rejects file."""

    def __init__(self, reason: str, *, field: str | None = None, value: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.value = value


@dataclass(slots=True)
class Match:
    """One (rule, event) pair: what the event asks the rule to do, and later the lead(s) it applies to."""

    rule: Rule
    message_id: str
    ts: float  # epoch seconds; equal timestamps keep read order (the sort below is stable)
    origin: str
    payload: Any
    lead_ids: tuple[int, ...] = ()
    waiting: int = 0  # confirmations still expected while the plan is applied (see accounting.Ledger)
    outcome: str = ""


Coercer = Callable[[str, Any], Any]  # (field, value) -> Marketo value; raises ValueError with the reason


def evaluate(rule: Rule, message: Mapping[str, Any], coerce: Coercer) -> Any:
    """What `rule` will do for this event (points, tokens, reason or field values); EventRejected if unusable."""
    if rule.action == "score":
        raw = rule.points.read(message)
        number = as_number(raw)
        if number is None or (isinstance(number, float) and not number.is_integer()):
            raise EventRejected(f"points from {rule.points.describe()} must be a whole number",
                                field=rule.field, value=raw)
        return int(number)
    if rule.action == "program-status":
        return None
    if rule.action == "trigger-campaign":
        tokens = []
        for name, source in rule.tokens.items():
            value = source.read(message)
            if value is None or isinstance(value, (dict, list)):
                raise EventRejected(f"token {name}: {source.describe()} is missing or not a plain value",
                                    field=name, value=value)
            tokens.append((name, _token_text(value)))
        return tuple(tokens)
    if rule.action == "suppress":
        value = rule.reason.read(message) if rule.reason else None
        if value is None or isinstance(value, (dict, list)):
            props = message.get("properties") or {}
            value = props.get("reason") if isinstance(props, Mapping) else None
        text = str(value) if value is not None else f"Segment event '{message.get('event')}'"
        return text[:REASON_MAX_LENGTH]
    values: dict[str, Any] = {}
    for target, source in rule.fields.items():
        value = source.read(message)
        if value is None:
            continue  # this event does not carry the value: leave the field alone
        try:
            values[target] = coerce(target, value)
        except ValueError as exc:
            raise EventRejected(f"field {target}: {exc}", field=target, value=value) from None
    if not values:
        raise EventRejected("none of the rule's field values is present in the event")
    return values


def _token_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class LeadUpdate:
    """Everything written to one lead with Sync Leads (updateOnly by id): score deltas, field values, consent."""

    lead_id: int
    deltas: dict[str, int] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    matches: list[Match] = field(default_factory=list)

    def record(self, current: Mapping[str, Any]) -> dict[str, Any]:
        """The Sync Leads input row, adding each score delta to the current value (missing counts as 0)."""
        row: dict[str, Any] = {"id": self.lead_id, **self.values}
        for name, delta in self.deltas.items():
            now = as_number(current.get(name))
            row[name] = int(now or 0) + delta
        return row


@dataclass
class Removal:
    """Suppressed leads to take off static lists: explicit list ids, and leads to remove from every list."""

    by_list: dict[int, list[int]] = field(default_factory=dict)
    all_lists: list[int] = field(default_factory=list)
    matches: dict[int, list[Match]] = field(default_factory=dict)  # lead id -> suppress matches


@dataclass
class StatusChange:
    """One program-status rule: leads to move to `status` in `program_id`."""

    rule: Rule
    program_id: int
    status: str
    step: int
    leads: dict[int, list[Match]] = field(default_factory=dict)


@dataclass
class CampaignRequest:
    """One trigger-campaign rule and one set of token values: the leads to request the campaign for."""

    rule: Rule
    campaign_id: int
    tokens: tuple[tuple[str, str], ...]
    leads: dict[int, list[Match]] = field(default_factory=dict)
    first: float = math.inf


@dataclass
class RulesPlan:
    updates: dict[int, LeadUpdate] = field(default_factory=dict)
    removal: Removal = field(default_factory=Removal)
    statuses: list[StatusChange] = field(default_factory=list)
    campaigns: list[CampaignRequest] = field(default_factory=list)

    @property
    def read_fields(self) -> list[str]:
        """The fields whose current values the Sync Leads rows need: each score's base, each field's before."""
        return sorted({name for update in self.updates.values() for name in (*update.deltas, *update.values)
                       if name != UNSUBSCRIBE_REASON})


@dataclass
class PlanTally:
    """Leads and points of a run's plan, summed over the windows it is built in (a lead is in one window only).

    What the dry-run summary and the planned write calls need, without holding the plans themselves."""

    leads: dict[str, int] = field(default_factory=dict)  # rule name -> leads it writes to
    points: dict[str, int] = field(default_factory=dict)  # score rule name -> points summed
    update_leads: int = 0  # Sync Leads rows
    by_list: dict[int, int] = field(default_factory=dict)  # list id -> leads to remove (explicit lists)
    campaign_leads: dict[tuple[str, Any], int] = field(default_factory=dict)  # (rule, tokens) -> leads

    def add(self, plan: RulesPlan) -> None:
        """Count one window's plan in."""
        rule_leads: dict[str, set[int]] = {}
        for lead, update in plan.updates.items():
            for match in update.matches:
                rule_leads.setdefault(match.rule.name, set()).add(lead)
                if match.rule.action == "score":
                    self.points[match.rule.name] = self.points.get(match.rule.name, 0) + match.payload
        for change in plan.statuses:
            rule_leads.setdefault(change.rule.name, set()).update(change.leads)
        for request in plan.campaigns:
            rule_leads.setdefault(request.rule.name, set()).update(request.leads)
            key = (request.rule.name, request.tokens)
            self.campaign_leads[key] = self.campaign_leads.get(key, 0) + len(request.leads)
        for name, leads in rule_leads.items():
            self.leads[name] = self.leads.get(name, 0) + len(leads)
        self.update_leads += len(plan.updates)
        for list_id, members in plan.removal.by_list.items():
            self.by_list[list_id] = self.by_list.get(list_id, 0) + len(members)

    def write_calls(self, rules: list[Rule]) -> dict[str, int]:
        """Write calls the plan needs (list removals for "all" counted once per lead's membership read)."""
        return {
            "sync_leads": calls_for(self.update_leads),
            "remove_from_list": sum(calls_for(n) for n in self.by_list.values()),
            "program_status": sum(calls_for(self.leads.get(r.name, 0)) for r in rules
                                  if r.action == "program-status"),
            "request_campaign": sum(calls_for(n, MAX_CAMPAIGN_BATCH) for n in self.campaign_leads.values()),
        }


def written_fields(rules: Iterable[Rule]) -> list[str]:
    """The lead fields the rules write with Sync Leads and read first (see RulesPlan.read_fields): score fields,
    set-fields' fields and `unsubscribed`; the lead lookup asks for them so found leads need no second read."""
    names: set[str] = set()
    for rule in rules:
        if rule.action == "score":
            names.add(rule.field)
        elif rule.action == "set-fields":
            names.update(rule.fields)
        elif rule.action == "suppress":
            names.add("unsubscribed")
    return sorted(names)


def tally_of(plan: RulesPlan) -> PlanTally:
    """The tally of a single plan."""
    tally = PlanTally()
    tally.add(plan)
    return tally


def calls_for(n: int, size: int = MAX_BATCH) -> int:
    """Calls needed for `n` records at `size` a call (what `batches.chunks` cuts them into)."""
    return -(-n // size)


@dataclass(frozen=True)
class Targets:
    """Marketo ids a rule's references resolved to (see jobs/apply_events/resolve.py)."""

    program_id: int = 0
    status_step: int = 0
    campaign_id: int = 0
    list_ids: tuple[int, ...] | str = ()


def pick_leads(rule: Rule, lead_ids: tuple[int, ...]) -> tuple[int, ...]:
    """Duplicate policy: suppress reaches every duplicate lead; other actions go to the lowest lead id."""
    if not lead_ids:
        return ()
    return tuple(sorted(lead_ids)) if rule.action == "suppress" else (min(lead_ids),)


def build_plan(matches: Iterable[Match], targets: Mapping[str, Targets]) -> RulesPlan:
    """Fold matches (each with lead ids) in timestamp order per lead into one plan per action."""
    plan = RulesPlan()
    statuses: dict[str, StatusChange] = {}
    campaigns: dict[tuple[str, Any], CampaignRequest] = {}
    for match in sorted(matches, key=lambda m: m.ts):
        rule = match.rule
        target = targets.get(rule.name, Targets())
        for lead in pick_leads(rule, match.lead_ids):
            if rule.action in ("score", "set-fields", "suppress"):
                update = plan.updates.setdefault(lead, LeadUpdate(lead))
                update.matches.append(match)
                if rule.action == "score":
                    update.deltas[rule.field] = update.deltas.get(rule.field, 0) + match.payload
                elif rule.action == "set-fields":
                    update.values.update(match.payload)  # later events overwrite earlier ones
                else:
                    update.values["unsubscribed"] = True
                    update.values["unsubscribedReason"] = match.payload
                    _plan_removal(plan.removal, lead, match, target.list_ids)
            elif rule.action == "program-status":
                change = statuses.get(rule.name)
                if change is None:
                    change = statuses[rule.name] = StatusChange(rule, target.program_id, rule.status,
                                                                target.status_step)
                change.leads.setdefault(lead, []).append(match)
            else:
                key = (rule.name, match.payload)
                request = campaigns.get(key)
                if request is None:
                    request = campaigns[key] = CampaignRequest(rule, target.campaign_id, match.payload,
                                                               first=match.ts)
                request.leads.setdefault(lead, []).append(match)
    # Marketo never moves a member back down the channel, so lower steps go first.
    plan.statuses = sorted(statuses.values(), key=lambda s: (s.program_id, s.step, s.rule.index))
    plan.campaigns = sorted(campaigns.values(), key=lambda c: c.first)
    return plan


def _plan_removal(removal: Removal, lead: int, match: Match, list_ids: tuple[int, ...] | str) -> None:
    removal.matches.setdefault(lead, []).append(match)
    if isinstance(list_ids, str):  # "all"
        if lead not in removal.all_lists:
            removal.all_lists.append(lead)
        return
    for list_id in list_ids:
        members = removal.by_list.setdefault(list_id, [])
        if lead not in members:
            members.append(lead)


def describe_plan(tally: PlanTally, rules: list[Rule], targets: Mapping[str, Targets]) -> list[dict[str, Any]]:
    """Per-rule summary of what the plan would write (the --dry-run output)."""
    out: list[dict[str, Any]] = []
    for rule in rules:
        entry: dict[str, Any] = {"rule": rule.name, "action": rule.action}
        target = targets.get(rule.name, Targets())
        leads = tally.leads.get(rule.name, 0)
        if rule.action == "score":
            entry.update(field=rule.field, leads=leads, points=tally.points.get(rule.name, 0))
        elif rule.action == "set-fields":
            entry.update(fields=sorted(rule.fields), leads=leads)
        elif rule.action == "suppress":
            lists = target.list_ids if target.list_ids == "all" else list(target.list_ids)
            entry.update(leads=leads, remove_from_lists=lists)
        elif rule.action == "program-status":
            entry.update(program_id=target.program_id, status=rule.status, leads=leads)
        else:
            groups = [n for (name, _), n in tally.campaign_leads.items() if name == rule.name]
            entry.update(campaign_id=target.campaign_id, leads=leads, token_groups=len(groups),
                         calls=sum(calls_for(n, MAX_CAMPAIGN_BATCH) for n in groups))
        out.append(entry)
    return out
