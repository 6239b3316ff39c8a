"""The listen spool: accepted Segment events in a private SQLite file (WAL, synchronous=FULL), group-committed."""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segmarketo_cli.errors import StateError
from segmarketo_cli.paths import ensure_private_dir

KEEP_DONE_S = 7 * 24 * 3600.0  # how long a done event's messageId still turns a Segment retry away
_GROUP_MAX = 512  # requests committed together at most


@dataclass(frozen=True)
class Event:
    """One accepted event: its messageId, its kind (identify, audience, track) and its JSON text."""

    message_id: str
    kind: str
    body: str


@dataclass(frozen=True)
class Spooled:
    """One pending event as the drain takes it."""

    seq: int
    message_id: str
    kind: str
    received_at: float
    body: str


class SpoolFull(Exception):
    """The spool holds `max_bytes` of pending events: the request is refused (503), nothing is written."""


class Spool:
    """Pending events on disk. `append` hands a request's events to the one writer thread, which commits every
    request waiting at that moment in one transaction (one fsync; no timed wait: a lone request is committed at
    once, and what arrives during a commit goes into the next one) and then resolves each request's future; the
    drain reads with `oldest` and settles with `mark_done`. A duplicate messageId (a Segment retry) is not
    spooled again, even after it was drained (done ids are kept `KEEP_DONE_S`)."""

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        ensure_private_dir(path.parent)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
        self._db = self._connect()
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL "
            "UNIQUE, type TEXT NOT NULL, received_at REAL NOT NULL, body TEXT, done_at REAL);"
            "CREATE INDEX IF NOT EXISTS events_pending ON events (seq) WHERE done_at IS NULL;")
        for suffix in ("-wal", "-shm"):
            side = Path(f"{path}{suffix}")
            if side.exists():
                os.chmod(side, 0o600)
        row = self._db.execute("SELECT count(*), coalesce(sum(length(body)), 0), min(received_at) FROM events "
                               "WHERE done_at IS NULL").fetchone()
        self._lock = threading.Lock()
        self.pending, self.pending_bytes = int(row[0]), int(row[1])
        self.events_in = self.events_out = self.duplicates = 0
        self.commits = 0  # transactions, one fsync each: events_in / commits is the group commit's yield
        self._oldest: float | None = row[2]
        self._reader = self._connect()
        self._jobs: queue.SimpleQueue[tuple[Callable[[sqlite3.Connection], Any], Future[Any]] | None] = \
            queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="spool-writer", daemon=True)
        self._writer.start()

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise StateError(f"listen spool {self.path} cannot be used ({exc}): move it aside and start again"
                             ) from None
        return db

    # -- intake ---------------------------------------------------------------------------------------------

    def append(self, events: Sequence[Event]) -> Future[int]:
        """Queue one request's events for the next group commit; the future gives how many were new. SpoolFull
        (at once) when they would take the pending events past `max_bytes`."""
        size = sum(len(event.body) for event in events)
        with self._lock:
            if self.pending_bytes + size > self.max_bytes:
                raise SpoolFull
        return self._submit(lambda db: self._insert(db, events))

    def _insert(self, db: sqlite3.Connection, events: Sequence[Event]) -> int:
        now = time.time()
        new = 0
        size = 0
        for event in events:
            cursor = db.execute("INSERT OR IGNORE INTO events (message_id, type, received_at, body) "
                                "VALUES (?, ?, ?, ?)", (event.message_id, event.kind, now, event.body))
            if cursor.rowcount:
                new += 1
                size += len(event.body)
        with self._lock:
            self.pending += new
            self.pending_bytes += size
            self.events_in += new
            self.duplicates += len(events) - new
            if new and self._oldest is None:
                self._oldest = now
        return new

    # -- drain ----------------------------------------------------------------------------------------------

    def oldest(self, limit: int) -> list[Spooled]:
        """Up to `limit` pending events, oldest first."""
        rows = self._reader.execute("SELECT seq, message_id, type, received_at, body FROM events "
                                    "WHERE done_at IS NULL ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [Spooled(int(r[0]), r[1], r[2], float(r[3]), r[4]) for r in rows]

    def mark_done(self, seqs: Sequence[int]) -> None:
        """Settle drained events (their body dropped, their messageId kept for duplicates); waits for the commit."""
        if seqs:
            self._submit(lambda db: self._settle(db, list(seqs))).result()

    def _settle(self, db: sqlite3.Connection, seqs: list[int]) -> None:
        now = time.time()
        size = count = 0
        for start in range(0, len(seqs), 500):
            part = seqs[start:start + 500]
            marks = ",".join("?" * len(part))
            row = db.execute(f"SELECT count(*), coalesce(sum(length(body)), 0) FROM events WHERE done_at IS NULL "
                             f"AND seq IN ({marks})", part).fetchone()
            count, size = count + int(row[0]), size + int(row[1])
            db.execute(f"UPDATE events SET done_at = ?, body = NULL WHERE done_at IS NULL AND seq IN ({marks})",
                       [now, *part])
        db.execute("DELETE FROM events WHERE done_at IS NOT NULL AND done_at < ?", (now - KEEP_DONE_S,))
        oldest = db.execute("SELECT min(received_at) FROM events WHERE done_at IS NULL").fetchone()[0]
        with self._lock:
            self.pending -= count
            self.pending_bytes -= size
            self.events_out += count
            self._oldest = oldest

    def oldest_age(self) -> float:
        """Seconds the oldest pending event has waited (0 when none waits)."""
        with self._lock:
            return max(0.0, time.time() - self._oldest) if self._oldest is not None and self.pending else 0.0

    # -- the writer thread ----------------------------------------------------------------------------------

    def _submit(self, job: Callable[[sqlite3.Connection], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._jobs.put((job, future))
        return future

    def _write_loop(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            group = [first]
            while len(group) < _GROUP_MAX:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._jobs.put(None)  # stop after this group
                    break
                group.append(item)
            self._commit(group)

    def _commit(self, group: list[tuple[Callable[[sqlite3.Connection], Any], Future[Any]]]) -> None:
        results: list[Any] = []
        try:
            self._db.execute("BEGIN IMMEDIATE")
            results = [job(self._db) for job, _ in group]
            self._db.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._resync()
            error = StateError(f"listen spool {self.path}: write failed ({exc})")
            for _, future in group:
                future.set_exception(error)
            return
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)

    def _resync(self) -> None:
        row = self._db.execute("SELECT count(*), coalesce(sum(length(body)), 0), min(received_at) FROM events "
                               "WHERE done_at IS NULL").fetchone()
        with self._lock:
            self.pending, self.pending_bytes, self._oldest = int(row[0]), int(row[1]), row[2]

    def close(self) -> None:
        """Commit what is queued, stop the writer and close the file."""
        self._jobs.put(None)
        self._writer.join()
        self._db.close()
        self._reader.close()
