"""backfill-leads people on the engine, step 3: each person rebuilt from their own messages, first identify first."""

from __future__ import annotations

import os
from collections.abc import Iterator

from segmarketo_cli.engine import Engine
from segmarketo_cli.identity import IdentityGraph, Person
from segmarketo_cli.jobs.backfill_leads.components import COMPONENTS, PEOPLE
from segmarketo_cli.jobs.backfill_leads.staging import CHUNK, MESSAGES, bodies_path, load_record

_IN_ORDER = f"""
    SELECT p.first_fold, m.fold_seq, m.body_at, m.body_size
    FROM {MESSAGES} m JOIN {COMPONENTS} c USING (seq) JOIN {PEOPLE} p USING (component)
    ORDER BY p.first_fold, m.seq"""


class RecordReader:
    """Reads the staged records file at the offsets the replay asks for, which follow people, not the file: a
    person's messages may lie far apart (a later day's identify), and the complex people of the columnar path are
    staged in no particular order.

    A few windows are kept, each following one run of reads: a read that starts in a window (or where it ends) but
    runs past its end moves that window on by READ_AHEAD bytes, so reads in file order read the file once, a window
    at a time; any other miss reads exactly the record asked for, so reads in no order cost what they read, never a
    whole window each (what a buffered file's seek and read cost, thousands of times over).
    """

    READ_AHEAD = 1 << 20
    # Runs of reads followed at once (a person's messages on up to 8 days of a date-partitioned export; with more,
    # each read costs one exact pread). A window holds at most READ_AHEAD bytes more than the longest record.
    WINDOWS = 8

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._windows: list[tuple[int, bytes]] = []  # (file offset, bytes), the most recently used first
        self.bytes_read = 0

    def read(self, at: int, size: int) -> bytes:
        """The `size` bytes at offset `at`."""
        if size <= 0:
            return b""
        windows = self._windows
        for i, (start, data) in enumerate(windows):
            offset = at - start
            if offset >= 0 and offset + size <= len(data):
                if i:
                    windows.insert(0, windows.pop(i))
                return data[offset:offset + size]
        for i, (start, data) in enumerate(windows):
            end = start + len(data)
            if start <= at <= end:  # the run this window follows goes on past its end: read ahead from there
                del windows[i]
                kept = data[at - start:]
                fresh = kept + self._pread(end, max(size - len(kept), self.READ_AHEAD), size - len(kept))
                break
        else:
            fresh = self._pread(at, size, size)
            del windows[self.WINDOWS - 1:]
        windows.insert(0, (at, fresh))
        return fresh[:size]

    def _pread(self, at: int, want: int, need: int) -> bytes:
        data = os.pread(self._fd, want, at)
        if len(data) < need:  # the file ends inside the record: it was cut short under the run
            raise OSError(f"the staged records end at byte {at + len(data)}, inside the record asked for")
        self.bytes_read += len(data)
        return data


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
        with path.open("rb", buffering=0) as bodies:
            reader = RecordReader(bodies.fileno())
            graph, current = IdentityGraph(nulls=nulls), None
            cursor.execute(_IN_ORDER)
            while rows := cursor.fetchmany(CHUNK):
                for first_fold, fold_seq, body_at, body_size in rows:
                    if first_fold != current:
                        if current is not None:
                            yield _person(graph)
                            graph = IdentityGraph(nulls=nulls)
                        current = first_fold
                    origin, links, traits, ts = load_record(reader.read(body_at, body_size))
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
