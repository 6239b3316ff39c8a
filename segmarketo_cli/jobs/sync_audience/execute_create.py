"""sync-audience --create-missing: create leads for people not in Marketo (createOnly, or Bulk Import + listId).

The people stream out of the planning engine a window at a time and go to Marketo 300 per call; what the creation
learns per person (new lead ids, leads created meanwhile by someone else, bulk rows to create again) goes back to
engine tables, so memory does not grow with the people to create (docs/engine.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from segmarketo_cli.engine import insert_rows
from segmarketo_cli.jobs.backfill_leads.plan import Candidate
from segmarketo_cli.jobs.batches import first_reason, positional
from segmarketo_cli.jobs.bulk_import.execute import BulkExecutor, ImportResult
from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan
from segmarketo_cli.jobs.sync_audience.resolve import lookup
from segmarketo_cli.jobs.sync_audience.tables import create, scalar, stream
from segmarketo_cli.sources.audience.readers import AudiencePerson, Identity

if TYPE_CHECKING:
    import duckdb

    from segmarketo_cli.jobs.sync_audience.session import SyncSession

BULK_CREATE_MIN = 1500  # at least this many new people: one Bulk Import instead of createOnly calls
IMPORT_POLL_S = (2.0, 5.0, 10.0, 30.0)
KINDS = ("email", "userId")

# New lead ids per kind (its place in KINDS); people to look up or create again (key value, origin, user id).
_CREATED = pa.schema([("kind", pa.int32()), ("lead_id", pa.int64())])
_PEOPLE = pa.schema([("value", pa.string()), ("origin", pa.string()), ("user_id", pa.string())])


def uses_bulk_import(people: int) -> bool:
    """Whether creating `people` new leads may go through Bulk Import (its row field is checked first)."""
    return people >= BULK_CREATE_MIN


def create_people(session: SyncSession, plan: ListMembershipPlan) -> Iterator[int]:
    """Create the plan's people to create, all of them now; returns the new ids the caller must still add to the
    list (Bulk Import adds its own), each kind's in id order, streamed from the engine."""
    assert plan.con is not None  # a plan with people to create was made on the engine
    con = plan.con
    create(con, "created_ids", _CREATED)
    for index, kind in enumerate(KINDS):
        people = plan.people_to_create(kind)
        first = list(islice(people, BULK_CREATE_MIN))
        if not first:
            continue
        if uses_bulk_import(len(first)):
            unconfirmed = _bulk_import(session, kind, chain(first, people), con)
            if unconfirmed:
                _create_only(session, index, _restaged(con, kind), con)
        else:
            _create_only(session, index, first, con)
    session.report.add("audience_leads", scalar(con, "SELECT count(*) FROM (SELECT DISTINCT kind, lead_id FROM "
                                                     "created_ids)"))
    return _new_ids(con)


def _new_ids(con: duckdb.DuckDBPyConnection) -> Iterator[int]:
    for batch in stream(con, "SELECT DISTINCT kind, lead_id FROM created_ids ORDER BY kind, lead_id"):
        yield from batch.column("lead_id").to_pylist()


def _record(session: SyncSession, person: AudiencePerson, field_name: str) -> dict[str, Any]:
    record: dict[str, Any] = {field_name: person.key.value}
    user_field = session.profile.user_id_field
    if user_field and person.user_id and user_field not in record:
        record[user_field] = person.user_id
    return record


def _create_only(session: SyncSession, index: int, people: Iterable[AudiencePerson],
                 con: duckdb.DuckDBPyConnection) -> None:
    """Sync Leads createOnly, a batch per call (its results are positional: one row per input record); the new
    ids go to table created_ids."""
    kind = KINDS[index]
    field_name = session.field_for(kind) or ""
    create(con, "create_exists", _PEOPLE)
    for window in session.windows(people):
        for batch in session.batches(window):
            results = session.client.sync_leads([_record(session, p, field_name) for p in batch],
                                                action="createOnly", lookup_field=field_name)
            new_ids: list[tuple[int, int]] = []
            remembered: list[tuple[str, list[int]]] = []
            exists: list[tuple[str, str, str | None]] = []
            for person, row in positional(results, batch):
                reason = first_reason(row)
                if row is not None and row.get("status") == "created" and row.get("id") is not None:
                    new_ids.append((index, int(row["id"])))
                    remembered.append((person.key.value, [int(row["id"])]))
                    session.report.add("created")
                elif reason.code == "1005":  # created by someone else since we looked: find it again
                    exists.append((person.key.value, person.origin, person.user_id))
                elif row is None:
                    _failed(session, person, "create failed: no result for this record in Marketo's reply")
                else:
                    _failed(session, person, f"create failed: {reason.describe()}")
            insert_rows(con, "created_ids", _CREATED, new_ids)
            insert_rows(con, "create_exists", _PEOPLE, exists)
            session.store.remember_lead_ids(session.instance, field_name, remembered)
    for window in session.windows(_staged(con, "create_exists", kind)):
        found = lookup(session, kind, [p.key.value for p in window])
        for person in window:
            ids = found.get(person.key, [])
            if ids:
                session.report.add("resolved")
                insert_rows(con, "created_ids", _CREATED, [(index, lead_id) for lead_id in ids])
            else:
                _failed(session, person, "create failed: Marketo says the lead exists (1005) but it cannot be found")
    con.execute("DROP TABLE create_exists")


def _bulk_import(session: SyncSession, kind: str, people: Iterable[AudiencePerson],
                 con: duckdb.DuckDBPyConnection) -> int:
    """Bulk Import with listId: creates the leads and adds them to the list in a handful of calls. Files are
    cut by bytes (under 10 MB); the people whose outcome the jobs' files could not confirm go to table
    create_retry, and their number is returned."""
    field_name = session.field_for(kind) or ""
    user_field = session.profile.user_id_field
    create(con, "create_retry", _PEOPLE)
    unconfirmed = 0

    def on_result(result: ImportResult) -> None:
        nonlocal unconfirmed
        for candidate, reason in result.rejected:
            _failed(session, _person(kind, candidate.key, candidate.origin), f"bulk import: {reason}")
        if result.unconfirmed:
            unconfirmed += len(result.unconfirmed)
            insert_rows(con, "create_retry", _PEOPLE, [
                (c.key, c.origin, c.fields.get(user_field) if user_field and user_field != field_name else None)
                for c in result.unconfirmed])
            session.report.add("bulk_jobs_unreconciled")
        imported = len(result.imported)
        session.report.add("created", imported)
        session.report.add("added", imported)
        session.report.add("audience_leads", imported)

    executor = BulkExecutor(session.client, lookup_field=field_name, on_result=on_result, sleep=session.sleep,
                            row_field=session.profile.bulk_row_field, list_id=session.list_id,
                            poll_s=(IMPORT_POLL_S[0], IMPORT_POLL_S[-1]))
    stopped = executor.run(Candidate(p.key.value, _record(session, p, field_name), {}, None, p.origin)
                           for p in people)
    session.report.add("bulk_import_jobs", executor.jobs)
    if stopped is not None:
        raise stopped[0]
    if unconfirmed:
        session.report.notes.append(f"{unconfirmed:,} new lead(s) of bulk jobs whose outcome Marketo's files "
                                    "could not confirm were created again one by one (createOnly)")
    return unconfirmed


def _restaged(con: duckdb.DuckDBPyConnection, kind: str) -> Iterator[AudiencePerson]:
    """The people of table create_retry, in the order they were staged; the table is dropped once read."""
    yield from _staged(con, "create_retry", kind)
    con.execute("DROP TABLE create_retry")


def _staged(con: duckdb.DuckDBPyConnection, table: str, kind: str) -> Iterator[AudiencePerson]:
    """The people staged in `table` (key value, origin, user id), in the order they were staged."""
    for batch in stream(con, f"SELECT value, origin, user_id FROM {table} ORDER BY rowid"):  # noqa: S608
        for value, origin, user_id in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            yield _person(kind, value, origin, user_id)


def _person(kind: str, value: str, origin: str, user_id: str | None = None) -> AudiencePerson:
    return AudiencePerson((Identity(kind, value),), origin, True, user_id)


def _failed(session: SyncSession, person: AudiencePerson, reason: str) -> None:
    session.report.add("create_failed")
    session.rejects.write(reason, origin=person.origin, identity=person.key.value, identity_type=person.key.kind)
