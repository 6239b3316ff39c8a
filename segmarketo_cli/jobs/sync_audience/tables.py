"""Moving sync-audience's data in and out of the planning engine: Arrow batches in, counts and batches out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

BATCH_ROWS = 50_000  # rows per Arrow batch into and out of the engine


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> int:
    """The integer one-value `query` returns (0 for NULL), its result read to the end."""
    rows = con.execute(query, params or []).fetchall()
    return int(rows[0][0] or 0) if rows else 0


def stream(con: duckdb.DuckDBPyConnection, query: str, size: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """`query`'s rows in Arrow batches of `size`, on a cursor of its own: the caller may use `con` meanwhile."""
    yield from con.cursor().sql(query).to_arrow_reader(size)
