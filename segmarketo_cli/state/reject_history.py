"""Reject history: fingerprints of the rejects earlier runs reported (bounded), and each run's reject origin files."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from segmarketo_cli.state.sqlite import StoreFile

KEPT_PER_COMMAND = 200_000  # the newest fingerprints per command; an older reject that comes back counts as new

# (the file as origins name it, then its resolved path, size in bytes, mtime in ns and content digest: the shape of
# sources.fingerprint.FileFingerprint).
OriginRow = tuple[str, str, int, int, str]


class RejectsRun(NamedTuple):
    """A run that wrote a rejects file."""

    run_id: str
    command: str
    started_at: float
    status: str | None
    path: str
    rejected: int


_RUNS = ("SELECT r.run_id, r.command, r.started_at, r.status, j.path, j.count FROM rejects j "
         "JOIN runs r ON r.run_id = j.run_id")


class RejectHistory:
    """Per profile: which rejects (by fingerprint) a command already reported, and where each run's came from."""

    def __init__(self, file: StoreFile) -> None:
        self._file = file

    def earlier(self, command: str, run_id: str, fingerprints: Sequence[str]) -> set[str]:
        """The fingerprints among `fingerprints` that a run of `command` other than `run_id` reported first."""
        if not fingerprints:
            return set()
        marks = ",".join("?" * len(fingerprints))
        rows = self._file.query(f"SELECT fingerprint FROM reject_fingerprints WHERE command = ? AND first_run != ? "
                                f"AND fingerprint IN ({marks})", (command, run_id, *fingerprints))
        return {str(row[0]) for row in rows}

    def remember(self, command: str, run_id: str, fingerprints: Iterable[str]) -> None:
        """Record that `run_id` reported these rejects (a known one keeps its first run and is seen again now)."""
        now = time.time()
        with self._file.transaction() as db:
            db.executemany(
                "INSERT INTO reject_fingerprints (command, fingerprint, first_run, last_run, seen_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (command, fingerprint) DO UPDATE SET "
                "last_run = excluded.last_run, seen_at = excluded.seen_at",
                [(command, fingerprint, run_id, run_id, now) for fingerprint in fingerprints])

    def forget(self, command: str, run_id: str) -> None:
        """Drop the fingerprints `run_id` reported first (its outcome did not report them to anyone)."""
        with self._file.transaction() as db:
            db.execute("DELETE FROM reject_fingerprints WHERE command = ? AND first_run = ?", (command, run_id))

    def prune(self, command: str, keep: int = KEPT_PER_COMMAND) -> None:
        """Keep only the `keep` fingerprints of `command` seen most recently."""
        with self._file.transaction() as db:
            db.execute("DELETE FROM reject_fingerprints WHERE command = ? AND seen_at < COALESCE((SELECT seen_at "
                       "FROM reject_fingerprints WHERE command = ? ORDER BY seen_at DESC LIMIT 1 OFFSET ?), 0)",
                       (command, command, keep - 1))

    def record_origins(self, run_id: str, origins: Iterable[OriginRow]) -> None:
        """The origin files of `run_id`'s rejects as they were when the run read them."""
        with self._file.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO reject_origins (run_id, name, path, size, mtime_ns, digest) "
                           "VALUES (?, ?, ?, ?, ?, ?)", [(run_id, *row) for row in origins])

    def origins(self, run_id: str) -> dict[str, OriginRow]:
        """The recorded origin files of `run_id`'s rejects, by the name their origins use."""
        rows = self._file.query("SELECT name, path, size, mtime_ns, digest FROM reject_origins WHERE run_id = ?",
                                (run_id,))
        return {str(n): (str(n), str(p), int(s), int(m), str(d)) for n, p, s, m, d in rows}

    def recorded_digest(self, run_id: str, path: str, size: int, mtime_ns: int) -> str | None:
        """The digest the run's input history holds for this exact file (same size and mtime), if any."""
        rows = self._file.query("SELECT digest FROM input_files WHERE run_id = ? AND path = ? AND size = ? "
                                "AND mtime_ns = ?", (run_id, path, size, mtime_ns))
        return str(rows[0][0]) if rows else None

    def runs(self, limit: int = 20, command: str | None = None) -> list[RejectsRun]:
        """The newest runs that wrote a rejects file, newest first."""
        where, params = (" WHERE r.command = ?", (command,)) if command else ("", ())
        rows = self._file.query(f"{_RUNS}{where} ORDER BY r.started_at DESC, r.run_id DESC LIMIT ?", (*params, limit))
        return [RejectsRun(str(a), str(b), float(c), d, str(e), int(f)) for a, b, c, d, e, f in rows]

    def run(self, run_id: str) -> RejectsRun | None:
        """The run with this id (or the newest whose id starts with it) when it wrote a rejects file."""
        rows = self._file.query(f"{_RUNS} WHERE r.run_id = ? OR substr(r.run_id, 1, ?) = ? "
                                "ORDER BY r.run_id = ? DESC, r.started_at DESC LIMIT 1",
                                (run_id, len(run_id), run_id, run_id))
        if not rows:
            return None
        found, command, started_at, status, path, count = rows[0]
        return RejectsRun(str(found), str(command), float(started_at), status, str(path), int(count))
