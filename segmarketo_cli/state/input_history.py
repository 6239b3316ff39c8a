"""The input history: the files a command's last successful run read, so a rerun on the same input can skip them."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import NamedTuple

from segmarketo_cli.state.sqlite import StoreFile

# (resolved path, size in bytes, mtime in ns, content digest): the shape of sources.fingerprint.FileFingerprint.
FileRow = tuple[str, int, int, str]

_LAST_OK = ("SELECT i.run_id, i.plan_key FROM input_runs i JOIN runs r ON r.run_id = i.run_id "
            "WHERE i.command = ? AND r.status = 'ok' ORDER BY r.started_at DESC, i.run_id DESC LIMIT 1")


class RecordedInputs(NamedTuple):
    """The input files of a run that finished ok, with the plan key they were planned under."""

    run_id: str
    plan_key: str
    files: list[FileRow]


class InputHistory:
    """Per profile and command: the input files of the newest run that finished ok (status 'ok', exit 0).

    A run records its files before it ends; they count only once `runs` holds that run with status 'ok', so
    a run that then fails, is interrupted, is deferred, ends partial or dies leaves the previous record in force.
    """

    def __init__(self, file: StoreFile) -> None:
        self._file = file

    def last(self, command: str) -> RecordedInputs | None:
        """The files of `command`'s newest run that finished ok and recorded them; None when there is none."""
        found = self._file.query(_LAST_OK, (command,))
        if not found:
            return None
        run_id, plan_key = found[0]
        rows = self._file.query("SELECT path, size, mtime_ns, digest FROM input_files WHERE run_id = ? ORDER BY path",
                                (run_id,))
        return RecordedInputs(run_id, plan_key, [(str(p), int(s), int(m), str(d)) for p, s, m, d in rows])

    def record(self, run_id: str, command: str, plan_key: str, files: Iterable[FileRow]) -> None:
        """Remember `run_id`'s input files. Older records of `command` go, except the newest that finished ok
        (still the one in force until this run finishes ok)."""
        with self._file.transaction() as db:
            keep = db.execute(_LAST_OK, (command,)).fetchone()
            kept = (run_id, keep[0] if keep else run_id)
            stale = "SELECT run_id FROM input_runs WHERE command = ? AND run_id NOT IN (?, ?)"
            db.execute(f"DELETE FROM input_files WHERE run_id IN ({stale})", (command, *kept))
            db.execute("DELETE FROM input_runs WHERE command = ? AND run_id NOT IN (?, ?)", (command, *kept))
            db.execute("DELETE FROM input_files WHERE run_id = ?", (run_id,))
            db.execute("INSERT OR REPLACE INTO input_runs (run_id, command, plan_key, recorded_at) VALUES (?,?,?,?)",
                       (run_id, command, plan_key, time.time()))
            db.executemany("INSERT OR REPLACE INTO input_files (run_id, path, size, mtime_ns, digest) "
                           "VALUES (?, ?, ?, ?, ?)", [(run_id, *row) for row in files])
