"""Moving sync-audience's data in and out of the planning engine: Arrow batches in, counts and batches out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import duckdb

BATCH_ROWS = 50_000  # rows per Arrow batch into and out of the engine

_SQL_TYPES = {pa.int64(): "BIGINT", pa.int32(): "INTEGER", pa.string(): "VARCHAR", pa.float64(): "DOUBLE",
              pa.bool_(): "BOOLEAN"}


def create(con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema) -> None:
    """An empty table `table` with the columns of `schema` (replacing one of that name)."""
    columns = ", ".join(f"{f.name} {_SQL_TYPES[f.type]}" for f in schema)
    con.execute(f"CREATE OR REPLACE TABLE {table} ({columns})")


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> int:
    """The integer one-value `query` returns (0 for NULL), its result read to the end."""
    rows = con.execute(query, params or []).fetchall()
    return int(rows[0][0] or 0) if rows else 0


def stream(con: duckdb.DuckDBPyConnection, query: str, size: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """`query`'s rows in Arrow batches of `size`, on a cursor of its own: the caller may use `con` meanwhile."""
    yield from con.cursor().sql(query).to_arrow_reader(size)
