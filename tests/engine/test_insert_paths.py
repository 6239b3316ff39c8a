"""engine.insert_columns: rows handed over as DuckDB lists (a process's first rows) land exactly as the Arrow
tables of the rest do, for every column type and schema the jobs stage."""

from __future__ import annotations

import pickle
import sys
from itertools import cycle, islice

import pytest

from segmarketo_cli import engine as engine_module
from segmarketo_cli.engine import Columns, Engine, create, insert_columns, insert_rows
from segmarketo_cli.jobs.apply_events import staging as apply_staging
from segmarketo_cli.jobs.backfill_leads import plan_table
from segmarketo_cli.jobs.sync_audience import audience_table, members, resolve

SAMPLES = {
    "int64": [0, -1, 2**63 - 1, -(2**63), None],
    "int32": [0, -5, 2**31 - 1, None],
    "double": [0.0, -1.5, float("inf"), float("nan"), 1e300, 3, None],
    "bool": [True, False, None],
    "string": ["", "a\x00b", "é東🙂", None, "x" * 5_000, "'; DROP TABLE t; --"],
    "binary": [b"", b"\x00\xff", None, pickle.dumps({"a": [1, 2.5, None]})],
    "list<string>": [[], ["id:1&token:x", "b"], None, ["é"]],
}
SCHEMAS = {
    "backfill people": plan_table.PEOPLE, "backfill stored": plan_table.STORED, "backfill hashes": plan_table.HASHES,
    "backfill looked": plan_table.LOOKED, "backfill marks": plan_table.MARKS,
    "audience rows": audience_table.ROWS_SCHEMA, "audience extra ids": audience_table.EXTRA_IDS_SCHEMA,
    "audience members": members.MEMBER_SCHEMA, "audience cached": resolve.CACHED_SCHEMA,
    "audience resolved": resolve.RESOLVED_SCHEMA, "apply-events matches": apply_staging._MATCH,
    "apply-events rejects": apply_staging._REJECT, "apply-events who": apply_staging._WHO,
    "apply-events ids": apply_staging._IDS, "apply-events message ids": apply_staging._MESSAGE_IDS,
}


@pytest.fixture
def con(tmp_path, monkeypatch):
    """An engine's connection, in a process that has not imported pandas as far as insert_columns can tell (an
    Arrow insert of an earlier test has)."""
    monkeypatch.delitem(sys.modules, "pandas", raising=False)
    with Engine(tmp_path / "engine", 64 << 20) as opened:
        yield opened.con


def columns_for(schema: Columns, rows: int) -> list[list[object]]:
    return [list(islice(cycle(SAMPLES[spec.type]), rows)) for spec in schema]


def table_rows(con, table: str) -> list[str]:
    return [repr(row) for row in con.execute(f"SELECT * FROM {table}").fetchall()]


@pytest.mark.parametrize("name", SCHEMAS)
def test_lists_and_arrow_store_the_same_rows(con, monkeypatch, name):
    schema = SCHEMAS[name]
    columns = columns_for(schema, 60)
    for table in ("by_lists", "by_arrow"):
        create(con, table, schema)
    monkeypatch.setattr(engine_module, "_list_rows_left", 1_000)
    insert_columns(con, "by_lists", schema, columns)
    assert engine_module._list_rows_left == 940  # went as lists
    monkeypatch.setattr(engine_module, "_list_rows_left", 0)
    insert_columns(con, "by_arrow", schema, columns)
    stored = table_rows(con, "by_lists")
    assert len(stored) == 60
    assert stored == table_rows(con, "by_arrow")


def test_rows_past_the_budget_go_as_arrow_and_keep_their_order(con, monkeypatch):
    monkeypatch.setattr(engine_module, "_list_rows_left", 5)
    con.execute("CREATE TABLE t (key VARCHAR, hash VARCHAR)")
    insert_rows(con, "t", plan_table.STORED, [(f"k{n}", f"h{n}") for n in range(4)])
    assert engine_module._list_rows_left == 1
    insert_rows(con, "t", plan_table.STORED, [(f"k{n}", f"h{n}") for n in range(4, 10)])  # over what is left
    assert engine_module._list_rows_left == 1
    monkeypatch.delitem(sys.modules, "pandas", raising=False)  # as if the Arrow insert had not loaded it
    insert_rows(con, "t", plan_table.STORED, [("k10", "h10")])
    assert engine_module._list_rows_left == 0
    assert [key for (key,) in con.execute("SELECT key FROM t").fetchall()] == [f"k{n}" for n in range(11)]
