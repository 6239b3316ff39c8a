"""sync-audience --create-missing: create leads for people not in Marketo (createOnly, or Bulk Import + listId)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from segmarketo_cli.jobs.backfill_leads.plan import Candidate
from segmarketo_cli.jobs.batches import first_reason, positional
from segmarketo_cli.jobs.bulk_import.execute import BulkExecutor, ImportResult
from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan
from segmarketo_cli.jobs.sync_audience.resolve import lookup
from segmarketo_cli.sources.audience.readers import AudiencePerson

if TYPE_CHECKING:
    from segmarketo_cli.jobs.sync_audience.session import SyncSession

BULK_CREATE_MIN = 1500  # at least this many new people: one Bulk Import instead of createOnly calls
IMPORT_POLL_S = (2.0, 5.0, 10.0, 30.0)


def uses_bulk_import(people: int) -> bool:
    """Whether creating `people` new leads may go through Bulk Import (its row field is checked first)."""
    return people >= BULK_CREATE_MIN


def create_people(session: SyncSession, plan: ListMembershipPlan) -> list[int]:
    """Create the plan's people to create; returns the new ids the caller must still add to the list (Bulk Import
    adds its own)."""
    to_add: list[int] = []
    for kind in ("email", "userId"):
        group = list(plan.people_to_create(kind))
        if not group:
            continue
        if uses_bulk_import(len(group)):
            unconfirmed = _bulk_import(session, kind, group)
            if unconfirmed:
                to_add.extend(_create_only(session, kind, unconfirmed))
        else:
            to_add.extend(_create_only(session, kind, group))
    session.report.add("audience_leads", len(to_add))
    return to_add


def _record(session: SyncSession, person: AudiencePerson, field_name: str) -> dict[str, Any]:
    record: dict[str, Any] = {field_name: person.key.value}
    user_field = session.profile.user_id_field
    if user_field and person.user_id and user_field not in record:
        record[user_field] = person.user_id
    return record


def _create_only(session: SyncSession, kind: str, people: Sequence[AudiencePerson]) -> list[int]:
    """Sync Leads createOnly, a batch per call; its results are positional (one row per input record)."""
    field_name = session.field_for(kind) or ""
    new_ids: list[int] = []
    exists: list[AudiencePerson] = []
    remembered: list[tuple[str, list[int]]] = []
    for batch in session.batches(people):
        results = session.client.sync_leads([_record(session, p, field_name) for p in batch], action="createOnly",
                                            lookup_field=field_name)
        for person, row in positional(results, batch):
            reason = first_reason(row)
            if row is not None and row.get("status") == "created" and row.get("id") is not None:
                new_ids.append(int(row["id"]))
                remembered.append((person.key.value, [int(row["id"])]))
                session.report.add("created")
            elif reason.code == "1005":
                exists.append(person)  # created by someone else since we looked: find it again
            elif row is None:
                _failed(session, person, "create failed: no result for this record in Marketo's reply")
            else:
                _failed(session, person, f"create failed: {reason.describe()}")
    session.store.remember_lead_ids(session.instance, field_name, remembered)
    if exists:
        found = lookup(session, kind, [p.key.value for p in exists])
        for person in exists:
            ids = found.get(person.key, [])
            if ids:
                session.report.add("resolved")
                new_ids.extend(ids)
            else:
                _failed(session, person, "create failed: Marketo says the lead exists (1005) but it cannot be found")
    return sorted(set(new_ids))


def _bulk_import(session: SyncSession, kind: str, people: Sequence[AudiencePerson]) -> list[AudiencePerson]:
    """Bulk Import with listId: creates the leads and adds them to the list in a handful of calls. Files are
    cut by bytes (under 10 MB); returns the people whose outcome the jobs' files could not confirm."""
    field_name = session.field_for(kind) or ""
    by_candidate: dict[int, AudiencePerson] = {}
    candidates: list[Candidate] = []
    for person in people:
        candidate = Candidate(person.key.value, _record(session, person, field_name), {}, None, person.origin)
        by_candidate[id(candidate)] = person
        candidates.append(candidate)
    unconfirmed: list[AudiencePerson] = []

    def on_result(result: ImportResult) -> None:
        for candidate, reason in result.rejected:
            _failed(session, by_candidate[id(candidate)], f"bulk import: {reason}")
        if result.unconfirmed:
            unconfirmed.extend(by_candidate[id(c)] for c in result.unconfirmed)
            session.report.add("bulk_jobs_unreconciled")
        imported = len(result.imported)
        session.report.add("created", imported)
        session.report.add("added", imported)
        session.report.add("audience_leads", imported)

    executor = BulkExecutor(session.client, lookup_field=field_name, on_result=on_result, sleep=session.sleep,
                            row_field=session.profile.bulk_row_field, list_id=session.list_id,
                            poll_s=(IMPORT_POLL_S[0], IMPORT_POLL_S[-1]))
    stopped = executor.run(candidates)
    session.report.add("bulk_import_jobs", executor.jobs)
    if stopped is not None:
        raise stopped[0]
    if unconfirmed:
        session.report.notes.append(f"{len(unconfirmed):,} new lead(s) of bulk jobs whose outcome Marketo's files "
                                    "could not confirm were created again one by one (createOnly)")
    return unconfirmed


def _failed(session: SyncSession, person: AudiencePerson, reason: str) -> None:
    session.report.add("create_failed")
    session.rejects.write(reason, origin=person.origin, identity=person.key.value, identity_type=person.key.kind)
