"""plan_table.stream: the same rows, in lists of exactly `size`, whether it reads Python rows (pyarrow not loaded) or
Arrow batches (loaded)."""

from __future__ import annotations

import pytest

from segmarketo_cli.engine import Engine
from segmarketo_cli.jobs.backfill_leads import plan_table
from segmarketo_cli.jobs.backfill_leads.plan_table import stream

ROWS = 53


@pytest.fixture
def con(tmp_path):
    with Engine(tmp_path / "engine", 64 << 20) as engine:
        engine.con.execute(f"""
            CREATE TABLE t AS SELECT i AS n, CASE WHEN i % 5 = 0 THEN NULL ELSE 'é' || i END AS text,
                   ('\\x00' || i)::BLOB AS blob, CASE WHEN i % 4 = 0 THEN NULL ELSE ['a', i::VARCHAR] END AS list,
                   i / 3 AS ratio, i % 2 = 0 AS even
            FROM range({ROWS}) r(i)""")
        yield engine.con


def chunks(con, monkeypatch, *, arrow: bool) -> list[list[tuple[object, ...]]]:
    if arrow:
        import pyarrow  # noqa: F401 - loaded, as a real run's people store loads it
    monkeypatch.setattr(plan_table, "_arrow_loaded", lambda: arrow)
    return list(stream(con, "SELECT * FROM t WHERE n >= $low ORDER BY n", {"low": 0}, size=10))


@pytest.mark.parametrize("arrow", [False, True], ids=["python rows", "arrow batches"])
def test_lists_of_exactly_size_the_last_shorter(con, monkeypatch, arrow):
    got = chunks(con, monkeypatch, arrow=arrow)
    assert [len(chunk) for chunk in got] == [10, 10, 10, 10, 10, 3]
    assert [row[0] for chunk in got for row in chunk] == list(range(ROWS))


def test_both_ways_give_the_same_values(con, monkeypatch):
    rows = chunks(con, monkeypatch, arrow=False)
    assert rows[0][1] == (1, "é1", b"\x001", ["a", "1"], 1 / 3, False)
    assert rows[0][0][1] is None
    assert chunks(con, monkeypatch, arrow=True) == rows

