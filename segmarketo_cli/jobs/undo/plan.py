"""Pure: a run's change log plus what Marketo holds now -> what `runs undo` restores, deletes, and only lists.

The run's changes are walked newest first, each against the value the newer ones leave behind, so a field a run
wrote twice goes back to its first before-value, and score increments of one lead add up into one write."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.state.change_log import UNKNOWN, Change, LoggedChange

# What the plan does with each item: one per field of an update or score, one per other change.
WRITES = ("restore", "delete")
LISTED = ("unchanged", "already_undone", "conflict", "before_unknown", "created_kept", "not_reversible")
NOT_REVERSIBLE = {
    "status": "program statuses cannot be set back (Marketo has no status history to return to)",
    "campaign": "a requested campaign has run; it cannot be called back",
    "event": "an event Segment accepted cannot be taken back",
    "unsubscribe": "consent: an unsubscribe is never reversed automatically",
    "delete": "a deleted lead cannot be brought back",
}
# apply-events removes leads from lists only for a `suppress` rule: putting them back would undo part of a consent.
CONSENT_REMOVAL = "consent: a list removal of a suppress rule is never reversed automatically"
CONSENT_REMOVALS = ("apply-events",)  # the commands whose list removals are consent
LEAD_GONE = "the lead is no longer in Marketo"
LIST_TARGET = "list:"  # the target of a static list a run created (sync-audience --create-list)
CREATED_LIST = "a static list the run created; kept (delete it in Marketo if it is not wanted)"
NO_LEAD_ID = "the run did not record the lead's id (Bulk Import returns none)"
BEFORE_UNKNOWN = "before unknown, not restored"
UPSERTED = "created or updated (the run could not tell which): before unknown, not restored, never deleted"

LeadValues = Mapping[int, Mapping[str, Any]]  # lead id -> field -> value; a lead absent is not in Marketo
Membership = Mapping[tuple[str, int], bool | None]  # (list id, lead id) -> member? None: Marketo did not say


@dataclass
class UndoItem:
    """One thing the undo does or lists: the logged change, the field (or ""), the outcome, what Marketo holds
    (`current`) and what the undo writes (`value`)."""

    logged: LoggedChange
    field: str
    outcome: str
    action: str = ""  # the undo's own change: update, score, add, remove, delete ("" for listed items)
    current: Any = None
    value: Any = None
    reason: str = ""

    @property
    def origin(self) -> str:
        return f"{self.logged.run_id}#{self.logged.seq}"

    @property
    def lead_id(self) -> int | None:
        return self.logged.change.lead_id

    def change(self) -> Change:
        """The item as a change row: the undo's write (recorded in its change log) or what it only lists."""
        source = self.logged.change
        label = self.action or self.outcome.replace("_", "-")
        fields = {self.field: (self.current, self.value)} if self.field else {}
        return Change(label, source.key, source.lead_id, source.target, fields, self.reason, self.origin)


@dataclass
class UndoPlan:
    """The items in the order the run recorded them, plus the writes they add up to."""

    items: list[UndoItem] = field(default_factory=list)
    lead_writes: dict[int, dict[str, Any]] = field(default_factory=dict)  # lead id -> field -> value
    list_ops: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (list id, add|remove) -> leads
    deletes: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for item in self.items:
            found[item.outcome] = found.get(item.outcome, 0) + 1
        return found


@dataclass(frozen=True)
class Reads:
    """What the plan needs from Marketo: fields per lead, and leads per list."""

    lead_fields: dict[int, set[str]]
    list_leads: dict[str, set[int]]


def consent_removal(change: Change, command: str) -> bool:
    """Whether `change` is a list removal a run of `command` made for a consent (never reversed)."""
    return change.action == "remove" and command in CONSENT_REMOVALS


def reads_needed(changes: Iterable[LoggedChange], reversed_: Mapping[int, set[str]], command: str = "") -> Reads:
    """The lead fields and list memberships to read for the items an earlier undo did not already reverse."""
    lead_fields: dict[int, set[str]] = {}
    list_leads: dict[str, set[int]] = {}
    for logged in changes:
        change, done = logged.change, reversed_.get(logged.seq, set())
        if change.lead_id is None:
            continue
        if change.action in ("update", "score"):
            wanted = {name for name in change.fields if name not in done}
            if wanted:
                lead_fields.setdefault(change.lead_id, set()).update(wanted)
        elif change.action in ("add", "remove") and "" not in done and change.target and \
                not consent_removal(change, command):
            list_leads.setdefault(change.target, set()).add(change.lead_id)
    return Reads(lead_fields, list_leads)


def same(a: Any, b: Any) -> bool:
    """Whether two field values are the same as Marketo compares them: empty is null, numbers by value, booleans
    in any spelling."""
    if a in (None, "") or b in (None, ""):
        return a in (None, "") and b in (None, "")
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


class _Walk:
    """The simulated Marketo the items are checked against, newest change first."""

    def __init__(self, values: LeadValues, membership: Membership) -> None:
        self.values = values
        self.membership = membership
        self.fields: dict[tuple[int, str], Any] = {}
        self.members: dict[tuple[str, int], bool | None] = {}

    def value(self, lead: int, name: str) -> Any:
        return self.fields.get((lead, name), self.values[lead].get(name))

    def member(self, key: tuple[str, int]) -> bool | None:
        return self.members.get(key, self.membership.get(key))


def _update(walk: _Walk, logged: LoggedChange, name: str, before: Any, after: Any) -> UndoItem:
    lead = logged.change.lead_id
    if lead is None:
        if before is UNKNOWN:
            return UndoItem(logged, name, "before_unknown", value=UNKNOWN, reason=BEFORE_UNKNOWN)
        return UndoItem(logged, name, "not_reversible", value=before, reason=NO_LEAD_ID)
    if lead not in walk.values:
        return UndoItem(logged, name, "conflict", value=before, reason=LEAD_GONE)
    now = walk.value(lead, name)
    if before is UNKNOWN:
        return UndoItem(logged, name, "before_unknown", current=now, value=UNKNOWN, reason=BEFORE_UNKNOWN)
    if same(now, after) and not same(before, after):
        walk.fields[(lead, name)] = before
        return UndoItem(logged, name, "restore", "update", now, before)
    if same(now, before):
        return UndoItem(logged, name, "unchanged", current=now, value=before, reason="Marketo holds the earlier value")
    return UndoItem(logged, name, "conflict", current=now, value=before,
                    reason=f"changed since: Marketo holds {now!r}, the run wrote {after!r}")


def _score(walk: _Walk, logged: LoggedChange, name: str, before: Any, after: Any) -> UndoItem:
    lead = logged.change.lead_id
    if lead is None or lead not in walk.values:
        return UndoItem(logged, name, "conflict", reason=LEAD_GONE)
    now = walk.value(lead, name)
    try:
        delta = int(after) - int(before)
    except (TypeError, ValueError):
        return UndoItem(logged, name, "before_unknown", current=now, value=UNKNOWN,
                        reason="the increment is unknown, not reversed")
    try:
        base = 0 if now in (None, "") else int(float(now))
    except (TypeError, ValueError):
        return UndoItem(logged, name, "conflict", current=now, reason=f"Marketo holds {now!r}, not a number")
    walk.fields[(lead, name)] = base - delta
    return UndoItem(logged, name, "restore", "score", now, base - delta, reason=f"{-delta:+d}")


def _membership(walk: _Walk, logged: LoggedChange) -> UndoItem:
    change = logged.change
    key = (change.target, change.lead_id if change.lead_id is not None else -1)
    wanted = change.action == "remove"  # an add is undone by a remove, a remove by an add
    action = "add" if wanted else "remove"
    member = walk.member(key)
    if member is None:
        return UndoItem(logged, "", "conflict", reason=f"Marketo did not say whether the lead is in list "
                                                       f"{change.target} (lead or list gone)")
    if member == wanted:
        return UndoItem(logged, "", "unchanged", action="", reason=f"already {'in' if wanted else 'not in'} the list")
    walk.members[key] = wanted
    return UndoItem(logged, "", "restore", action)


def _create(logged: LoggedChange, delete_created: bool) -> UndoItem:
    if logged.change.target.startswith(LIST_TARGET):
        return UndoItem(logged, "", "created_kept", reason=CREATED_LIST)
    if not delete_created:
        return UndoItem(logged, "", "created_kept", reason="created by the run; kept (delete with --delete-created)")
    if logged.change.lead_id is None:
        return UndoItem(logged, "", "not_reversible", reason="the run did not record the created lead's id")
    return UndoItem(logged, "", "delete", "delete")


def plan_undo(changes: Sequence[LoggedChange], *, values: LeadValues, membership: Membership,
              reversed_: Mapping[int, set[str]], delete_created: bool = False,
              command: str = "") -> UndoPlan:
    """What undoing `changes` (one run's of `command`, in recorded order) does, given what Marketo holds now and
    what earlier undos of the run already reversed (`reversed_`: seq -> fields)."""
    walk = _Walk(values, membership)
    items: list[UndoItem] = []
    for logged in reversed(changes):
        change, done = logged.change, reversed_.get(logged.seq, set())
        found: list[UndoItem] = []
        if change.action in ("update", "score"):
            for name, (before, after) in change.fields.items():
                if name in done:
                    found.append(UndoItem(logged, name, "already_undone", reason="undone by an earlier undo"))
                elif change.action == "update":
                    found.append(_update(walk, logged, name, before, after))
                else:
                    found.append(_score(walk, logged, name, before, after))
        elif done:
            found.append(UndoItem(logged, "", "already_undone", reason="undone by an earlier undo"))
        elif consent_removal(change, command):
            found.append(UndoItem(logged, "", "not_reversible", reason=CONSENT_REMOVAL))
        elif change.action == "upsert":  # nothing to restore, and never a lead to delete
            found.extend(UndoItem(logged, name, "before_unknown", value=UNKNOWN, reason=UPSERTED)
                         for name in change.fields)
        elif change.action in ("add", "remove"):
            found.append(_membership(walk, logged))
        elif change.action == "create":
            found.append(_create(logged, delete_created))
        else:
            found.append(UndoItem(logged, "", "not_reversible",
                                  reason=NOT_REVERSIBLE.get(change.action, f"{change.action} cannot be undone")))
        items.extend(reversed(found))
    items.reverse()
    return _with_writes(UndoPlan(items), walk)


def _with_writes(plan: UndoPlan, walk: _Walk) -> UndoPlan:
    """The calls the items add up to: one Sync Leads row per lead, list adds/removes, deletes."""
    for (lead, name), value in walk.fields.items():
        if not same(value, walk.values[lead].get(name)):
            plan.lead_writes.setdefault(lead, {})[name] = value
    for (list_id, lead), member in walk.members.items():
        if member is not None and member != walk.membership.get((list_id, lead)):
            plan.list_ops.setdefault((list_id, "add" if member else "remove"), []).append(lead)
    plan.deletes = list(dict.fromkeys(item.lead_id for item in plan.items
                                      if item.outcome == "delete" and item.lead_id is not None))
    return plan
