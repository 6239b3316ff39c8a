"""Writes to the static list: create it (--create-list), add members, remove members; outcomes counted by id."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import ConfigError, MarketoError
from segmarketo_cli.jobs.batches import first_reason
from segmarketo_cli.jobs.batchpool import run_batches, workers_for
from segmarketo_cli.jobs.interrupts import held
from segmarketo_cli.jobs.sync_audience.changes import IN_AUDIENCE, list_created, membership_change
from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan, Member
from segmarketo_cli.jobs.sync_audience.resolve import lookup

if TYPE_CHECKING:
    from segmarketo_cli.jobs.sync_audience.session import SyncSession
    from segmarketo_cli.marketo.lists import ListParent

log = logging.getLogger("segmarketo.audience")


def create_list(session: SyncSession) -> None:
    """Create the list in the folder find_list chose; a list created meanwhile by someone else is used as is."""
    folder, name = session.folder, session.options.list_name or ""
    assert folder is not None  # find_list set it before planning
    with held():  # Ctrl-C or SIGTERM: a list Marketo created is logged before it is raised
        created = _create_or_find(session, name, folder)
    session.list_id = int(created["id"])
    session.report.notes.append(f"created list '{name}' (id {session.list_id})")


def _create_or_find(session: SyncSession, name: str, folder: ListParent) -> dict[str, Any]:
    """The list this run created (logged), or the one of that name created meanwhile by someone else."""
    try:
        created = session.client.create_list(name, folder.id, folder_type=folder.type)
    except MarketoError as exc:
        if exc.code in ("710", "711"):
            raise ConfigError(f"cannot create list '{name}' in {folder.type.lower()} {folder.id}:"
                              f" {exc.marketo_message} (Marketo {exc.code})",
                              hint="--folder folder:N is a marketing folder id, program:N a program id; "
                                   "or give the folder's name or full path") from None
        if exc.code not in ("709", "1017"):
            raise
        found = session.client.find_list_by_name(name)
        if found is None:
            raise
        created = found
    else:  # this run created it: logged, so `runs show --changes` lists it
        session.changes.record([list_created(name, int(created["id"]), f"{folder.type.lower()} {folder.id}")])
    return created


def add_members(session: SyncSession, plan: ListMembershipPlan, members: Sequence[Member], *,
                retry_stale: bool = True) -> None:
    """Add `members`; ids Marketo no longer knows (1004, merged or deleted since they were cached) are looked up
    again once, and what replaced them is added."""
    stale: list[int] = []
    client = session.client
    for lead_id, row in _change_members(session, "add", lambda list_id, batch: client.add_to_list(list_id, batch),
                                        members, desc="adding to list", done="added"):
        if first_reason(row).code == "1004":
            stale.append(lead_id)
        else:
            _failed(session, "add_failed", lead_id, row)
    if stale and retry_stale:
        stale = _refresh_stale(session, plan, stale)
    session.report.add("not_found", len(stale))
    if stale:
        log.info("%d lead ids no longer exist (1004), skipped: %s", len(stale), stale[:20])


def remove_members(session: SyncSession, members: Sequence[Member]) -> None:
    """Remove `members`; an id already out of the list (1015) or gone (1004) counts as already absent."""
    client = session.client
    for lead_id, row in _change_members(session, "remove",
                                        lambda list_id, batch: client.remove_from_list(list_id, batch),
                                        members, desc="removing from list", done="removed"):
        if first_reason(row).code in ("1015", "1004"):
            session.report.add("already_absent")
        else:
            _failed(session, "remove_failed", lead_id, row)


def _change_members(session: SyncSession, action: str, send: Callable[[int, Sequence[int]], list[dict[str, Any]]],
                    members: Sequence[Member], *, desc: str, done: str) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """`send` (the list call that does `action`) for the members' ids in batches: each id whose row has status
    `done` is counted in the bucket of that name, and the batch's confirmed ones go to the change log in one
    record; every other id is yielded with its row (None: Marketo's reply has none)."""
    list_id = _list_id(session)
    by_id = {m.lead_id: m for m in members if m.lead_id is not None}
    with session.progress(len(by_id), desc) as bar:
        for batch, rows in run_batches(lambda b: send(list_id, b), session.batches(by_id),
                                       workers_for(session.client)):
            results = _by_id(rows)
            _log_batch(f"{action}_{'to' if action == 'add' else 'from'}_list", list_id, batch, results)
            confirmed = []
            for lead_id in batch:
                row = results.get(lead_id)
                if row is not None and row.get("status") == done:
                    session.report.add(done)
                    confirmed.append(membership_change(action, list_id, by_id[lead_id]))
                else:
                    yield lead_id, row
            session.changes.record(confirmed)
            bar.update(len(batch))


def _refresh_stale(session: SyncSession, plan: ListMembershipPlan, stale: list[int]) -> list[int]:
    """Leads gone since they were cached (merged, deleted): look their people up again, add what is new."""
    owners = {ident: origin for ident, origin in plan.owner_identities(stale) if session.field_for(ident.kind)}
    kinds = {i.kind for i in owners}
    for kind in kinds:
        session.store.forget_lead_ids(session.instance, session.field_for(kind) or "",
                                      [i.value for i in owners if i.kind == kind])
    fresh: dict[int, Member] = {}
    for kind in kinds:
        for ident, ids in lookup(session, kind, [i.value for i in owners if i.kind == kind]).items():
            for lead_id in ids:
                fresh.setdefault(lead_id, Member(lead_id, ident.kind, ident.value, IN_AUDIENCE,
                                                 owners.get(ident, "")))
    new = sorted(i for i in fresh if not plan.is_target(i))
    for lead_id in new:
        plan.add_target(lead_id)
        if lead_id in plan.removes:  # was going to be removed, but belongs to the audience after all
            plan.removes.discard(lead_id)
            session.report.add("unchanged")
        elif lead_id in session.current:
            session.report.add("unchanged")
            session.report.add("kept", -1)
    session.report.add("audience_leads", len(new))
    add_members(session, plan, [fresh[i] for i in new if i not in session.current], retry_stale=False)
    return stale  # every id that answered 1004 is not found, whatever replaced it


def _list_id(session: SyncSession) -> int:
    assert session.list_id is not None  # found, or created before the first add
    return session.list_id


def _failed(session: SyncSession, bucket: str, lead_id: int, row: Mapping[str, Any] | None) -> None:
    session.report.add(bucket)
    if row is None:
        reason = "no result for this id in Marketo's reply"
    else:
        skipped = first_reason(row)
        reason = skipped.describe() if skipped.code is not None else f"unexpected status '{row.get('status')}'"
    session.rejects.write(reason, lead_id=lead_id, action=bucket.split("_")[0])


def _by_id(rows: Iterable[Any]) -> dict[int, dict[str, Any]]:
    """List results keyed by lead id: Marketo's list calls are counted by id, never by position."""
    return {int(r["id"]): r for r in rows if isinstance(r, dict) and str(r.get("id", "")).isdigit()}


def _log_batch(call: str, list_id: int, batch: Sequence[int], results: Mapping[int, Mapping[str, Any]]) -> None:
    """One INFO line per list call (for --log-file): ids sent and Marketo's statuses."""
    statuses = Counter(str(row.get("status")) for row in results.values())
    log.info("%s list %s: %d leads, %s", call, list_id, len(batch),
             ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "no result rows",
             extra={"data": {"event": "batch", "call": call, "list_id": list_id, "records": len(batch),
                             **statuses}})
