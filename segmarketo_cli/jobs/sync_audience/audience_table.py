"""The audience in the planning engine: every usable row loaded in Arrow batches, then one person per key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from segmarketo_cli.errors import InputError
from segmarketo_cli.jobs.sync_audience.tables import BATCH_ROWS, create, insert, scalar, stream
from segmarketo_cli.sources.audience.readers import AudienceInput, AudiencePerson, AudienceRow, Identity, Rejection

if TYPE_CHECKING:
    import duckdb

    from segmarketo_cli.jobs.rejects import RejectsWriter

ROWS_SCHEMA = pa.schema([("seq", pa.int64()), ("audience", pa.string()), ("ts", pa.float64()),
                         ("member", pa.bool_()), ("origin", pa.string()), ("user_id", pa.string()),
                         ("key_kind", pa.string()), ("key_value", pa.string())])
EXTRA_IDS_SCHEMA = pa.schema([("seq", pa.int64()), ("pos", pa.int32()), ("kind", pa.string()),
                              ("value", pa.string())])

# Snapshots: the first row of a key wins. Events: replayed in time order, the latest per key wins; a row without
# a timestamp takes the last one before it in the file; people are listed by their earliest event.
_SNAPSHOT_PEOPLE = """
CREATE TABLE people AS
SELECT row_number() OVER (ORDER BY seq) AS pos, seq, member, origin, user_id, key_kind, key_value
FROM (SELECT *, row_number() OVER (PARTITION BY key_kind, key_value ORDER BY seq) AS nth FROM audience_rows)
WHERE nth = 1
"""
_EVENT_PEOPLE = """
CREATE TABLE people AS
WITH chosen AS (
    SELECT *, coalesce(ts, last_value(ts IGNORE NULLS) OVER (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING
                                                            AND CURRENT ROW), '-inf'::DOUBLE) AS happened
    FROM audience_rows WHERE audience IS NULL OR audience = $audience),
ranked AS (
    SELECT *, first_value(seq) OVER (PARTITION BY key_kind, key_value ORDER BY happened, seq) AS first_seen,
           row_number() OVER (PARTITION BY key_kind, key_value ORDER BY happened DESC, seq DESC) AS nth
    FROM chosen)
SELECT row_number() OVER (ORDER BY first_seen) AS pos, seq, member, origin, user_id, key_kind, key_value
FROM ranked WHERE nth = 1
"""
# Every identity of every person: the key, then the row's other e-mails.
_PERSON_IDS = """
CREATE TABLE person_ids AS
SELECT pos, 0 AS idx, member, key_kind AS kind, key_value AS value FROM people
UNION ALL
SELECT p.pos, x.pos AS idx, p.member, x.kind, x.value FROM people p JOIN extra_ids x USING (seq)
"""


def load_audience(con: duckdb.DuckDBPyConnection, audience: AudienceInput, rejects: RejectsWriter) -> None:
    """Read the audience again into tables `people` (pos, seq, member, origin, user_id, key_kind, key_value) and
    `person_ids` (pos, idx, member, kind, value); write its rejects in file order; count its people and repeats.
    InputError when the file no longer reads as it did when it was checked."""
    create(con, "audience_rows", ROWS_SCHEMA)
    create(con, "extra_ids", EXTRA_IDS_SCHEMA)
    rows: list[AudienceRow] = []
    read = rejected = 0
    for item in audience.scan():
        read += 1
        if isinstance(item, Rejection):
            rejected += 1
            rejects.write(item.reason, origin=item.origin, field=item.field, value=item.value)
        elif item is not None:
            rows.append(item)
            if len(rows) == BATCH_ROWS:
                _insert(con, rows)
                rows = []
    _insert(con, rows)
    if read != audience.rows or rejected != audience.rejected:
        raise InputError(f"{audience.path} changed while it was being read; run again once it is complete")
    if audience.kind == "snapshot":
        con.execute(_SNAPSHOT_PEOPLE)
    else:
        con.execute(_EVENT_PEOPLE, {"audience": audience.audience})
    con.execute(_PERSON_IDS)
    con.execute("DROP TABLE audience_rows")
    audience.people = scalar(con, "SELECT count(*) FROM people")
    audience.repeated = audience.usable - audience.people


def iter_people(con: duckdb.DuckDBPyConnection, where: str = "TRUE") -> Iterator[AudiencePerson]:
    """The people matching `where` (SQL over the people table's columns), in audience order, with their identities."""
    query = f"""
        SELECT p.pos, p.member, p.origin, p.user_id, p.key_kind, p.key_value,
               list(struct_pack(kind := x.kind, value := x.value) ORDER BY x.pos)
                   FILTER (WHERE x.kind IS NOT NULL) AS extra
        FROM people p LEFT JOIN extra_ids x USING (seq)
        WHERE {where} GROUP BY ALL ORDER BY p.pos"""
    for batch in stream(con, query):
        for row in batch.to_pylist():
            ids = (Identity(row["key_kind"], row["key_value"]),
                   *(Identity(x["kind"], x["value"]) for x in row["extra"] or ()))
            yield AudiencePerson(ids, row["origin"], row["member"], row["user_id"])


def _insert(con: duckdb.DuckDBPyConnection, rows: list[AudienceRow]) -> None:
    insert(con, "audience_rows", ROWS_SCHEMA, [
        (row.seq, row.audience, row.ts, row.person.member, row.person.origin, row.person.user_id,
         row.person.key.kind, row.person.key.value) for row in rows])
    insert(con, "extra_ids", EXTRA_IDS_SCHEMA, [(row.seq, pos, ident.kind, ident.value) for row in rows
                                                for pos, ident in enumerate(row.person.identities) if pos > 0])
