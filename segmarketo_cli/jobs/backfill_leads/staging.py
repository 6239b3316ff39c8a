"""backfill-leads people on the engine, step 1: every message that touches a person, staged in DuckDB tables."""

from __future__ import annotations

import marshal
import pickle
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa

from segmarketo_cli.identity import IDENTIFY, Links

MESSAGES = "identity_messages"  # seq, fold_seq (an identify's sequence number, else NULL), origin, body
NODES = "identity_nodes"  # seq, node: the graph's node names of each staged message
CHUNK = 50_000  # rows per Arrow batch handed to DuckDB
_PICKLE = 0x80  # the first byte of a pickle (protocol >= 2); a marshal dump never starts with it

_MESSAGES_SCHEMA = pa.schema([("seq", pa.int64()), ("fold_seq", pa.int64()), ("origin", pa.string()),
                              ("body", pa.binary())])
_NODES_SCHEMA = pa.schema([("seq", pa.int64()), ("node", pa.string())])


def dump_message(message: dict[str, Any]) -> bytes:
    """`message` as bytes for the replay: marshal (the fastest round trip of parsed JSON), pickle for values
    marshal cannot write (a Parquet time column, say)."""
    try:
        return marshal.dumps(message)
    except ValueError:
        return pickle.dumps(message, protocol=5)


def load_message(body: bytes) -> dict[str, Any]:
    """The message `dump_message` wrote."""
    message: dict[str, Any] = pickle.loads(body) if body[0] == _PICKLE else marshal.loads(body)
    return message


class MessageStage:
    """Stages messages in MESSAGES and NODES, CHUNK rows at a time; `add` is IdentityGraph.add's drop-in for
    the read loop (same return value), the graph's own `links` deciding what a message touches."""

    def __init__(self, con: duckdb.DuckDBPyConnection, links: Callable[[dict[str, Any]], Links | None]) -> None:
        self.con = con
        self._links = links
        con.execute(f"CREATE OR REPLACE TABLE {MESSAGES} (seq BIGINT, fold_seq BIGINT, origin VARCHAR, body BLOB)")
        con.execute(f"CREATE OR REPLACE TABLE {NODES} (seq BIGINT, node VARCHAR)")
        self.seq = 0  # messages staged
        self.folds = 0  # identifies staged: IdentityGraph's own sequence numbers
        self._rows: tuple[list[int], list[int | None], list[str], list[bytes]] = ([], [], [], [])
        self._nodes: tuple[list[int], list[str]] = ([], [])

    def add(self, message: dict[str, Any], origin: str) -> bool:
        """Stage `message` if it touches a person; True when IdentityGraph.add would count it used."""
        links = self._links(message)
        if links is None:
            return False
        self.seq += 1
        seq = self.seq
        fold_seq = None
        if links.kind == IDENTIFY:
            self.folds += 1
            fold_seq = self.folds
        seqs, folds, origins, bodies = self._rows
        seqs.append(seq)
        folds.append(fold_seq)
        origins.append(origin)
        bodies.append(dump_message(message))
        node_seqs, nodes = self._nodes
        for node in links.nodes:
            node_seqs.append(seq)
            nodes.append(node)
        if len(seqs) >= CHUNK:
            self.flush()
        return links.used

    def flush(self) -> None:
        """Hand the rows gathered so far to DuckDB."""
        if not self._rows[0]:
            return
        self._insert(MESSAGES, pa.record_batch(list(self._rows), schema=_MESSAGES_SCHEMA))
        self._insert(NODES, pa.record_batch(list(self._nodes), schema=_NODES_SCHEMA))
        self._rows = ([], [], [], [])
        self._nodes = ([], [])

    def _insert(self, table: str, batch: pa.RecordBatch) -> None:
        self.con.register("identity_batch", batch)
        try:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM identity_batch")
        finally:
            self.con.unregister("identity_batch")
