"""SQLite state: the profile's runs, cursors and cache; each instance's ledger (processed events, leads, usage)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from segmarketo_cli.paths import ensure_private_dir
from segmarketo_cli.state.change_log import ChangeLog
from segmarketo_cli.state.input_history import InputHistory
from segmarketo_cli.state.ledger import adopt_legacy_rows, instance_key, ledger_path, open_ledger
from segmarketo_cli.state.registry import claim
from segmarketo_cli.state.reject_history import RejectHistory
from segmarketo_cli.state.schema import PROFILE_MIGRATIONS
from segmarketo_cli.state.sqlite import StoreFile, unusable

_CHUNK = 500
_RUN_COLUMNS = "run_id, command, started_at, finished_at, status, report, pid, host, context"


class StateStore:
    """The profile's store (state/<profile>.sqlite) plus, per Marketo instance, the shared instance ledger.

    Methods that take an `instance` and guard "exactly once" (processed events, pending actions, lead ids,
    pushed hashes, cookies, API usage) read and write `state/instances/<key>.sqlite`, which every profile of
    the home that targets the instance shares; the per-user registry refuses a second home's ledger.
    """

    def __init__(self, state_dir: Path, profile: str) -> None:
        self.state_dir = state_dir
        self.path = state_dir / f"{profile}.sqlite"
        self.profile = profile
        self._file = StoreFile(self.path, PROFILE_MIGRATIONS)
        self._lock = threading.RLock()
        self._ledgers: dict[str, StoreFile] = {}
        self.input_history = InputHistory(self._file)
        self.reject_history = RejectHistory(self._file)
        self.change_log = ChangeLog(self._file)

    def close(self) -> None:
        with self._lock:
            for ledger in self._ledgers.values():
                ledger.close()
            self._ledgers.clear()
            self._file.close()

    def ledger_path(self, instance: str) -> Path:
        return ledger_path(self.state_dir, instance)

    def ledger(self, instance: str) -> StoreFile:
        """The instance's ledger, claimed in the registry (SafetyRefusal when another home holds it)."""
        with self._lock:
            found = self._ledgers.get(instance)
            if found is None:
                path = self.ledger_path(instance)
                try:
                    ensure_private_dir(path.parent)
                except OSError as exc:
                    raise unusable(path, exc) from None
                claim(instance_key(instance), instance, path)
                found = open_ledger(path, instance)
                adopt_legacy_rows(self._file, found, instance)
                self._ledgers[instance] = found
            return found

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._file.transaction() as db:
            yield db

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self._file.query(sql, params)

    # runs ---------------------------------------------------------------------------------------
    def start_run(self, run_id: str, command: str, started_at: float | None = None,
                  context: dict[str, Any] | None = None) -> None:
        """Record a run as started; `context` holds its arguments, inputs, profile and version (see `runs show`)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs (run_id, command, profile, started_at, pid, host, context) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, command, self.profile, started_at or time.time(), os.getpid(), socket.gethostname(),
                 json.dumps(context) if context is not None else None),
            )

    def abandon_unfinished_runs(self) -> list[str]:
        """Mark `abandoned` every run that never recorded its end, and return their ids, oldest first. Call it
        holding the profile lock: a live run holds that lock until it records its end, so these processes died
        (SIGKILL, power loss)."""
        with self.transaction() as db:
            ids = [row[0] for row in db.execute(
                "SELECT run_id FROM runs WHERE finished_at IS NULL AND status IS NULL ORDER BY started_at")]
            db.execute("UPDATE runs SET status = 'abandoned' WHERE finished_at IS NULL AND status IS NULL")
        return ids

    def finish_run(self, run_id: str, status: str, report: dict[str, Any], rejected: int = 0) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, report = ? WHERE run_id = ?",
                (time.time(), status, json.dumps(report), run_id),
            )
            if report.get("rejects_file"):
                db.execute(
                    "INSERT OR REPLACE INTO rejects (run_id, path, count) VALUES (?, ?, ?)",
                    (run_id, report["rejects_file"], rejected),
                )

    def list_runs(self, limit: int = 20, *, command: str | None = None, status: str | None = None,
                  since: float | None = None) -> list[dict[str, Any]]:
        """The newest runs, optionally only one command's, one status's ('running': not finished) or those
        started at or after `since` (epoch seconds)."""
        where: list[str] = []
        params: list[object] = []
        if command is not None:
            where.append("command = ?")
            params.append(command)
        if status is not None:
            where.append("COALESCE(status, 'running') = ?")
            params.append(status)
        if since is not None:
            where.append("started_at >= ?")
            params.append(since)
        rows = self._query(
            f"SELECT {_RUN_COLUMNS} FROM runs {'WHERE ' + ' AND '.join(where) if where else ''} "
            "ORDER BY started_at DESC LIMIT ?",
            (*params, limit),
        )
        return [self._run_row(row) for row in rows]

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run with this id, else the newest run whose id starts with it."""
        exact = self._query(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
        )
        if exact:
            return self._run_row(exact[0])
        found = self.find_runs(run_id, limit=1)
        return found[0] if found else None

    def find_runs(self, prefix: str, limit: int = 10) -> list[dict[str, Any]]:
        """Runs whose id starts with `prefix` (case-sensitive), newest first."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._query(
            f"SELECT {_RUN_COLUMNS} FROM runs "
            "WHERE run_id LIKE ? ESCAPE '\\' AND substr(run_id, 1, ?) = ? ORDER BY started_at DESC LIMIT ?",
            (escaped + "%", len(prefix), prefix, limit),
        )
        return [self._run_row(row) for row in rows]

    @staticmethod
    def _run_row(row: tuple[Any, ...]) -> dict[str, Any]:
        run_id, command, started_at, finished_at, status, report, pid, host, context = row
        return {
            "run_id": run_id,
            "command": command,
            "started_at": started_at,
            "finished_at": finished_at,
            "status": status or "running",
            "report": json.loads(report) if report else None,
            "pid": pid,
            "host": host,
            "context": json.loads(context) if context else None,
        }

    # cursors --------------------------------------------------------------------------------------
    def get_cursor(self, instance: str, name: str) -> str | None:
        rows = self._query("SELECT value FROM cursors WHERE instance = ? AND name = ?", (instance, name))
        return rows[0][0] if rows else None

    def set_cursor(self, instance: str, name: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO cursors (instance, name, value, updated_at) VALUES (?, ?, ?, ?)",
                (instance, name, value, time.time()),
            )

    def delete_cursor(self, instance: str, name: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM cursors WHERE instance = ? AND name = ?", (instance, name))

    # cache (describe, activity types, ...) ------------------------------------------------------
    def cache_get(self, instance: str, key: str) -> Any | None:
        rows = self._query(
            "SELECT value FROM cache WHERE instance = ? AND key = ? AND expires_at > ?", (instance, key, time.time())
        )
        return json.loads(rows[0][0]) if rows else None

    def cache_put(self, instance: str, key: str, value: Any, ttl_s: float = 86400) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO cache (instance, key, value, expires_at) VALUES (?, ?, ?, ?)",
                (instance, key, json.dumps(value), time.time() + ttl_s),
            )

    # lead-id cache ------------------------------------------------------------------------------
    def lead_ids_for(self, instance: str, field: str, keys: Iterable[str]) -> dict[str, list[int]]:
        """Cached lead ids for each key (normalised value of `field`); keys not cached are absent."""
        found: dict[str, list[int]] = {}
        keys = list(keys)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, lead_id in self.ledger(instance).query(
                f"SELECT key, lead_id FROM lead_ids WHERE instance = ? AND field = ? AND key IN ({marks})",
                (instance, field, *chunk),
            ):
                found.setdefault(key, []).append(lead_id)
        return found

    def remember_lead_ids(self, instance: str, field: str, pairs: Iterable[tuple[str, list[int]]]) -> None:
        """Replace the cached ids of each key with the given list."""
        now = time.time()
        with self.ledger(instance).transaction() as db:
            for key, ids in pairs:
                db.execute("DELETE FROM lead_ids WHERE instance = ? AND field = ? AND key = ?", (instance, field, key))
                db.executemany(
                    "INSERT OR REPLACE INTO lead_ids (instance, field, key, lead_id, updated_at) VALUES (?,?,?,?,?)",
                    [(instance, field, key, int(i), now) for i in ids],
                )

    def forget_lead_ids(self, instance: str, field: str, keys: Iterable[str]) -> None:
        with self.ledger(instance).transaction() as db:
            db.executemany(
                "DELETE FROM lead_ids WHERE instance = ? AND field = ? AND key = ?",
                [(instance, field, k) for k in keys],
            )

    # pushed hashes (incremental backfill) -------------------------------------------------------
    def knows_leads(self, instance: str, field: str) -> bool:
        """Whether any run left something about `instance`'s leads by `field`: a pushed hash, a cached lead id or a
        logged lead write (when not, a plan need not look its keys up one chunk at a time)."""
        ledger = self.ledger(instance)
        for table in ("pushed_hashes", "lead_ids"):
            if ledger.query(f"SELECT 1 FROM {table} WHERE instance = ? AND field = ? LIMIT 1", (instance, field)):
                return True
        return self.change_log.has_lead_writes(instance)

    def pushed_hashes(self, instance: str, field: str, keys: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        keys = list(keys)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                self.ledger(instance).query(
                    f"SELECT key, hash FROM pushed_hashes WHERE instance = ? AND field = ? AND key IN ({marks})",
                    (instance, field, *chunk),
                )
            )
        return found

    def remember_hashes(self, instance: str, field: str, pairs: Iterable[tuple[str, str]]) -> None:
        now = time.time()
        with self.ledger(instance).transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO pushed_hashes (instance, field, key, hash, updated_at) VALUES (?,?,?,?,?)",
                [(instance, field, k, h, now) for k, h in pairs],
            )

    # processed events (apply-events exactly once) -----------------------------------------------
    def processed(self, instance: str, scope: str, message_ids: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        ids = list(message_ids)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            seen.update(
                row[0]
                for row in self.ledger(instance).query(
                    f"SELECT message_id FROM processed_events WHERE instance = ? AND scope = ? "
                    f"AND message_id IN ({marks})",
                    (instance, scope, *chunk),
                )
            )
        return seen

    def mark_processed(self, instance: str, scope: str, message_ids: Iterable[str]) -> None:
        """Record events as applied and, in the same transaction, drop their pending rows."""
        now = time.time()
        ids = list(message_ids)
        with self.ledger(instance).transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO processed_events (instance, scope, message_id, applied_at) VALUES (?,?,?,?)",
                [(instance, scope, m, now) for m in ids],
            )
            if self._has_pending(db, instance):
                db.executemany(
                    "DELETE FROM pending_actions WHERE instance = ? AND scope = ? AND message_id = ?",
                    [(instance, scope, m) for m in ids],
                )

    # pending actions (a non-idempotent write sent, its confirmation not yet recorded) -------------------
    @staticmethod
    def _has_pending(db: sqlite3.Connection, instance: str) -> bool:
        row = db.execute("SELECT 1 FROM pending_actions WHERE instance = ? LIMIT 1", (instance,)).fetchone()
        return row is not None

    def add_pending(self, instance: str, rows: Iterable[tuple[str, str, str, int, str | None, Any]]) -> None:
        """Record (kind, scope, message_id, lead_id, field, value) rows before the write they describe is sent."""
        now = time.time()
        with self.ledger(instance).transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO pending_actions (instance, scope, message_id, lead_id, kind, field, value, "
                "created_at) VALUES (?,?,?,?,?,?,?,?)",
                [(instance, scope, m, int(lead), kind, fld, json.dumps(value), now)
                 for kind, scope, m, lead, fld, value in rows],
            )

    def pending(self, instance: str) -> list[dict[str, Any]]:
        """Every pending row of the instance, oldest first."""
        rows = self.ledger(instance).query(
            "SELECT kind, scope, message_id, lead_id, field, value FROM pending_actions WHERE instance = ? "
            "ORDER BY created_at, scope, message_id",
            (instance,),
        )
        return [{"kind": k, "scope": s, "message_id": m, "lead_id": int(lead), "field": f, "value": json.loads(v)}
                for k, s, m, lead, f, v in rows]

    def clear_pending(self, instance: str, pairs: Iterable[tuple[str, str]]) -> None:
        """Drop the pending rows of these (scope, message_id) pairs: their write certainly did not happen."""
        with self.ledger(instance).transaction() as db:
            db.executemany(
                "DELETE FROM pending_actions WHERE instance = ? AND scope = ? AND message_id = ?",
                [(instance, scope, m) for scope, m in pairs],
            )

    # Munchkin cookies -----------------------------------------------------------------------------
    def associated_cookies(self, instance: str, pairs: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
        pairs = list(pairs)
        done = set()
        for cookie, lead_id in pairs:
            if self.ledger(instance).query(
                "SELECT 1 FROM associated_cookies WHERE instance = ? AND cookie = ? AND lead_id = ?",
                (instance, cookie, lead_id),
            ):
                done.add((cookie, lead_id))
        return done

    def remember_cookie(self, instance: str, cookie: str, lead_id: int) -> None:
        with self.ledger(instance).transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO associated_cookies (instance, cookie, lead_id, associated_at) VALUES (?,?,?,?)",
                (instance, cookie, lead_id, time.time()),
            )

    # Marketo calls per America/Chicago day (the daily budget across runs) --------------------------------
    def api_calls_on(self, instance: str, day: str) -> int:
        rows = self.ledger(instance).query("SELECT calls FROM api_usage WHERE instance = ? AND day = ?",
                                           (instance, day))
        return int(rows[0][0]) if rows else 0

    def add_api_calls(self, instance: str, calls_by_day: dict[str, int]) -> None:
        """Add a run's calls to each day's total; days older than 31 days before the newest are dropped."""
        calls_by_day = {day: n for day, n in calls_by_day.items() if n > 0}
        if not calls_by_day:
            return
        with self.ledger(instance).transaction() as db:
            db.executemany(
                "INSERT INTO api_usage (instance, day, calls) VALUES (?, ?, ?) "
                "ON CONFLICT (instance, day) DO UPDATE SET calls = calls + excluded.calls",
                [(instance, day, n) for day, n in calls_by_day.items()],
            )
            db.execute("DELETE FROM api_usage WHERE instance = ? AND day < date(?, '-31 days')",
                       (instance, max(calls_by_day)))
