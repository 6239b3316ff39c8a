"""Pure sync-audience planner: audience people + current list members + resolved ids -> ListMembershipPlan."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.errors import ConfigError, SafetyRefusal
from segmarketo_cli.sources.audience.readers import AudiencePerson, Identity

MODES = ("mirror", "delta", "add-only")
DEFAULT_MAX_REMOVALS = "10%"
_LIMIT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass
class ListMembershipPlan:
    """What to change on one static list; lead-id counts satisfy current = removes + unchanged + kept."""

    mode: str
    current: int = 0
    adds: list[int] = field(default_factory=list)
    removes: list[int] = field(default_factory=list)
    unchanged: int = 0
    kept: int = 0
    audience_leads: int = 0
    people: int = 0
    resolved: int = 0
    exited: int = 0
    duplicate_emails: int = 0
    unresolved: list[AudiencePerson] = field(default_factory=list)
    to_create: list[AudiencePerson] = field(default_factory=list)
    add_source: dict[int, Identity] = field(default_factory=dict)
    remove_source: dict[int, str] = field(default_factory=dict)
    remove_email: dict[int, str] = field(default_factory=dict)
    owners: dict[int, list[AudiencePerson]] = field(default_factory=dict)

    @property
    def changes(self) -> bool:
        return bool(self.adds or self.removes or self.to_create)

    def summary(self, sample: int = 20) -> dict[str, Any]:
        """Counts plus the first `sample` ids of each action (for --dry-run and --json)."""
        return {
            "mode": self.mode,
            "current_members": self.current,
            "add": len(self.adds),
            "remove": len(self.removes),
            "create": len(self.to_create),
            "unchanged": self.unchanged,
            "kept": self.kept,
            "unresolved": len(self.unresolved),
            "add_sample": self.adds[:sample],
            "remove_sample": self.removes[:sample],
        }


def index_members(members: Mapping[int, Mapping[str, Any]], user_field: str | None) -> dict[Identity, set[int]]:
    """Current members by identity: e-mail (normalised), user id field, and lead id."""
    index: dict[Identity, set[int]] = {}
    for lead_id, row in members.items():
        index.setdefault(Identity("marketo-id", str(lead_id)), set()).add(lead_id)
        email = row.get("email")
        if isinstance(email, str) and email.strip():
            index.setdefault(Identity("email", email.strip().lower()), set()).add(lead_id)
        if user_field:
            user = row.get(user_field)
            if user not in (None, ""):
                index.setdefault(Identity("userId", str(user).strip()), set()).add(lead_id)
    return index


def can_create(person: AudiencePerson, user_field: str | None) -> bool:
    """A lead can be created for an e-mail, or for a user id when the user id field is configured."""
    kind = person.key.kind
    return kind == "email" or (kind == "userId" and bool(user_field))


def plan_membership(
    people: Sequence[AudiencePerson],
    resolved: Mapping[Identity, Sequence[int]],
    members: Mapping[int, Mapping[str, Any]],
    *,
    mode: str = "mirror",
    create_missing: bool = False,
    user_field: str | None = None,
) -> ListMembershipPlan:
    """Diff the audience against the list. Every lead matching a person's e-mail counts as theirs."""
    if mode not in MODES:
        raise ConfigError(f"--mode must be one of {', '.join(MODES)}, not '{mode}'")
    plan = ListMembershipPlan(mode=mode, current=len(members), people=len(people))
    index = index_members(members, user_field)
    target: set[int] = set()
    leaving: dict[int, str] = {}
    for person in people:
        ids: set[int] = set()
        for identity in person.identities:
            found = resolved.get(identity, ())
            if identity.kind == "email" and len(set(found)) > 1:
                plan.duplicate_emails += 1
            ids.update(int(i) for i in found)
            ids.update(index.get(identity, ()))
            if identity.kind == "marketo-id":
                ids.add(int(identity.value))
        if not person.member:
            plan.exited += 1
            if mode == "delta":
                for lead_id in ids & members.keys():
                    leaving.setdefault(lead_id, f"exited ({person.key.value})")
            continue
        if not ids:
            (plan.to_create if create_missing and can_create(person, user_field) else plan.unresolved).append(person)
            continue
        plan.resolved += 1
        for lead_id in ids:
            target.add(lead_id)
            plan.add_source.setdefault(lead_id, person.key)
            plan.owners.setdefault(lead_id, []).append(person)
    current = set(members)
    plan.audience_leads = len(target)
    plan.adds = sorted(target - current)
    plan.unchanged = len(target & current)
    if mode == "mirror":
        plan.removes = sorted(current - target)
        plan.remove_source = {i: "not in audience" for i in plan.removes}
    elif mode == "delta":
        plan.removes = sorted(set(leaving) - target)
        plan.remove_source = {i: leaving[i] for i in plan.removes}
    plan.kept = len(current) - len(plan.removes) - plan.unchanged
    plan.remove_email = {i: str(members[i].get("email") or "") for i in plan.removes}
    return plan


def parse_max_removals(text: str | None) -> tuple[float, bool]:
    """'500' -> (500, False); '10%' -> (10.0, True). ConfigError for anything else."""
    match = _LIMIT_RE.match(text if text is not None else DEFAULT_MAX_REMOVALS)
    if not match or (match.group(2) and float(match.group(1)) > 100):
        raise ConfigError(f"--max-removals must be a count (e.g. 500) or a percentage (e.g. 10%), not '{text}'")
    if not match.group(2) and "." in match.group(1):
        raise ConfigError(f"--max-removals count must be a whole number, not '{text}'")
    return float(match.group(1)), bool(match.group(2))


def removal_limit(text: str | None, current: int) -> int:
    """The most removals allowed for a list of `current` members."""
    value, percent = parse_max_removals(text)
    return math.floor(current * value / 100) if percent else int(value)


def check_safety(plan: ListMembershipPlan, *, max_removals: str | None, force: bool, list_name: str) -> None:
    """Mirror mode only: refuse an empty audience or a mass removal unless forced. Nothing is written yet."""
    if plan.mode != "mirror" or force:
        return
    if plan.people == 0:
        raise SafetyRefusal(
            f"the audience is empty: mirroring it would empty the list '{list_name}'; nothing was written",
            hint="check the input file, or pass --force to empty the list",
        )
    limit = removal_limit(max_removals, plan.current)
    if len(plan.removes) > limit:
        share = 100.0 * len(plan.removes) / plan.current if plan.current else 100.0
        raise SafetyRefusal(
            f"the plan removes {len(plan.removes):,} of {plan.current:,} members of '{list_name}' ({share:.1f}%), "
            f"more than --max-removals {max_removals or DEFAULT_MAX_REMOVALS} ({limit:,}); nothing was written",
            hint="check the input with --dry-run --plan-out FILE, then raise --max-removals or pass --force",
        )


def plan_rows(plan: ListMembershipPlan) -> Iterator[dict[str, str]]:
    """One row per intended change: create, add and remove, for --plan-out."""
    for person in plan.to_create:
        yield {"action": "create", "lead_id": "", "identity_type": person.key.kind, "identity": person.key.value,
               "reason": "not in Marketo", "origin": person.origin}
    for lead_id in plan.adds:
        source = plan.add_source.get(lead_id)
        owner = plan.owners.get(lead_id, [None])[0]
        yield {"action": "add", "lead_id": str(lead_id), "identity_type": source.kind if source else "",
               "identity": source.value if source else "", "reason": "in audience",
               "origin": owner.origin if owner else ""}
    for lead_id in plan.removes:
        email = plan.remove_email.get(lead_id, "")
        yield {"action": "remove", "lead_id": str(lead_id), "identity_type": "email" if email else "",
               "identity": email,
               "reason": plan.remove_source.get(lead_id, ""), "origin": ""}
