"""backfill-leads people on the engine, step 3: each person rebuilt from their own messages, first identify first."""

from __future__ import annotations

from collections.abc import Iterator

from segmarketo_cli.engine import Engine
from segmarketo_cli.identity import IdentityGraph, Person
from segmarketo_cli.jobs.backfill_leads.components import COMPONENTS, PEOPLE
from segmarketo_cli.jobs.backfill_leads.staging import CHUNK, MESSAGES, bodies_path, load_record

_IN_ORDER = f"""
    SELECT p.first_fold, m.fold_seq, m.body_at, m.body_size
    FROM {MESSAGES} m JOIN {COMPONENTS} c USING (seq) JOIN {PEOPLE} p USING (component)
    ORDER BY p.first_fold, m.seq"""
_READ_BUFFER = 1 << 20  # people come roughly in input order, so most reads land in the buffer already filled


def replay_people(engine: Engine, *, nulls: str) -> Iterator[Person]:
    """Each person of the staged messages, in the order IdentityGraph.people gives (first identify first).

    A person's staged messages go, in input order and with their original sequence numbers, into a fresh graph of
    their own: every union of the whole-input graph stays inside one component, so it builds the same Person.
    The rows stream through a cursor of their own, so the caller may use the engine's connection between two
    people; the tables and the messages file are removed once the last person is out.
    """
    path = bodies_path(engine)
    cursor = engine.con.cursor()
    try:
        with path.open("rb", buffering=_READ_BUFFER) as bodies:
            graph, current = IdentityGraph(nulls=nulls), None
            cursor.execute(_IN_ORDER)
            while rows := cursor.fetchmany(CHUNK):
                for first_fold, fold_seq, body_at, body_size in rows:
                    if first_fold != current:
                        if current is not None:
                            yield _person(graph)
                            graph = IdentityGraph(nulls=nulls)
                        current = first_fold
                    bodies.seek(body_at)
                    origin, links, traits, ts = load_record(bodies.read(body_size))
                    graph.add_links(links, traits, ts, origin, fold_seq)
            if current is not None:
                yield _person(graph)
        for table in (MESSAGES, COMPONENTS, PEOPLE):
            cursor.execute(f"DROP TABLE {table}")
        path.unlink()
    finally:
        cursor.close()


def _person(graph: IdentityGraph) -> Person:
    (person,) = graph.people(consume=True)
    return person
