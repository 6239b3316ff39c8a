"""backfill-leads' staged records: each message that touches a person reduced to what the identity replay folds
(origin, links, an identify's traits and message time), numbered in input order. The engine path stages them
(staging.py); the people store keeps them between runs (people_store.py). No DuckDB or pyarrow here."""

from __future__ import annotations

import marshal
import pickle
from collections.abc import Callable
from typing import Any

from segmarketo_cli.identity import IDENTIFY, IdentityGraph, Links
from segmarketo_cli.timeparse import message_time

_PICKLE = 0x80  # the first byte of a pickle (protocol >= 2); a marshal dump never starts with it

Record = tuple[str, Links, Any, "float | None"]  # origin, links, traits (identify), message time (identify)
Tee = Callable[[int, "int | None", list[str], bytes], None]  # seq, fold_seq, node names, dump_record bytes
Staged = tuple[int, "int | None", list[str], bytes]  # what a Tee is handed, as one tuple


def dump_record(origin: str, links: Links, traits: Any = None, ts: float | None = None) -> bytes:
    """What the replay folds of one message (IdentityGraph.add_links' arguments) as bytes: marshal (the fastest
    round trip of parsed JSON), pickle for values marshal cannot write (a Parquet time column, say)."""
    record = (origin, links.kind, links.nodes, links.user_id, links.anon_id, links.email, links.cookie, traits, ts)
    try:
        return marshal.dumps(record)
    except ValueError:
        return pickle.dumps(record, protocol=5)


def load_record(body: bytes) -> Record:
    """The origin, links, traits and message time `dump_record` wrote."""
    origin, kind, nodes, user_id, anon_id, email, cookie, traits, ts = (
        pickle.loads(body) if body[0] == _PICKLE else marshal.loads(body))
    return origin, Links(kind, nodes, user_id, anon_id, email, cookie), traits, ts


class Recorder:
    """The read loop's `add` that numbers each message touching a person as MessageStage does (from `seq` and `fold`
    on, so a rerun's new files continue the numbers of the files before them) and hands its record to `keep`;
    with `graph`, the message is also folded into that graph, as IdentityGraph.add would."""

    def __init__(self, links: Callable[[dict[str, Any]], Links | None], keep: Tee, *, seq: int = 0, fold: int = 0,
                 graph: IdentityGraph | None = None) -> None:
        self._links = links
        self._keep = keep
        self._graph = graph
        self.seq = seq
        self.fold = fold

    def add(self, message: dict[str, Any], origin: str) -> bool:
        links = self._links(message)
        if links is None:
            return False
        self.seq += 1
        traits, ts, fold_seq = None, None, None
        if links.kind == IDENTIFY:
            self.fold += 1
            fold_seq = self.fold
            traits, ts = message.get("traits"), message_time(message)
            body = dump_record(origin, links, traits, ts)
        else:
            body = dump_record(origin, links)
        self._keep(self.seq, fold_seq, links.nodes, body)
        if self._graph is not None:
            self._graph.add_links(links, traits, ts, origin, fold_seq)
        return links.used
