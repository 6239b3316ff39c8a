"""sync-audience --create-missing: create leads for people not in Marketo (createOnly, or Bulk Import + listId).

The people stream out of the planning engine a window at a time and go to Marketo 300 per call; what the creation
learns per person (new lead ids, leads created meanwhile by someone else, bulk rows to create again) goes back to
engine tables, so memory does not grow with the people to create (docs/engine.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import TYPE_CHECKING

from segmarketo_cli.engine import Columns, create, insert_rows
from segmarketo_cli.jobs.backfill_leads.plan import Candidate
from segmarketo_cli.jobs.batches import first_reason, positional
from segmarketo_cli.jobs.bulk_import.execute import BulkExecutor, ImportResult
from segmarketo_cli.jobs.interrupts import held
from segmarketo_cli.jobs.sync_audience.changes import create_change, membership_change, new_member
from segmarketo_cli.jobs.sync_audience.plan import ListMembershipPlan, Member, new_lead_record
from segmarketo_cli.jobs.sync_audience.resolve import lookup
from segmarketo_cli.jobs.sync_audience.tables import scalar, stream
from segmarketo_cli.sources.audience.readers import AudiencePerson, Identity

if TYPE_CHECKING:
    import duckdb

    from segmarketo_cli.jobs.sync_audience.session import SyncSession

BULK_CREATE_MIN = 1500  # at least this many new people: one Bulk Import instead of createOnly calls
IMPORT_POLL_S = (2.0, 5.0, 10.0, 30.0)
KINDS = ("email", "userId")

# New lead ids per kind (its place in KINDS) with their person's key and origin; people to look up or create
# again (key value, origin, user id).
_CREATED = Columns(("kind", "int32"), ("lead_id", "int64"), ("value", "string"), ("origin", "string"))
_PEOPLE = Columns(("value", "string"), ("origin", "string"), ("user_id", "string"))


def uses_bulk_import(people: int) -> bool:
    """Whether creating `people` new leads may go through Bulk Import (its row field is checked first)."""
    return people >= BULK_CREATE_MIN


def create_people(session: SyncSession, plan: ListMembershipPlan) -> Iterator[Member]:
    """Create the plan's people to create, all of them now (each confirmed batch in the change log); returns the
    new leads the caller must still add to the list (Bulk Import adds its own), each kind's in id order, streamed
    from the engine."""
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
    return _new_members(con)


def _new_members(con: duckdb.DuckDBPyConnection) -> Iterator[Member]:
    query = ("SELECT kind, lead_id, min(value), min(origin) FROM created_ids GROUP BY kind, lead_id "
             "ORDER BY kind, lead_id")
    for batch in stream(con, query):
        for kind, lead_id, value, origin in zip(*(c.to_pylist() for c in batch.columns), strict=True):
            yield new_member(_person(KINDS[kind], value, origin or ""), lead_id)


def _create_only(session: SyncSession, index: int, people: Iterable[AudiencePerson],
                 con: duckdb.DuckDBPyConnection) -> None:
    """Sync Leads createOnly, a batch per call (its results are positional: one row per input record); the new
    ids go to table created_ids."""
    kind = KINDS[index]
    field_name = session.field_for(kind) or ""
    user_field = session.profile.user_id_field
    create(con, "create_exists", _PEOPLE)
    for window in session.windows(people):
        for batch in session.batches(window):
            with held():  # Ctrl-C or SIGTERM: what Marketo created is recorded before it is raised
                _create_batch(session, con, index, batch, field_name, user_field)
    for window in session.windows(_staged(con, "create_exists", kind)):
        found = lookup(session, kind, [p.key.value for p in window])
        for person in window:
            ids = found.get(person.key, [])
            if ids:
                session.report.add("resolved")
                insert_rows(con, "created_ids", _CREATED,
                            [(index, lead_id, person.key.value, person.origin) for lead_id in ids])
            else:
                _failed(session, person, "create failed: Marketo says the lead exists (1005) but it cannot be found")
    con.execute("DROP TABLE create_exists")


def _create_batch(session: SyncSession, con: duckdb.DuckDBPyConnection, index: int, batch: list[AudiencePerson],
                  field_name: str, user_field: str | None) -> None:
    """One createOnly call and its settling: the new ids, their change-log rows, the leads created meanwhile by
    someone else, the rejects."""
    results = session.client.sync_leads([new_lead_record(p, user_field) for p in batch],
                                        action="createOnly", lookup_field=field_name)
    new_ids: list[tuple[int, int, str, str]] = []
    remembered: list[tuple[str, list[int]]] = []
    exists: list[tuple[str, str, str | None]] = []
    confirmed = []
    for person, row in positional(results, batch):
        reason = first_reason(row)
        if row is not None and row.get("status") == "created" and row.get("id") is not None:
            new_ids.append((index, int(row["id"]), person.key.value, person.origin))
            remembered.append((person.key.value, [int(row["id"])]))
            confirmed.append(create_change(person, user_field, int(row["id"])))
            session.report.add("created")
        elif reason.code == "1005":  # created by someone else since we looked: find it again
            exists.append((person.key.value, person.origin, person.user_id))
        elif row is None:
            _failed(session, person, "create failed: no result for this record in Marketo's reply")
        else:
            _failed(session, person, f"create failed: {reason.describe()}")
    session.changes.record(confirmed)
    insert_rows(con, "created_ids", _CREATED, new_ids)
    insert_rows(con, "create_exists", _PEOPLE, exists)
    session.store.remember_lead_ids(session.instance, field_name, remembered)


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
        imported = [_person(kind, c.key, c.origin, c.fields.get(user_field) if user_field else None)
                    for c in result.imported]
        # Bulk Import's files give no lead ids: the log has the new leads and their adds (listId) without them.
        session.changes.record([change for person in imported for change in (
            create_change(person, user_field), membership_change("add", session.list_id, new_member(person)))])
        for candidate, reason in result.rejected:
            _failed(session, _person(kind, candidate.key, candidate.origin), f"bulk import: {reason}")
        if result.unconfirmed:
            unconfirmed += len(result.unconfirmed)
            insert_rows(con, "create_retry", _PEOPLE, [
                (c.key, c.origin, c.fields.get(user_field) if user_field and user_field != field_name else None)
                for c in result.unconfirmed])
            session.report.add("bulk_jobs_unreconciled")
        session.report.add("created", len(imported))
        session.report.add("added", len(imported))
        session.report.add("audience_leads", len(imported))

    executor = BulkExecutor(session.client, lookup_field=field_name, on_result=on_result, sleep=session.sleep,
                            row_field=session.profile.bulk_row_field, list_id=session.list_id,
                            poll_s=(IMPORT_POLL_S[0], IMPORT_POLL_S[-1]))
    stopped = executor.run(Candidate(p.key.value, new_lead_record(p, user_field), {}, None, p.origin)
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
