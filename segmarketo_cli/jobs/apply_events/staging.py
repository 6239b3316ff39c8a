"""The run's events in DuckDB tables: messageIds seen, matches and rejections, staged and read back in Arrow batches.

Whole-run state lives here instead of Python objects so memory stays near the engine's memory_limit whatever the
number of events (docs/engine.md); DuckDB spills the tables past the limit
(https://duckdb.org/docs/stable/guides/performance/how_to_tune_workloads#spilling-to-disk).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb

from segmarketo_cli.engine import Columns, create, insert_columns, insert_rows

CHUNK = 50_000  # rows per Arrow batch, both ways

_MATCH = Columns(("seq", "int64"), ("rule", "int32"), ("message_id", "string"), ("ts", "double"), ("origin", "string"),
                 ("who", "string"), ("payload", "binary"))
# rule is null for a malformed line; field and value only when a value was at fault
_REJECT = Columns(("seq", "int64"), ("rule", "int32"), ("message_id", "string"), ("origin", "string"),
                  ("reason", "string"), ("field", "string"), ("value", "binary"))
# --plan-out's reject rows, listed after the changes: rule empty for a malformed line, lead_id when a write was refused
_PLAN_REJECT = Columns(("seq", "int64"), ("lead_id", "int64"), ("rule", "string"), ("field", "string"),
                       ("value", "string"), ("reason", "string"), ("origin", "string"))
_WHO = Columns(("who", "string"), ("key", "string"), ("reason", "string"), ("email", "string"))
_IDS = Columns(("rule", "int32"), ("message_id", "string"))
_KEYS = Columns(("key", "string"))
_MESSAGE_IDS = Columns(("message_id", "string"))

_TABLES = {"ae_seen": _MESSAGE_IDS, "ae_chunk": _MESSAGE_IDS, "ae_matches": _MATCH, "ae_rejects": _REJECT,
           "ae_done": _IDS, "ae_plan_rejects": _PLAN_REJECT, "ae_who": _WHO, "ae_found": _KEYS}
_VIEWS = """
CREATE OR REPLACE VIEW ae_pending AS
    SELECT m.* FROM ae_matches m ANTI JOIN ae_done d ON d.rule = m.rule AND d.message_id = m.message_id;
CREATE OR REPLACE VIEW ae_keyed AS
    SELECT p.*, w.key, w.reason, w.email FROM ae_pending p JOIN ae_who w ON w.who = p.who;
CREATE OR REPLACE VIEW ae_ready AS SELECT k.* FROM ae_keyed k SEMI JOIN ae_found f ON f.key = k.key;
"""


def dump(value: Any) -> bytes | None:
    """A payload or rejected value as bytes that load back to an equal Python value."""
    return None if value is None else pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def load(blob: bytes | None) -> Any:
    return None if blob is None else pickle.loads(blob)  # noqa: S301 - bytes this run dumped itself


class _Rows:
    """Rows collected in Python and appended to a table one Arrow batch at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str, schema: Columns) -> None:
        self.con = con
        self.table = table
        self.schema = schema
        self.rows: list[tuple[Any, ...]] = []

    def add(self, *row: Any) -> None:
        self.rows.append(row)
        if len(self.rows) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        insert_rows(self.con, self.table, self.schema, self.rows)
        self.rows = []


def batches(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] = ()) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of `query`, CHUNK at a time, read on a cursor of its own so the caller may write to other tables
    of the same database meanwhile."""
    for batch in con.cursor().sql(query, params=list(params)).to_arrow_reader(CHUNK):
        yield list(zip(*(column.to_pylist() for column in batch.columns), strict=True))


def rows(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
    """The rows of `query` one by one, fetched a batch at a time (see `batches`)."""
    for batch in batches(con, query, params):
        yield from batch


class StagedEvents:
    """The tables one apply-events run fills while reading, then queries to plan; all in the engine's database."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        for table, columns in _TABLES.items():
            create(con, table, columns)
        con.execute(_VIEWS)
        self.matches = _Rows(con, "ae_matches", _MATCH)
        self.rejects = _Rows(con, "ae_rejects", _REJECT)
        self.who = _Rows(con, "ae_who", _WHO)
        self.done = _Rows(con, "ae_done", _IDS)
        self.found = _Rows(con, "ae_found", _KEYS)
        self.plan_rejects = _Rows(con, "ae_plan_rejects", _PLAN_REJECT)
        self.seq = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def seen_before(self, message_ids: list[str]) -> set[str]:
        """Which of these messageIds earlier chunks had, then remember them all (a chunk at a time)."""
        if not message_ids:
            return set()
        distinct = list(dict.fromkeys(message_ids))
        self.con.execute("DELETE FROM ae_chunk")
        insert_columns(self.con, "ae_chunk", _MESSAGE_IDS, [distinct])
        seen = {row[0] for row in self.con.execute(
            "SELECT c.message_id FROM ae_chunk c SEMI JOIN ae_seen s ON s.message_id = c.message_id").fetchall()}
        fresh = [m for m in distinct if m not in seen]
        insert_columns(self.con, "ae_seen", _MESSAGE_IDS, [fresh])
        return seen

    def add_match(self, rule: int, message_id: str, ts: float, origin: str, who: str, payload: Any) -> None:
        self.matches.add(self.next_seq(), rule, message_id, ts, origin, who, dump(payload))

    def add_reject(self, rule: int | None, message_id: str | None, origin: str, reason: str,
                   field: str | None = None, value: Any = None) -> None:
        self.rejects.add(self.next_seq(), rule, message_id, origin, reason, field, dump(value))

    def add_plan_reject(self, lead_id: int | None, rule: str, field: str | None, value: str | None, reason: str,
                        origin: str) -> None:
        self.plan_rejects.add(self.next_seq(), lead_id, rule, field, value, reason, origin)

    def flush(self) -> None:
        for table in (self.matches, self.rejects, self.who, self.done, self.found, self.plan_rejects):
            table.flush()

    def drop(self, *tables: str) -> None:
        """Drop tables no later step reads, so their buffers are free for the next ones."""
        for table in tables:
            self.con.execute(f"DROP TABLE IF EXISTS {table}")

    def count_by_rule(self, view: str, where: str = "TRUE") -> dict[int, int]:
        """Rows of `view` per rule index."""
        return dict(self.con.execute(f"SELECT rule, count(*) FROM {view} WHERE {where} GROUP BY rule").fetchall())  # noqa: S608
