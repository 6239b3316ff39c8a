"""backfill-leads people on the engine, step 1: every message that touches a person, staged for the replay.

Each message goes, in input order, to a file in the engine's private folder, already reduced to what the replay
folds (its links, and for an identify its traits and message time), so the replay parses nothing again; DuckDB
gets small integer rows (where each record sits in that file) and the node names, so the replay's sort moves
numbers, not messages.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segmarketo_cli.engine import Columns, Engine, create, insert_columns
from segmarketo_cli.identity import IDENTIFY, Links
from segmarketo_cli.jobs.backfill_leads.records import Tee, dump_record, load_record
from segmarketo_cli.timeparse import message_time

__all__ = ["BODIES", "CHUNK", "MESSAGES", "NODES", "MessageStage", "bodies_path", "dump_record", "load_record"]

MESSAGES = "identity_messages"  # seq, fold_seq (an identify's sequence number, else NULL), body_at, body_size
NODES = "identity_nodes"  # seq, node: the graph's node names of each staged message
BODIES = "identity-messages.bin"  # the staged records (see dump_record), in the engine's folder
CHUNK = 50_000  # rows handed to DuckDB at a time (engine.insert_columns), and read back at a time by the replay

_MESSAGES_SCHEMA = Columns(("seq", "int64"), ("fold_seq", "int64"), ("body_at", "int64"), ("body_size", "int64"))
_NODES_SCHEMA = Columns(("seq", "int64"), ("node", "string"))

def bodies_path(engine: Engine) -> Path:
    """Where the staged records of `engine`'s run are kept (removed with the engine's folder)."""
    return engine.temp_dir / BODIES


class MessageStage:
    """Stages messages in BODIES, MESSAGES and NODES, CHUNK rows at a time; `add` is IdentityGraph.add's drop-in
    for the read loop (same return value), the graph's own `links` deciding what a message touches."""

    def __init__(self, engine: Engine, links: Callable[[dict[str, Any]], Links | None], *,
                 tee: Tee | None = None) -> None:
        self.con = engine.con
        self._links = links
        self._tee = tee  # also handed every staged record (the people store of a full run)
        create(self.con, MESSAGES, _MESSAGES_SCHEMA)
        create(self.con, NODES, _NODES_SCHEMA)
        # 0600 like every file under the state folder: the messages hold e-mail addresses.
        self._bodies = os.fdopen(os.open(bodies_path(engine), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
        self._at = 0
        self.seq = 0  # messages staged
        self.folds = 0  # identifies staged: IdentityGraph's own sequence numbers
        self._rows: tuple[list[int], list[int | None], list[int], list[int]] = ([], [], [], [])
        self._nodes: tuple[list[int], list[str]] = ([], [])

    def add(self, message: dict[str, Any], origin: str) -> bool:
        """Stage `message` if it touches a person; True when IdentityGraph.add would count it used."""
        links = self._links(message)
        if links is None:
            return False
        self.seq += 1
        seq = self.seq
        if links.kind == IDENTIFY:
            self.folds += 1
            fold_seq: int | None = self.folds
            body = dump_record(origin, links, message.get("traits"), message_time(message))
        else:
            fold_seq = None
            body = dump_record(origin, links)
        if self._tee is not None:
            self._tee(seq, fold_seq, links.nodes, body)
        self.put(seq, fold_seq, links.nodes, body)
        return links.used

    def put(self, seq: int, fold_seq: int | None, nodes: list[str], body: bytes) -> None:
        """Stage one record already numbered (`dump_record` bytes): what `add` does once it has the numbers."""
        self._bodies.write(body)
        seqs, folds, body_at, body_size = self._rows
        seqs.append(seq)
        folds.append(fold_seq)
        body_at.append(self._at)
        body_size.append(len(body))
        self._at += len(body)
        node_seqs, names = self._nodes
        for node in nodes:
            node_seqs.append(seq)
            names.append(node)
        if len(seqs) >= CHUNK:
            self._flush()

    def close(self) -> None:
        """Hand the last rows to DuckDB and close the messages file."""
        self._flush()
        self._bodies.close()

    def _flush(self) -> None:
        if not self._rows[0]:
            return
        insert_columns(self.con, MESSAGES, _MESSAGES_SCHEMA, self._rows)
        insert_columns(self.con, NODES, _NODES_SCHEMA, self._nodes)
        self._rows = ([], [], [], [])
        self._nodes = ([], [])

