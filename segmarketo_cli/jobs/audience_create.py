"""sync-audience --create-missing: create leads for people not in Marketo (createOnly, or Bulk Import + listId)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..marketo.codes import with_partition_advice
from ..sources.audience import AudiencePerson

if TYPE_CHECKING:
    from .audience_apply import AudienceSync

IMPORT_ROWS = 100_000  # rows per Bulk Import file: ~3 MB of addresses, well under the 10 MB cap


def create_people(sync: AudienceSync, people: Sequence[AudiencePerson]) -> list[int]:
    """Create every person; returns the new ids the caller must still add to the list."""
    from .audience_apply import BULK_CREATE_MIN

    to_add: list[int] = []
    for kind in ("email", "userId"):
        group = [p for p in people if p.key.kind == kind]
        if not group:
            continue
        if len(group) >= BULK_CREATE_MIN:
            for start in range(0, len(group), IMPORT_ROWS):
                _bulk_import(sync, kind, group[start:start + IMPORT_ROWS])
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
    from .audience_apply import BATCH

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


def _bulk_import(sync: AudienceSync, kind: str, people: Sequence[AudiencePerson]) -> None:
    """One Bulk Import with listId: creates the leads and adds them to the list in a handful of calls."""
    from .audience_apply import IMPORT_POLL_S

    field_name = sync.field_for(kind) or ""
    records = [_record(sync, p, field_name) for p in people]
    columns = list(dict.fromkeys(name for record in records for name in record))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    writer.writerows(records)
    client = sync.client
    job = client.bulk_import_leads(out.getvalue().encode("utf-8"), lookup_field=field_name, list_id=sync.list_id)
    batch_id = int(job["batchId"])
    status = sync.poll(lambda: client.bulk_import_status(batch_id), IMPORT_POLL_S, done=("Complete",))
    if status.get("status") != "Complete":
        for person in people:
            _failed(sync, person, f"bulk import {batch_id} {status.get('status')}: {status.get('message', '')}")
        return
    failed: dict[str, str] = {}
    if int(status.get("numOfRowsFailed") or 0):
        rows = list(csv.reader(io.StringIO(client.bulk_import_failures(batch_id))))
        if rows:
            at = rows[0].index(field_name) if field_name in rows[0] else 0
            for row in rows[1:]:
                if len(row) > at:
                    # The reason is the extra last column; its name is UNCONFIRMED (marketo-rest.md §10.1).
                    failed[row[at].strip().lower() if kind == "email" else row[at].strip()] = row[-1]
    imported = 0
    for person in people:
        if person.key.value in failed:
            _failed(sync, person, f"bulk import failed: {failed[person.key.value]}")
        else:
            imported += 1
    sync.report.add("created", imported)
    sync.report.add("added", imported)
    sync.report.add("audience_leads", imported)
    sync.report.notes.append(f"bulk import {batch_id} created {imported:,} leads and added them to the list")


def _failed(sync: AudienceSync, person: AudiencePerson, reason: str) -> None:
    sync.report.add("create_failed")
    sync.rejects.write(reason, origin=person.origin, identity=person.key.value, identity_type=person.key.kind)
