"""Known rejects: a reject an earlier run of the profile and command already reported (same key, reason, content)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from segmarketo_cli.errors import InputError
from segmarketo_cli.sources.fingerprint import fingerprint, stat_file
from segmarketo_cli.state.reject_history import OriginRow, RejectHistory

FLUSH_EVERY = 500  # fingerprints of this run written in batches: one transaction per batch, not per reject
REPORTING_STATUSES = ("ok", "partial")  # a failed, deferred, refused or interrupted run's rejects stay new
KEY_FIELDS = ("key", "identity", "messageId", "lead_id")  # what names the record, by job; else its origin


def reject_fingerprint(command: str, reason: str, record: dict[str, Any]) -> str:
    """blake2b of (command, reason, record key, content digest). The content leaves the origin out (a nightly
    export moves records between lines) unless the origin is all that names the record (a malformed line)."""
    key = next((record[name] for name in KEY_FIELDS if record.get(name) is not None), None)
    content = {name: value for name, value in record.items() if name not in ("reason", "origin")}
    if key is None:
        key = record.get("origin")
    text = json.dumps([command, reason, key, content], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def origin_file(origin: Any) -> str | None:
    """The file part of a "path:line" origin, or None."""
    if not isinstance(origin, str):
        return None
    path, sep, line = origin.rpartition(":")
    return path if sep and path and line.isdigit() else None


class KnownRejects:
    """Tells, for each reject of the run, whether an earlier run of `command` reported it; remembers this run's
    (not a dry run's: a preview reports nothing) and, at close, the origin files its rejects came from."""

    def __init__(self, history: RejectHistory, command: str, run_id: str, *, remember: bool) -> None:
        self.history = history
        self.command = command
        self.run_id = run_id
        self.remember = remember
        self._pending: list[str] = []

    def seen(self, reason: str, record: dict[str, Any]) -> bool:
        """True when an earlier run reported this reject; the reject is remembered as this run's too."""
        fingerprint_ = reject_fingerprint(self.command, reason, record)
        known = bool(self.history.earlier(self.command, self.run_id, [fingerprint_]))
        if self.remember:
            self._pending.append(fingerprint_)
            if len(self._pending) >= FLUSH_EVERY:
                self._flush()
        return known

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            self.history.remember(self.command, self.run_id, pending)

    def close(self, origin_files: Iterable[str]) -> None:
        """Write the last fingerprints, keep the table bounded, record the origin files as they are now."""
        self._flush()
        if self.remember:
            self.history.prune(self.command)
        self.history.record_origins(self.run_id, [row for row in map(self._origin_row, sorted(origin_files)) if row])

    def settle(self, status: str) -> None:
        """Once the run's status is known: its rejects count as reported only when it ended ok or partial (a run
        that stopped, e.g. exit 75, did not show them to anyone: the rerun reports them as new)."""
        if self.remember and status not in REPORTING_STATUSES:
            self.history.forget(self.command, self.run_id)

    def _origin_row(self, name: str) -> OriginRow | None:
        try:
            stat = stat_file(Path(name))
        except InputError:
            return None  # gone already: --retry-rejects will say so
        digest = self.history.recorded_digest(self.run_id, *stat) or fingerprint(stat).digest
        return (name, stat.path, stat.size, stat.mtime_ns, digest)
