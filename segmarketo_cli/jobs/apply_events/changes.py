"""What each write of an apply-events plan changes, field by field (before -> after): the rows of --plan-out and the
dry-run sample, and what the change log records once Marketo confirmed the write (docs/apply-events.md, "--plan-out
and the change log")."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from segmarketo_cli.jobs.apply_events.leads import LeadIndex
from segmarketo_cli.jobs.apply_events.plan import (
    UNSUBSCRIBE_REASON,
    CampaignRequest,
    LeadUpdate,
    Match,
    RulesPlan,
    StatusChange,
)
from segmarketo_cli.state.change_log import UNKNOWN, Change

# (e-mail keys, fields) -> {key: {field: newest value a logged run wrote}}: the state store's before-values
LastValues = Callable[[Sequence[str], Sequence[str]], Mapping[str, Mapping[str, Any]]]


def _rules(matches: Iterable[Match]) -> str:
    return ", ".join(dict.fromkeys(m.rule.name for m in matches))


class ChangeBuilder:
    """Builds the Change of each write from a plan window and the values read before it. Before-values come from
    that read (Marketo), else from the state store (`last_values`: the newest value a logged run wrote), else
    UNKNOWN; a lead this run creates had none (empty)."""

    def __init__(self, index: LeadIndex, *, emails: Mapping[str, str | None] | None = None,
                 lookup_field: str = "email", last_values: LastValues | None = None) -> None:
        self.index = index
        self.emails = emails or {}
        self.lookup_field = lookup_field
        self.last_values = last_values
        self._remembered: dict[int, Mapping[str, Any]] = {}

    # who -------------------------------------------------------------------------------------------
    def email(self, lead: int) -> str:
        """The lead's e-mail address when the run knows it (the lookup value, or the person's), else empty."""
        key = self.index.key_of.get(lead)
        if key is None:
            return ""
        return key if self.lookup_field == "email" else self.emails.get(key) or ""

    @staticmethod
    def lead_id(lead: int) -> int | None:
        """The lead id a change names: none yet for a lead a dry run would create (a negative placeholder)."""
        return lead if lead > 0 else None

    def before(self, lead: int, name: str) -> Any:
        if name in self.index.fetched.get(lead, frozenset()):
            return self.index.values.get(lead, {}).get(name)
        return self._remembered.get(lead, {}).get(name, UNKNOWN)

    def remember(self, plan: RulesPlan) -> None:
        """Ask the state store for the before-values the read did not give (a lead Marketo did not return)."""
        fields = plan.read_fields
        unread = [lead for lead in plan.updates if not set(fields) <= self.index.fetched.get(lead, frozenset())]
        self._remembered = {}
        keys = {lead: self.email(lead) for lead in unread}
        if self.last_values is None or not any(keys.values()):
            return
        found = self.last_values(sorted({key for key in keys.values() if key}), fields)
        self._remembered = {lead: found[key] for lead, key in keys.items() if key in found}

    # changes ---------------------------------------------------------------------------------------
    def creation(self, key: str, lead: int | None) -> Change:
        """A lead created for a `create = true` rule, with the lookup value (and e-mail) it was created with."""
        email = key if self.lookup_field == "email" else self.emails.get(key) or ""
        fields: dict[str, tuple[Any, Any]] = {self.lookup_field: (None, key)}
        if email and self.lookup_field != "email":
            fields["email"] = (None, email)
        return Change("create", email, None if lead is None else self.lead_id(lead), fields=fields,
                      reason="create = true")

    def lead_changes(self, update: LeadUpdate) -> list[Change]:
        """The changes of one Sync Leads row: each score, the set-fields values, the unsubscribe."""
        lead, key = update.lead_id, self.email(update.lead_id)
        row = update.record(self.index.values.get(lead, {}))
        out = []
        for name, delta in sorted(update.deltas.items()):
            scoring = [m for m in update.matches if m.rule.action == "score" and m.rule.field == name]
            out.append(Change("score", key, self.lead_id(lead), fields={name: (row[name] - delta, row[name])},
                              reason=f"{_rules(scoring)} {delta:+d}", origin=scoring[0].origin))
        setting = [m for m in update.matches if m.rule.action == "set-fields"]
        values = {name: (self.before(lead, name), value) for name, value in update.values.items()
                  if name not in ("unsubscribed", UNSUBSCRIBE_REASON)}
        if values:
            out.append(Change("update", key, self.lead_id(lead), fields=values, reason=_rules(setting),
                              origin=setting[0].origin))
        if "unsubscribed" in update.values:
            suppressing = [m for m in update.matches if m.rule.action == "suppress"]
            out.append(Change("unsubscribe", key, self.lead_id(lead),
                              fields={"unsubscribed": (self.before(lead, "unsubscribed"), True)},
                              reason=f"{_rules(suppressing)}: {update.values.get(UNSUBSCRIBE_REASON, '')}",
                              origin=suppressing[0].origin))
        return out

    def removal(self, list_id: int, lead: int, matches: Sequence[Match]) -> Change:
        return Change("remove", self.email(lead), self.lead_id(lead), target=str(list_id), reason=_rules(matches),
                      origin=matches[0].origin if matches else "")

    def status(self, change: StatusChange, lead: int) -> Change:
        matches = change.leads[lead]
        return Change("status", self.email(lead), self.lead_id(lead), target=str(change.program_id),
                      fields={"status": (UNKNOWN, change.status)}, reason=change.rule.name, origin=matches[0].origin)

    def campaign(self, request: CampaignRequest, lead: int) -> Change:
        tokens = ", ".join(f"{name}={value}" for name, value in request.tokens)
        return Change("campaign", self.email(lead), self.lead_id(lead), target=str(request.campaign_id),
                      reason=f"{request.rule.name}{': ' + tokens if tokens else ''}",
                      origin=request.leads[lead][0].origin)

    def plan_changes(self, plan: RulesPlan) -> Iterator[Change]:
        """Every change of a window's plan, in the order the stages write them (its reads done first)."""
        self.remember(plan)
        for update in plan.updates.values():
            yield from self.lead_changes(update)
        for list_id, leads in plan.removal.by_list.items():
            for lead in leads:
                yield self.removal(list_id, lead, plan.removal.matches.get(lead, []))
        for change in plan.statuses:
            for lead in change.leads:
                yield self.status(change, lead)
        for request in plan.campaigns:
            for lead in request.leads:
                yield self.campaign(request, lead)
