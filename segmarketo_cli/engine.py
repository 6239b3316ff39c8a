"""The planning engine: one embedded DuckDB connection per run, its memory capped, spilling under the state folder.

Jobs keep whole-run data (people, members, keys, hashes) in its tables instead of Python objects, so memory stays
near `memory_limit` whatever the input size; past the limit DuckDB writes to `temp_directory`
(https://duckdb.org/docs/stable/configuration/overview). Docs: docs/engine.md.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import OutputError
from segmarketo_cli.paths import engine_dir, ensure_private_dir
from segmarketo_cli.sizes import MIN_MEMORY_BYTES, parse_memory_limit

LIST_ROWS = 100_000  # rows a process hands to DuckDB as Python lists before Arrow takes over (insert_columns)
COLUMN_TYPES = {"int64": "BIGINT", "int32": "INTEGER", "double": "DOUBLE", "bool": "BOOLEAN", "string": "VARCHAR",
                "binary": "BLOB", "list<string>": "VARCHAR[]"}  # a Columns type -> its DuckDB type
_list_rows_left = LIST_ROWS

if TYPE_CHECKING:  # DuckDB and pyarrow load with the first engine: runs planned in memory never import them
    import duckdb
    import pyarrow as pa


class Engine:
    """A DuckDB connection with `memory_limit` bytes, its database and spill files in a private folder that is
    removed when it closes.

    The profile lock is held while a job runs, so one engine at a time uses a profile's folder; whatever a killed
    run left there is removed when the next one opens it."""

    def __init__(self, temp_dir: Path, memory_limit: int, *, threads: int | None = None) -> None:
        import duckdb

        self.temp_dir = temp_dir
        self.memory_limit = memory_limit
        if temp_dir.exists():
            shutil.rmtree(temp_dir, ignore_errors=True)
        ensure_private_dir(temp_dir.parent)  # state/engine itself: mkdir(parents=True) would leave it 0755
        ensure_private_dir(temp_dir)
        config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": f"{memory_limit}B", "temp_directory": str(temp_dir), "preserve_insertion_order": True}
        if threads:
            config["threads"] = threads
        try:
            # A database file, not ":memory:": its tables are paged to disk like the spilled sorts and joins.
            self.con = duckdb.connect(str(temp_dir / "plan.duckdb"), config=config)
        except duckdb.Error as exc:
            raise OutputError(f"cannot start the planning engine in {temp_dir}: {exc}") from None

    def close(self) -> None:
        """Close the connection and remove the spill folder."""
        self.con.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def hold_to(self, share: float) -> None:
        """Hold DuckDB's buffers to `share` of memory_limit (never below MIN_MEMORY_BYTES) for the rest of the run,
        so the Python side of a job has the rest: DuckDB writes what is over to the spill folder."""
        held = max(int(self.memory_limit * share), min(self.memory_limit, MIN_MEMORY_BYTES))
        self.con.execute(f"SET memory_limit = '{held}B'")

    def disk_bytes(self) -> int:
        """Bytes the engine holds on disk right now: its database file and spilled buffers."""
        return sum(entry.stat().st_size for entry in os.scandir(self.temp_dir) if entry.is_file())


def open_engine(memory_limit: str, state_dir: Path, profile: str) -> Engine:
    """The engine for one run of `profile`, with the profile's memory_limit."""
    return Engine(engine_dir(state_dir, profile), parse_memory_limit(memory_limit))


def sql_text(text: str) -> str:
    """`text` as an SQL string literal (for names DuckDB takes only as constants: file paths, JSON paths, keys)."""
    return "'" + text.replace("'", "''") + "'"


def fetch_row(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    """The first row of a one-row query (None when it has none), fetched to its end: DuckDB refuses other work on
    the connection (`register`, so `insert_arrow`) while a result is unfinished, as `fetchone` leaves it."""
    rows = con.execute(sql, params).fetchall()
    return rows[0] if rows else None


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a key of COLUMN_TYPES


class Columns:
    """A table's columns for `create`, `insert_columns` and `insert_rows`: (name, type) pairs, each type a key of
    COLUMN_TYPES. Their Arrow schema is built, and pyarrow imported (about 0.2 CPU-s with numpy), only when a batch
    takes the Arrow way: a run that hands DuckDB no more than LIST_ROWS rows never imports it."""

    def __init__(self, *columns: tuple[str, str]) -> None:
        unknown = [kind for _, kind in columns if kind not in COLUMN_TYPES]
        if unknown:
            raise ValueError(f"column types {unknown} are none of {sorted(COLUMN_TYPES)}")
        self.columns = tuple(Column(name, kind) for name, kind in columns)

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def sql(self) -> str:
        """The columns as CREATE TABLE lists them."""
        return ", ".join(f"{column.name} {COLUMN_TYPES[column.type]}" for column in self.columns)

    @functools.cached_property
    def arrow(self) -> pa.Schema:
        import pyarrow as pa

        types = {"int64": pa.int64(), "int32": pa.int32(), "double": pa.float64(), "bool": pa.bool_(),
                 "string": pa.string(), "binary": pa.binary(), "list<string>": pa.list_(pa.string())}
        return pa.schema([(column.name, types[column.type]) for column in self.columns])


def create(con: duckdb.DuckDBPyConnection, table: str, columns: Columns) -> None:
    """An empty table `table` with `columns` (replacing one of that name)."""
    con.execute(f"CREATE OR REPLACE TABLE {table} ({columns.sql()})")


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table | pa.RecordBatch) -> None:
    """Append an Arrow table or batch (columns in `table`'s order) to `table`."""
    con.register("engine_batch", data)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM engine_batch")  # noqa: S608 - table names are constants
    finally:
        con.unregister("engine_batch")


def insert_columns(con: duckdb.DuckDBPyConnection, table: str, schema: Columns,
                   columns: Sequence[Sequence[Any]]) -> None:
    """Append rows given column by column (in `schema`'s order) to `table`: while the process's first LIST_ROWS
    rows last, as DuckDB lists (one `unnest` per column); then as one Arrow table per call.

    Building Arrow arrays from Python objects makes pyarrow import pandas (about 0.2 CPU-s and 47 MB, several
    seconds on a busy machine) to check the objects are not pandas ones; a DuckDB list costs about six times
    more per row than an Arrow array, so lists suit a small run and Arrow the rest of a large one."""
    global _list_rows_left
    if not columns or not columns[0]:
        return
    rows = len(columns[0])
    if rows <= _list_rows_left and "pandas" not in sys.modules:
        _list_rows_left -= rows
        lists = ", ".join(f"unnest(${n}::{COLUMN_TYPES[spec.type]}[])" for n, spec in enumerate(schema, start=1))
        con.execute(f"INSERT INTO {table} SELECT {lists}", [list(column) for column in columns])  # noqa: S608
        return
    import pyarrow as pa

    arrow = schema.arrow
    arrays = [pa.array(values, type=spec.type) for values, spec in zip(columns, arrow, strict=True)]
    insert_arrow(con, table, pa.Table.from_arrays(arrays, schema=arrow))


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, schema: Columns,
                rows: Sequence[tuple[Any, ...]]) -> None:
    """Append `rows` (tuples in `schema`'s column order) to `table`."""
    if rows:
        insert_columns(con, table, schema, list(zip(*rows, strict=True)))
