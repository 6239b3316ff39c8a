"""SQLite state store: runs, cursors, caches, lead ids, hashes, processed/pending events, cookies, rejects, usage."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..paths import ensure_private_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, command TEXT NOT NULL, profile TEXT NOT NULL,
  started_at REAL NOT NULL, finished_at REAL, status TEXT, report TEXT);
CREATE TABLE IF NOT EXISTS cursors (
  instance TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, updated_at REAL NOT NULL,
  PRIMARY KEY (instance, name));
CREATE TABLE IF NOT EXISTS cache (
  instance TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL NOT NULL,
  PRIMARY KEY (instance, key));
CREATE TABLE IF NOT EXISTS lead_ids (
  instance TEXT NOT NULL, field TEXT NOT NULL, key TEXT NOT NULL, lead_id INTEGER NOT NULL,
  updated_at REAL NOT NULL, PRIMARY KEY (instance, field, key, lead_id));
CREATE TABLE IF NOT EXISTS pushed_hashes (
  instance TEXT NOT NULL, field TEXT NOT NULL, key TEXT NOT NULL, hash TEXT NOT NULL,
  updated_at REAL NOT NULL, PRIMARY KEY (instance, field, key));
CREATE TABLE IF NOT EXISTS processed_events (
  instance TEXT NOT NULL, scope TEXT NOT NULL, message_id TEXT NOT NULL, applied_at REAL NOT NULL,
  PRIMARY KEY (instance, scope, message_id));
CREATE TABLE IF NOT EXISTS pending_actions (
  instance TEXT NOT NULL, scope TEXT NOT NULL, message_id TEXT NOT NULL, lead_id INTEGER NOT NULL,
  kind TEXT NOT NULL, field TEXT, value TEXT, created_at REAL NOT NULL,
  PRIMARY KEY (instance, scope, message_id, lead_id));
CREATE TABLE IF NOT EXISTS associated_cookies (
  instance TEXT NOT NULL, cookie TEXT NOT NULL, lead_id INTEGER NOT NULL, associated_at REAL NOT NULL,
  PRIMARY KEY (instance, cookie, lead_id));
CREATE TABLE IF NOT EXISTS rejects (
  run_id TEXT NOT NULL, path TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (run_id, path));
CREATE TABLE IF NOT EXISTS api_usage (
  instance TEXT NOT NULL, day TEXT NOT NULL, calls INTEGER NOT NULL, PRIMARY KEY (instance, day));
"""

_CHUNK = 500


class StateStore:
    """Thread-safe wrapper over one SQLite file per profile (dir 0700, file 0600)."""

    def __init__(self, state_dir: Path, profile: str) -> None:
        ensure_private_dir(state_dir)
        self.path = state_dir / f"{profile}.sqlite"
        self.profile = profile
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(self.path, 0o600)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    # runs ---------------------------------------------------------------------------------------
    def start_run(self, run_id: str, command: str, started_at: float | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs (run_id, command, profile, started_at) VALUES (?, ?, ?, ?)",
                (run_id, command, self.profile, started_at or time.time()),
            )

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

    def list_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT run_id, command, started_at, finished_at, status, report FROM runs "
            "ORDER BY started_at DESC LIMIT ?",
            (limit,),
        )
        return [self._run_row(row) for row in rows]

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run with this id, else the newest run whose id starts with it."""
        exact = self._query(
            "SELECT run_id, command, started_at, finished_at, status, report FROM runs WHERE run_id = ?", (run_id,)
        )
        if exact:
            return self._run_row(exact[0])
        found = self.find_runs(run_id, limit=1)
        return found[0] if found else None

    def find_runs(self, prefix: str, limit: int = 10) -> list[dict[str, Any]]:
        """Runs whose id starts with `prefix` (case-sensitive), newest first."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._query(
            "SELECT run_id, command, started_at, finished_at, status, report FROM runs "
            "WHERE run_id LIKE ? ESCAPE '\\' AND substr(run_id, 1, ?) = ? ORDER BY started_at DESC LIMIT ?",
            (escaped + "%", len(prefix), prefix, limit),
        )
        return [self._run_row(row) for row in rows]

    @staticmethod
    def _run_row(row: tuple) -> dict[str, Any]:
        run_id, command, started_at, finished_at, status, report = row
        return {
            "run_id": run_id,
            "command": command,
            "started_at": started_at,
            "finished_at": finished_at,
            "status": status or "running",
            "report": json.loads(report) if report else None,
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
            for key, lead_id in self._query(
                f"SELECT key, lead_id FROM lead_ids WHERE instance = ? AND field = ? AND key IN ({marks})",
                (instance, field, *chunk),
            ):
                found.setdefault(key, []).append(lead_id)
        return found

    def remember_lead_ids(self, instance: str, field: str, pairs: Iterable[tuple[str, list[int]]]) -> None:
        """Replace the cached ids of each key with the given list."""
        now = time.time()
        with self.transaction() as db:
            for key, ids in pairs:
                db.execute("DELETE FROM lead_ids WHERE instance = ? AND field = ? AND key = ?", (instance, field, key))
                db.executemany(
                    "INSERT OR REPLACE INTO lead_ids (instance, field, key, lead_id, updated_at) VALUES (?,?,?,?,?)",
                    [(instance, field, key, int(i), now) for i in ids],
                )

    def forget_lead_ids(self, instance: str, field: str, keys: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM lead_ids WHERE instance = ? AND field = ? AND key = ?",
                [(instance, field, k) for k in keys],
            )

    # pushed hashes (incremental backfill) -------------------------------------------------------
    def pushed_hashes(self, instance: str, field: str, keys: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        keys = list(keys)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                self._query(
                    f"SELECT key, hash FROM pushed_hashes WHERE instance = ? AND field = ? AND key IN ({marks})",
                    (instance, field, *chunk),
                )
            )
        return found

    def remember_hashes(self, instance: str, field: str, pairs: Iterable[tuple[str, str]]) -> None:
        now = time.time()
        with self.transaction() as db:
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
                for row in self._query(
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
        with self.transaction() as db:
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
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO pending_actions (instance, scope, message_id, lead_id, kind, field, value, "
                "created_at) VALUES (?,?,?,?,?,?,?,?)",
                [(instance, scope, m, int(lead), kind, fld, json.dumps(value), now)
                 for kind, scope, m, lead, fld, value in rows],
            )

    def pending(self, instance: str) -> list[dict[str, Any]]:
        """Every pending row of the instance, oldest first."""
        rows = self._query(
            "SELECT kind, scope, message_id, lead_id, field, value FROM pending_actions WHERE instance = ? "
            "ORDER BY created_at, scope, message_id",
            (instance,),
        )
        return [{"kind": k, "scope": s, "message_id": m, "lead_id": int(lead), "field": f, "value": json.loads(v)}
                for k, s, m, lead, f, v in rows]

    def clear_pending(self, instance: str, pairs: Iterable[tuple[str, str]]) -> None:
        """Drop the pending rows of these (scope, message_id) pairs: their write certainly did not happen."""
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM pending_actions WHERE instance = ? AND scope = ? AND message_id = ?",
                [(instance, scope, m) for scope, m in pairs],
            )

    # Munchkin cookies -----------------------------------------------------------------------------
    def associated_cookies(self, instance: str, pairs: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
        pairs = list(pairs)
        done = set()
        for cookie, lead_id in pairs:
            if self._query(
                "SELECT 1 FROM associated_cookies WHERE instance = ? AND cookie = ? AND lead_id = ?",
                (instance, cookie, lead_id),
            ):
                done.add((cookie, lead_id))
        return done

    def remember_cookie(self, instance: str, cookie: str, lead_id: int) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO associated_cookies (instance, cookie, lead_id, associated_at) VALUES (?,?,?,?)",
                (instance, cookie, lead_id, time.time()),
            )

    # Marketo calls per America/Chicago day (the daily budget across runs) --------------------------------
    def api_calls_on(self, instance: str, day: str) -> int:
        rows = self._query("SELECT calls FROM api_usage WHERE instance = ? AND day = ?", (instance, day))
        return int(rows[0][0]) if rows else 0

    def add_api_calls(self, instance: str, calls_by_day: dict[str, int]) -> None:
        """Add a run's calls to each day's total; days older than 31 days before the newest are dropped."""
        calls_by_day = {day: n for day, n in calls_by_day.items() if n > 0}
        if not calls_by_day:
            return
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO api_usage (instance, day, calls) VALUES (?, ?, ?) "
                "ON CONFLICT (instance, day) DO UPDATE SET calls = calls + excluded.calls",
                [(instance, day, n) for day, n in calls_by_day.items()],
            )
            db.execute("DELETE FROM api_usage WHERE instance = ? AND day < date(?, '-31 days')",
                       (instance, max(calls_by_day)))
