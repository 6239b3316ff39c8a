"""backfill-leads people on the engine, step 3: each person rebuilt from their own messages, first identify first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb

from segmarketo_cli.identity import IdentityGraph, Person
from segmarketo_cli.jobs.backfill_leads.components import COMPONENTS, PEOPLE
from segmarketo_cli.jobs.backfill_leads.staging import CHUNK, MESSAGES, load_message

_IN_ORDER = f"""
    SELECT p.first_fold, m.seq, m.fold_seq, m.origin, m.body
    FROM {MESSAGES} m JOIN {COMPONENTS} c USING (seq) JOIN {PEOPLE} p USING (component)
    ORDER BY p.first_fold, m.seq"""


def replay_people(con: duckdb.DuckDBPyConnection, *, nulls: str) -> Iterator[Person]:
    """Each person of the staged messages, in the order IdentityGraph.people gives (first identify first).

    A person's messages go, in input order and with their original sequence numbers, into a fresh graph of
    their own: every union of the whole-input graph stays inside one component, so it builds the same Person.
    The rows stream through a cursor of their own, so the caller may use `con` between two people; the tables
    are dropped once the last person is out.
    """
    cursor = con.cursor()
    try:
        reader = cursor.sql(_IN_ORDER).to_arrow_reader(CHUNK)
        graph, current = IdentityGraph(nulls=nulls), None
        for batch in reader:
            columns: list[list[Any]] = [column.to_pylist() for column in batch.columns]
            for first_fold, _seq, fold_seq, origin, body in zip(*columns, strict=True):
                if first_fold != current:
                    if current is not None:
                        yield _person(graph)
                        graph = IdentityGraph(nulls=nulls)
                    current = first_fold
                graph.add(load_message(body), origin, fold_seq)
        if current is not None:
            yield _person(graph)
        for table in (MESSAGES, COMPONENTS, PEOPLE):
            cursor.execute(f"DROP TABLE {table}")
    finally:
        cursor.close()


def _person(graph: IdentityGraph) -> Person:
    (person,) = graph.people(consume=True)
    return person
