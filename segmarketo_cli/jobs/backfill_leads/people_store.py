"""backfill-leads' people store: what the last successful run knew of each person, so that a rerun whose only
change is new files reads just those (docs/backfill-leads.md, "Reruns on unchanged input").

One DuckDB file per profile, `<state folder>/people/<profile>.duckdb` (folder 0700, file 0600: it holds e-mail
addresses). Its tables:

- `meta`: the run that wrote it, that run's plan key, its input files in input order, the last message and identify
  numbers and the next free component number.
- `messages(seq, component, fold_seq, body)`: every message that touches a person, in input order, reduced to the
  record the engine path stages (staging.dump_record), with its sequence number and an identify's fold number,
  so a replay gives the very Person a full read gives.
- `nodes(node, component)`: every node name (u:, a:, e:) and the component (person) it belongs to.
- `people(component, key)`: each person's lead key as planned, to find a new person taking a known key.

A full run writes a new file beside the store and puts it in place only once the run ended ok; an incremental run
changes the store in one transaction, committed only then. A failed, partial or interrupted run leaves the previous
store as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmarketo_cli.engine import fetch_row
from segmarketo_cli.jobs.backfill_leads.records import Staged
from segmarketo_cli.paths import ensure_private_dir, people_dir

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

CHUNK = 50_000  # staged rows per Arrow batch
MESSAGES_SCHEMA = "seq BIGINT, fold_seq BIGINT, body BLOB"
META = ("CREATE TABLE meta (run_id VARCHAR, plan_key VARCHAR, files VARCHAR, last_seq BIGINT, last_fold BIGINT, "
        "next_component BIGINT)")



@dataclass(frozen=True)
class Meta:
    """Which run the store describes and the next free numbers after its messages."""

    run_id: str
    plan_key: str
    files: tuple[str, ...]
    last_seq: int
    last_fold: int
    next_component: int


def store_path(state_dir: Path, profile: str) -> Path:
    return people_dir(state_dir) / f"{profile}.duckdb"


def _connect(path: Path, memory_limit: int, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    import duckdb

    config: dict[str, Any] = {"memory_limit": f"{max(memory_limit, 32 << 20)}B", "threads": 1,
                              "temp_directory": str(path.parent / f".{path.name}.tmp"),
                              "preserve_insertion_order": True}
    return duckdb.connect(str(path), read_only=read_only, config=config)


def _private(path: Path) -> None:
    for name in (path, path.with_name(path.name + ".wal")):
        if name.exists():
            os.chmod(name, 0o600)


class GenerationWriter:
    """A full run's new store, written beside the live one while the run reads (a `.new` file) and put in place
    by `commit` once the run ended ok; `discard` removes it."""

    def __init__(self, state_dir: Path, profile: str, memory_limit: int) -> None:
        self.path = store_path(state_dir, profile)
        self.new = self.path.with_name(self.path.name + ".new")
        self.memory_limit = memory_limit
        self._con: duckdb.DuckDBPyConnection | None = None
        self._rows: list[Staged] = []
        self.seq = 0  # the last message number and identify number added
        self.fold = 0

    def add(self, seq: int, fold_seq: int | None, nodes: list[str], body: bytes) -> None:
        """One staged record (a staging.Tee)."""
        self._rows.append((seq, fold_seq, nodes, body))
        self.seq = seq
        if fold_seq is not None:
            self.fold = fold_seq
        if len(self._rows) >= CHUNK:
            self._flush()

    def _open(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            ensure_private_dir(self.path.parent)
            for stale in (self.new, self.new.with_name(self.new.name + ".wal")):
                stale.unlink(missing_ok=True)
            self._con = _connect(self.new, self.memory_limit)
            _private(self.new)
            self._con.execute(f"CREATE TABLE identity_messages ({MESSAGES_SCHEMA})")
            self._con.execute("CREATE TABLE identity_nodes (seq BIGINT, node VARCHAR)")
        return self._con

    def _flush(self) -> None:
        con = self._open()
        if self._rows:
            staged_messages, staged_nodes = _batches(self._rows)
            con.execute("INSERT INTO identity_messages SELECT * FROM staged_messages")
            con.execute("INSERT INTO identity_nodes SELECT * FROM staged_nodes")
            del staged_messages, staged_nodes
        self._rows = []

    def commit(self, meta: Meta, keys: Iterable[str | None]) -> None:
        """Settle the components (the same labelling as the engine path), attach each person's key (`keys`, in
        people order: first identify first) and put the new store in place of the old one."""
        from segmarketo_cli.jobs.backfill_leads.components import label_components

        self._flush()
        con = self._open()
        con.execute("CREATE TABLE node_first AS SELECT node, min(seq) AS seq FROM identity_nodes GROUP BY node")
        label_components(con)
        con.execute("CREATE TABLE nodes AS SELECT n.node, c.component FROM node_first n "
                    "JOIN identity_components c USING (seq)")
        con.execute("CREATE TABLE messages AS SELECT m.seq, c.component, m.fold_seq, m.body FROM identity_messages m "
                    "JOIN identity_components c USING (seq)")
        con.execute("CREATE TABLE people_order AS SELECT component, row_number() OVER (ORDER BY first_fold) AS n "
                    "FROM identity_people")
        con.execute("CREATE TABLE people (component BIGINT, key VARCHAR)")
        _insert_keys(con, keys)
        row = fetch_row(con, "SELECT coalesce(max(component), 0) + 1 FROM nodes")
        meta = Meta(meta.run_id, meta.plan_key, meta.files, meta.last_seq, meta.last_fold, int(row[0]) if row else 1)
        con.execute(META)
        _insert_meta(con, meta)
        for table in ("node_first", "identity_messages", "identity_components", "identity_people", "people_order",
                      "keys_in_order"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute("CHECKPOINT")
        con.close()
        self._con = None
        _private(self.new)
        os.replace(self.new, self.path)
        self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)

    def discard(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        for name in (self.new, self.new.with_name(self.new.name + ".wal")):
            name.unlink(missing_ok=True)


def _insert_keys(con: duckdb.DuckDBPyConnection, keys: Iterable[str | None]) -> None:
    """`people` from people_order (component, n) and the keys in people order, CHUNK at a time."""

    con.execute("CREATE TABLE keys_in_order (n BIGINT, key VARCHAR)")
    ns: list[int] = []
    values: list[str | None] = []
    for n, key in enumerate(keys, start=1):
        ns.append(n)
        values.append(key)
        if len(ns) >= CHUNK:
            _insert_key_batch(con, ns, values)
            ns, values = [], []
    _insert_key_batch(con, ns, values)
    con.execute("INSERT INTO people SELECT o.component, k.key FROM people_order o LEFT JOIN keys_in_order k USING (n)")


def _insert_key_batch(con: duckdb.DuckDBPyConnection, ns: list[int], values: list[str | None]) -> None:
    import pyarrow as pa

    batch = pa.table({"n": pa.array(ns, pa.int64()), "key": pa.array(values, pa.string())})  # noqa: F841
    con.execute("INSERT INTO keys_in_order SELECT * FROM batch")


def _insert_meta(con: duckdb.DuckDBPyConnection, meta: Meta) -> None:
    con.execute("INSERT INTO meta VALUES (?, ?, ?, ?, ?, ?)",
                [meta.run_id, meta.plan_key, json.dumps(list(meta.files)), meta.last_seq, meta.last_fold,
                 meta.next_component])


def _batches(rows: Sequence[Staged]) -> tuple[pa.Table, pa.Table]:
    """The staged rows as a messages table (seq, fold_seq, body) and a nodes table (seq, node)."""
    import pyarrow as pa

    messages = pa.table({"seq": pa.array([r[0] for r in rows], pa.int64()),
                         "fold_seq": pa.array([r[1] for r in rows], pa.int64()),
                         "body": pa.array([r[3] for r in rows], pa.binary())})
    node_seqs = [r[0] for r in rows for _ in r[2]]
    node_names = [n for r in rows for n in r[2]]
    nodes = pa.table({"seq": pa.array(node_seqs, pa.int64()), "node": pa.array(node_names, pa.string())})
    return messages, nodes


@dataclass(frozen=True)
class Update:
    """What an incremental run adds to the store: its new messages (each with its component), the stored components
    merged into another (old -> new), its new nodes, and the key of every person it planned."""

    meta: Meta
    messages: list[tuple[int, int, int | None, bytes]]  # seq, component, fold_seq, body
    renamed: dict[int, int]
    new_nodes: dict[str, int]
    people: list[tuple[int, str | None]]  # component, key
    dropped_people: list[int]  # stored components whose people row is replaced


class PeopleStore:
    """The live store, opened by a run that may read only its new files."""

    def __init__(self, path: Path, memory_limit: int) -> None:
        self.path = path
        self.con = _connect(path, memory_limit)

    @classmethod
    def open(cls, state_dir: Path, profile: str, memory_limit: int) -> PeopleStore | None:
        """The profile's store, or None when there is none or it cannot be read (the run then reads everything)."""
        import duckdb

        path = store_path(state_dir, profile)
        if not path.is_file():
            return None
        try:
            store = cls(path, memory_limit)
        except duckdb.Error:
            return None
        try:
            store.meta()
        except (duckdb.Error, ValueError, TypeError):
            store.close()
            return None
        return store

    def close(self) -> None:
        self.con.close()

    def meta(self) -> Meta:
        row = fetch_row(self.con, "SELECT run_id, plan_key, files, last_seq, last_fold, next_component FROM meta")
        if row is None:
            raise ValueError("people store without meta")
        run_id, plan_key, files, last_seq, last_fold, next_component = row
        return Meta(run_id, plan_key, tuple(json.loads(files)), int(last_seq), int(last_fold), int(next_component))

    def people_count(self, among: Iterable[int] | None = None) -> int:
        """How many people the store knows (of the components `among`, when given)."""
        import pyarrow as pa

        if among is None:
            row = fetch_row(self.con, "SELECT count(*) FROM people")
        else:
            wanted = pa.table({"component": pa.array(sorted(set(among)), pa.int64())})  # noqa: F841
            # `wanted` is found by DuckDB's replacement scan in this frame, so the query runs here, fetched to its end
            ((count,),) = self.con.execute(
                "SELECT count(*) FROM people p SEMI JOIN wanted w ON p.component = w.component").fetchall()
            return int(count)
        return int(row[0]) if row else 0

    def components_of(self, nodes: Iterable[str]) -> dict[str, int]:
        """The stored component of each of `nodes` that the store knows."""
        import pyarrow as pa

        wanted = pa.table({"node": pa.array(list(nodes), pa.string())})  # noqa: F841 - read by DuckDB below
        rows = self.con.execute("SELECT n.node, n.component FROM nodes n SEMI JOIN wanted w ON n.node = w.node"
                                ).fetchall()
        return {node: int(component) for node, component in rows}

    def messages_of(self, components: Iterable[int]) -> Iterator[tuple[int, int, int | None, bytes]]:
        """The stored (component, seq, fold_seq, body) of `components`, in input order."""
        import pyarrow as pa

        wanted = pa.table({"component": pa.array(sorted(set(components)), pa.int64())})  # noqa: F841
        cursor = self.con.cursor()
        try:
            sql = ("SELECT m.component, m.seq, m.fold_seq, m.body FROM messages m "
                   "SEMI JOIN wanted w ON m.component = w.component ORDER BY m.seq")
            for batch in cursor.sql(sql).to_arrow_reader(CHUNK):
                yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)
        finally:
            cursor.close()

    def key_holders(self, keys: Iterable[str], exclude: Iterable[int]) -> list[int]:
        """The stored components, other than `exclude`, whose person holds one of `keys`."""
        import pyarrow as pa

        wanted = pa.table({"key": pa.array(sorted(set(keys)), pa.string())})  # noqa: F841
        excluded = pa.table({"component": pa.array(sorted(set(exclude)), pa.int64())})  # noqa: F841
        rows = self.con.execute("SELECT p.component FROM people p SEMI JOIN wanted w ON p.key = w.key "
                                "ANTI JOIN excluded x ON p.component = x.component ORDER BY 1").fetchall()
        return [int(component) for (component,) in rows]

    def apply(self, update: Update) -> None:
        """Add what an incremental run learnt, in one transaction (all of it or nothing)."""
        import pyarrow as pa

        con = self.con
        renamed = pa.table({"old": pa.array(list(update.renamed), pa.int64()),  # noqa: F841
                            "new": pa.array(list(update.renamed.values()), pa.int64())})
        new_messages = pa.table({  # noqa: F841
            "seq": pa.array([m[0] for m in update.messages], pa.int64()),
            "component": pa.array([m[1] for m in update.messages], pa.int64()),
            "fold_seq": pa.array([m[2] for m in update.messages], pa.int64()),
            "body": pa.array([m[3] for m in update.messages], pa.binary())})
        new_nodes = pa.table({"node": pa.array(list(update.new_nodes), pa.string()),  # noqa: F841
                          "component": pa.array(list(update.new_nodes.values()), pa.int64())})
        dropped = pa.table({"component": pa.array(update.dropped_people, pa.int64())})  # noqa: F841
        new_people = pa.table({"component": pa.array([p[0] for p in update.people], pa.int64()),  # noqa: F841
                           "key": pa.array([p[1] for p in update.people], pa.string())})
        con.execute("BEGIN TRANSACTION")
        try:
            if update.renamed:
                con.execute("UPDATE messages SET component = r.new FROM renamed r WHERE messages.component = r.old")
                con.execute("UPDATE nodes SET component = r.new FROM renamed r WHERE nodes.component = r.old")
            con.execute("INSERT INTO messages SELECT * FROM new_messages")
            con.execute("INSERT INTO nodes SELECT * FROM new_nodes")
            con.execute("DELETE FROM people WHERE component IN (SELECT component FROM dropped)")
            con.execute("INSERT INTO people SELECT * FROM new_people")
            con.execute("DELETE FROM meta")
            _insert_meta(con, update.meta)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        _private(self.path)
