"""sync-audience --create-missing: create leads for people not in Marketo (createOnly, or Bulk Import + listId)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from segmarketo_cli.jobs.backfill_leads.plan import Candidate
from segmarketo_cli.jobs.bulk_import.execute import BulkExecutor, ImportResult
from segmarketo_cli.marketo.codes import with_partition_advice
from segmarketo_cli.sources.audience.readers import AudiencePerson

if TYPE_CHECKING:
    from segmarketo_cli.jobs.sync_audience.run import AudienceSync

def create_people(sync: AudienceSync, people: Sequence[AudiencePerson]) -> list[int]:
    """Create every person; returns the new ids the caller must still add to the list."""
    from segmarketo_cli.jobs.sync_audience.run import BULK_CREATE_MIN

    to_add: list[int] = []
    for kind in ("email", "userId"):
        group = [p for p in people if p.key.kind == kind]
        if not group:
            continue
        if len(group) >= BULK_CREATE_MIN:
            unconfirmed = _bulk_import(sync, kind, group)
            if unconfirmed:
                to_add.extend(_create_only(sync, kind, unconfirmed))
        else:
            to_add.extend(_create_only(sync, kind, group))
    sync.report.add("audience_leads", len(to_add))
    return to_add


def _record(sync: AudienceSync, person: AudiencePerson, field_name: str) -> dict[str, Any]:
    record: dict[str, Any] = {field_name: person.key.value}
    user_field = sync.opts.user_field
    if user_field and person.user_id and user_field not in record:
        record[user_field] = person.user_id
    return record


def _create_only(sync: AudienceSync, kind: str, people: Sequence[AudiencePerson]) -> list[int]:
    """Sync Leads createOnly, 300 per call; its results are positional (one row per input record)."""
    from segmarketo_cli.jobs.sync_audience.run import BATCH

    field_name = sync.field_for(kind) or ""
    new_ids: list[int] = []
    exists: list[AudiencePerson] = []
    remembered: list[tuple[str, list[int]]] = []
    for start in range(0, len(people), BATCH):
        batch = list(people[start:start + BATCH])
        results = sync.client.sync_leads([_record(sync, p, field_name) for p in batch], action="createOnly",
                                         lookup_field=field_name)
        for index, person in enumerate(batch):
            row = results[index] if index < len(results) else None
            reasons = (row or {}).get("reasons") or [{}]
            if row is not None and row.get("status") == "created" and row.get("id") is not None:
                new_ids.append(int(row["id"]))
                remembered.append((person.key.value, [int(row["id"])]))
                sync.report.add("created")
            elif str(reasons[0].get("code")) == "1005":
                exists.append(person)  # created by someone else since we looked: find it again
            else:
                code = str(reasons[0].get("code"))
                reason = f"Marketo {code}: {with_partition_advice(code, str(reasons[0].get('message', '')))}" \
                    if row else "no result for this record in Marketo's reply"
                _failed(sync, person, f"create failed: {reason}")
    sync.store.remember_lead_ids(sync.instance, field_name, remembered)
    if exists:
        found = sync.lookup(kind, [p.key.value for p in exists])
        for person in exists:
            ids = found.get(person.key, [])
            if ids:
                sync.report.add("resolved")
                new_ids.extend(ids)
            else:
                _failed(sync, person, "create failed: Marketo says the lead exists (1005) but it cannot be found")
    return sorted(set(new_ids))


def _bulk_import(sync: AudienceSync, kind: str, people: Sequence[AudiencePerson]) -> list[AudiencePerson]:
    """Bulk Import with listId: creates the leads and adds them to the list in a handful of calls. Files are
    cut by bytes (under 10 MB); returns the people whose outcome the jobs' files could not confirm."""
    from segmarketo_cli.jobs.sync_audience.run import IMPORT_POLL_S

    field_name = sync.field_for(kind) or ""
    by_candidate: dict[int, AudiencePerson] = {}
    candidates: list[Candidate] = []
    for person in people:
        candidate = Candidate(person.key.value, _record(sync, person, field_name), {}, None, person.origin)
        by_candidate[id(candidate)] = person
        candidates.append(candidate)
    unconfirmed: list[AudiencePerson] = []

    def on_result(result: ImportResult) -> None:
        for candidate, reason in result.rejected:
            _failed(sync, by_candidate[id(candidate)], f"bulk import: {reason}")
        if result.unconfirmed:
            unconfirmed.extend(by_candidate[id(c)] for c in result.unconfirmed)
            sync.report.add("bulk_jobs_unreconciled")
        imported = len(result.imported)
        sync.report.add("created", imported)
        sync.report.add("added", imported)
        sync.report.add("audience_leads", imported)

    executor = BulkExecutor(sync.client, lookup_field=field_name, on_result=on_result, sleep=sync.sleep,
                            row_field=sync.opts.bulk_row_field, list_id=sync.list_id,
                            poll_s=(IMPORT_POLL_S[0], IMPORT_POLL_S[-1]))
    stopped = executor.run(candidates)
    sync.report.add("bulk_import_jobs", executor.jobs)
    if stopped is not None:
        raise stopped[0]
    if unconfirmed:
        sync.report.notes.append(f"{len(unconfirmed):,} new lead(s) of bulk jobs whose outcome Marketo's files "
                                 "could not confirm were created again one by one (createOnly)")
    return unconfirmed


def _failed(sync: AudienceSync, person: AudiencePerson, reason: str) -> None:
    sync.report.add("create_failed")
    sync.rejects.write(reason, origin=person.origin, identity=person.key.value, identity_type=person.key.kind)
