"""People -> lead ids: the state store's lead-id cache first, then Get Leads by Filter (reads only), into the engine."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from segmarketo_cli.engine import Columns, create, insert_rows
from segmarketo_cli.jobs.batchpool import run_batches, workers_for
from segmarketo_cli.jobs.sync_audience.tables import BATCH_ROWS, scalar, stream
from segmarketo_cli.sources.audience.readers import Identity

if TYPE_CHECKING:
    import duckdb

    from segmarketo_cli.jobs.sync_audience.session import SyncSession

RESOLVED_SCHEMA = Columns(("kind", "string"), ("value", "string"), ("lead_id", "int64"))
CACHED_SCHEMA = Columns(("value", "string"), ("lead_id", "int64"))


def resolve(session: SyncSession, con: duckdb.DuckDBPyConnection) -> None:
    """Lead ids of the audience members' identities into table `resolved` (kind, value, lead_id): the lead-id
    cache first, then Get Leads by Filter for the rest. A cached lead now in the list under another value means
    the cache is old: that value is looked up again."""
    create(con, "resolved", RESOLVED_SCHEMA)
    kinds = [kind for (kind,) in con.execute("SELECT kind FROM person_ids WHERE member GROUP BY kind ORDER BY min(pos)")
             .fetchall() if session.field_for(kind)]
    for kind in kinds:
        field_name = session.field_for(kind) or ""
        con.execute("""
            CREATE OR REPLACE TABLE wanted AS
            SELECT value, min((pos, idx)) AS first FROM person_ids WHERE member AND kind = ? GROUP BY value""", [kind])
        create(con, "cached", CACHED_SCHEMA)
        for values in _values(con, "SELECT value FROM wanted ORDER BY first", BATCH_ROWS):
            insert_rows(con, "cached", CACHED_SCHEMA, [(key, i) for key, ids in
                                                  session.store.lead_ids_for(session.instance, field_name, values)
                                                  .items() for i in ids])
        member_key = "email_key" if kind == "email" else "user_key"
        con.execute(f"""
            INSERT INTO resolved SELECT ?, value, lead_id FROM cached WHERE value NOT IN (
                SELECT c.value FROM cached c JOIN members m USING (lead_id)
                WHERE m.{member_key} IS DISTINCT FROM c.value)""", [kind])
        con.execute("""
            CREATE OR REPLACE TABLE to_lookup AS
            SELECT value, first FROM wanted WHERE value NOT IN (SELECT value FROM resolved WHERE kind = ?)""", [kind])
        wanted, missing = (scalar(con, f"SELECT count(*) FROM {table}") for table in ("wanted", "to_lookup"))
        session.report.details.setdefault("resolution", {})[kind] = {"cached": wanted - missing,
                                                                     "looked_up": missing}
        for values in _values(con, "SELECT value FROM to_lookup ORDER BY first", session.window()):
            found = lookup(session, kind, values)
            insert_rows(con, "resolved", RESOLVED_SCHEMA,
                   [(kind, identity.value, i) for identity, ids in found.items() for i in ids])
        for table in ("wanted", "cached", "to_lookup"):
            con.execute(f"DROP TABLE {table}")


def _values(con: duckdb.DuckDBPyConnection, query: str, size: int) -> Iterator[list[str]]:
    """The first column of `query`, `size` values at a time."""
    for batch in stream(con, query, size):
        yield batch.column(0).to_pylist()


def lookup(session: SyncSession, kind: str, values: Sequence[str]) -> dict[Identity, list[int]]:
    """Lead ids per value, one filter call per batch of values, calls run concurrently under the client's limiter;
    the ids found are remembered in the lead-id cache."""
    field_name = session.field_for(kind) or ""
    found: dict[str, list[int]] = {}

    def call(chunk: Sequence[str]) -> list[dict[str, Any]]:
        return session.client.get_leads_by_filter(field_name, chunk, fields=["id", field_name])

    with session.progress(len(values), f"looking up {kind}s") as bar:
        for chunk, rows in run_batches(call, session.batches(values), workers_for(session.client)):
            hits: dict[str, list[int]] = {}
            for row in rows:  # mapped by the returned value, never by position
                value = normalise(row.get(field_name), kind)
                if value is not None and row.get("id") is not None:
                    hits.setdefault(value, []).append(int(row["id"]))
            session.store.remember_lead_ids(session.instance, field_name,
                                            [(v, sorted(set(i))) for v, i in hits.items()])
            for value, ids in hits.items():
                found.setdefault(value, []).extend(ids)
            bar.update(len(chunk))
    return {Identity(kind, v): sorted(set(ids)) for v, ids in found.items()}


def normalise(value: Any, kind: str) -> str | None:
    """A field value as the audience readers normalise identities: trimmed, e-mails lower-cased; None for blank."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    return text.lower() if kind == "email" else text
