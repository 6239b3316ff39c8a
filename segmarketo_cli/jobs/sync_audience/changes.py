"""sync-audience's changes as --plan-out and the change log hold them. The dry run's plan and the real run's log
are built by the same functions, so the two compare row for row (docs/sync-audience.md "--plan-out and the change log").

The identity type of a row's key is in its reason, as "(key: email)", "(key: userId)", "(key: marketo-id)"."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from segmarketo_cli.jobs.sync_audience.buckets import NOT_IN_MARKETO
from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan, Member, new_lead_record
from segmarketo_cli.sources.audience.readers import AudiencePerson
from segmarketo_cli.state.change_log import Change

IN_AUDIENCE = "in audience"
CREATE_LIST = "--create-list"


def keyed(reason: str, kind: str | None) -> str:
    """`reason` with the identity type of the row's key."""
    return f"{reason} (key: {kind})" if kind else reason


def list_target(list_id: int | None) -> str:
    """An add or remove's target: the list id (empty while the list is still to be created)."""
    return "" if list_id is None else str(list_id)


def membership_change(action: str, list_id: int | None, member: Member) -> Change:
    """An add or remove of `member` on the list."""
    return Change(action, key=member.key, lead_id=member.lead_id, target=list_target(list_id),
                  reason=keyed(member.reason, member.kind), origin=member.origin)


def new_member(person: AudiencePerson, lead_id: int | None = None) -> Member:
    """The list member a person created by --create-missing becomes."""
    return Member(lead_id, person.key.kind, person.key.value, IN_AUDIENCE, person.origin)


def create_change(person: AudiencePerson, user_field: str | None, lead_id: int | None = None) -> Change:
    """A lead created for `person` (--create-missing): the fields written, each from nothing."""
    fields = {name: (None, value) for name, value in new_lead_record(person, user_field).items()}
    return Change("create", key=person.key.value, lead_id=lead_id, fields=fields,
                  reason=keyed(NOT_IN_MARKETO, person.key.kind), origin=person.origin)


def list_created(name: str, list_id: int | None, folder: str) -> Change:
    """The static list the run creates (--create-list): no lead; target "list:<id>" ("list:" before it exists)."""
    return Change("create", key=name, target=f"list:{list_target(list_id)}", reason=f"{CREATE_LIST} in {folder}")


def plan_changes(plan: ListMembershipPlan, list_id: int | None, *, list_to_create: Change | None = None,
                 limit: int | None = None) -> Iterator[Change]:
    """Every row of the plan, in the order a real run writes: the list to create, leads to create, adds (leads
    to create too, without an id yet), removes; then the people left out (unresolved) and the file's rejected
    rows. At most `limit` rows of each kind."""
    if list_to_create is not None:
        yield list_to_create
    yield from islice((create_change(p, plan.user_field) for p in plan.people_to_create()), limit)
    yield from (membership_change("add", list_id, m) for m in plan.adds.members(limit))
    yield from islice((membership_change("add", list_id, new_member(p)) for p in plan.people_to_create()), limit)
    yield from (membership_change("remove", list_id, m) for m in plan.removes.members(limit))
    for person in islice(plan.unresolved_people(), limit):
        yield Change("unresolved", key=person.key.value, reason=keyed(NOT_IN_MARKETO, person.key.kind),
                     origin=person.origin)
    for origin, reason, field, value in islice(plan.rejected(), limit):
        yield Change("reject", key=value or "", reason=keyed(reason, field), origin=origin)
