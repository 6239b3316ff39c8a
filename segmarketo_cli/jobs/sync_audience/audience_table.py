"""The audience in the planning engine: every usable row loaded in Arrow batches, then one person per key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from segmarketo_cli.engine import Columns, create, insert_columns, insert_rows
from segmarketo_cli.jobs.sync_audience.tables import BATCH_ROWS, scalar, stream
from segmarketo_cli.sources.audience.readers import (
    AudienceInput,
    AudiencePerson,
    AudienceRow,
    Identity,
    Rejection,
    counted_rows,
)

if TYPE_CHECKING:
    import duckdb

    from segmarketo_cli.jobs.rejects import RejectsWriter

ROWS_SCHEMA = Columns(("seq", "int64"), ("audience", "string"), ("ts", "double"), ("member", "bool"),
                      ("origin", "string"), ("user_id", "string"), ("key_kind", "string"), ("key_value", "string"))
EXTRA_IDS_SCHEMA = Columns(("seq", "int64"), ("pos", "int32"), ("kind", "string"), ("value", "string"))
REJECTS_SCHEMA = Columns(("origin", "string"), ("reason", "string"), ("field", "string"), ("value", "string"))

# Snapshots: the first row of a key wins. Events: replayed in time order, the latest per key wins; a row without
# a timestamp takes the last one before it in the file. A person's `pos`, the order people are listed in, is the
# file position of their first row (snapshots) or of their earliest event (events); `seq` is the row kept.
_SNAPSHOT_PEOPLE = """
CREATE OR REPLACE TABLE people AS
SELECT min(seq) AS pos, min(seq) AS seq, arg_min(member, seq) AS member, arg_min(origin, seq) AS origin,
       arg_min(user_id, seq) AS user_id, key_kind, key_value
FROM audience_rows GROUP BY key_kind, key_value
"""
_EVENT_PEOPLE = """
CREATE OR REPLACE TABLE people AS
WITH chosen AS (
    SELECT *, (coalesce(ts, last_value(ts IGNORE NULLS) OVER (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING
                                                             AND CURRENT ROW), '-inf'::DOUBLE), seq) AS happened
    FROM audience_rows WHERE audience IS NULL OR audience = $audience)
SELECT arg_min(seq, happened) AS pos, arg_max(seq, happened) AS seq, arg_max(member, happened) AS member,
       arg_max(origin, happened) AS origin, arg_max(user_id, happened) AS user_id, key_kind, key_value
FROM chosen GROUP BY key_kind, key_value
"""
# Every identity of every person: the key, then the row's other e-mails.
_PERSON_IDS = """
CREATE TABLE person_ids AS
SELECT pos, 0 AS idx, member, key_kind AS kind, key_value AS value FROM people
UNION ALL
SELECT p.pos, x.pos AS idx, p.member, x.kind, x.value FROM people p JOIN extra_ids x USING (seq)
"""


def load_audience(con: duckdb.DuckDBPyConnection, audience: AudienceInput, rejects: RejectsWriter) -> None:
    """Read the audience, once, into tables `people` (pos, seq, member, origin, user_id, key_kind, key_value) and
    `person_ids` (pos, idx, member, kind, value), and its rejected rows into `audience_rejects` (origin, reason,
    field, value), counting its rows as `read_audience` does; count its people and
    repeats. The file's rejects wait in the engine and go to the rejects file, in file order, only once the whole
    file has passed the checks that refuse it (ConfigError, InputError): a refused file writes nothing."""
    create(con, "audience_rows", ROWS_SCHEMA)
    create(con, "extra_ids", EXTRA_IDS_SCHEMA)
    create(con, "audience_rejects", REJECTS_SCHEMA)
    rows: list[AudienceRow] = []
    refused: list[tuple[str, str, str | None, str | None]] = []
    for item in counted_rows(audience, audience.audience):
        if isinstance(item, Rejection):
            refused.append((item.origin, item.reason, item.field, item.value))
            if len(refused) == BATCH_ROWS:
                insert_rows(con, "audience_rejects", REJECTS_SCHEMA, refused)
                refused = []
        elif item is not None:
            rows.append(item)
            if len(rows) == BATCH_ROWS:
                _insert(con, rows)
                rows = []
    _insert(con, rows)
    insert_rows(con, "audience_rejects", REJECTS_SCHEMA, refused)
    for batch in stream(con, "SELECT origin, reason, field, value FROM audience_rejects ORDER BY rowid"):
        for origin, reason, field, value in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            rejects.write(reason, origin=origin, field=field, value=value)
    if audience.kind == "snapshot":
        con.execute(_SNAPSHOT_PEOPLE)
    else:
        con.execute(_EVENT_PEOPLE, {"audience": audience.audience})
    con.execute(_PERSON_IDS)
    con.execute("DROP TABLE audience_rows")  # audience_rejects stays, for --plan-out's reject rows
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
    people = [row.person for row in rows]
    insert_columns(con, "audience_rows", ROWS_SCHEMA, [
        [row.seq for row in rows], [row.audience for row in rows], [row.ts for row in rows],
        [p.member for p in people], [p.origin for p in people], [p.user_id for p in people],
        [p.key.kind for p in people], [p.key.value for p in people]])
    insert_rows(con, "extra_ids", EXTRA_IDS_SCHEMA, [(row.seq, pos, ident.kind, ident.value) for row in rows
                                                for pos, ident in enumerate(row.person.identities) if pos > 0])
