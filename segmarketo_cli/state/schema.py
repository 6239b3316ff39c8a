"""The schema of each state file, version by version: ordered migrations keyed by `PRAGMA user_version`.

History of the profile store (state/<profile>.sqlite). Before versioning (user_version 0) it held every table
and came in three shapes: the first release (runs, cursors, cache, rejects, lead_ids, pushed_hashes,
processed_events, associated_cookies), then with api_usage, then with pending_actions. Version 1 keeps only the
profile's own tables; the instance tables moved to one ledger per Marketo instance (state/instances/<key>.sqlite),
whose rows `ledger.adopt_legacy_rows` moves out of an old store when that instance's ledger first opens.
Version 2 adds the input history (input_runs, input_files): the files of each command's last successful run,
so a rerun on unchanged input can skip reading it (docs/state.md "Input history").
Version 3 adds `pid` and `host` to `runs`: the process that recorded a run, shown when a run is found abandoned.
Version 4 adds `runs.context`: the arguments (secrets redacted), inputs, profile and tool version of each run.
Version 5 adds the reject fingerprints (reject_fingerprints, reject_origins): which rejects earlier runs already
reported, and the origin files of each run's rejects, for --retry-rejects (docs/state.md "Known rejects").
Version 6 adds the change log (changes): every write a real run made, with before and after values, for
`runs show --changes` and `runs undo` (docs/state.md "Change log").
Version 7 indexes the change log by run and lead (changes_lead), so `runs undo` reads a run's changes a few
leads at a time.
Every migration only creates what is missing, so it is safe on any of those shapes and on a half-made file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

Migration = tuple[int, Callable[[sqlite3.Connection], None]]

PROFILE_TABLES = (
    """CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, command TEXT NOT NULL, profile TEXT NOT NULL,
  started_at REAL NOT NULL, finished_at REAL, status TEXT, report TEXT)""",
    """CREATE TABLE IF NOT EXISTS cursors (
  instance TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, updated_at REAL NOT NULL,
  PRIMARY KEY (instance, name))""",
    """CREATE TABLE IF NOT EXISTS cache (
  instance TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL NOT NULL,
  PRIMARY KEY (instance, key))""",
    """CREATE TABLE IF NOT EXISTS rejects (
  run_id TEXT NOT NULL, path TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (run_id, path))""",
)

# A run's input files, fingerprinted before it read them; they count once `runs` says the run finished ok.
INPUT_HISTORY = (
    """CREATE TABLE IF NOT EXISTS input_runs (
  run_id TEXT PRIMARY KEY, command TEXT NOT NULL, plan_key TEXT NOT NULL, recorded_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS input_files (
  run_id TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, digest TEXT NOT NULL,
  PRIMARY KEY (run_id, path))""",
)

# The process that recorded a run: a run left without an end is reported with them once found abandoned.
RUN_PROCESS_COLUMNS = (("pid", "INTEGER"), ("host", "TEXT"))

# Rejects an earlier run reported (bounded: the newest per command are kept), and the files the rejects came from.
REJECT_HISTORY = (
    """CREATE TABLE IF NOT EXISTS reject_fingerprints (
  command TEXT NOT NULL, fingerprint TEXT NOT NULL, first_run TEXT NOT NULL, last_run TEXT NOT NULL,
  seen_at REAL NOT NULL, PRIMARY KEY (command, fingerprint))""",
    "CREATE INDEX IF NOT EXISTS reject_fingerprints_seen ON reject_fingerprints (command, seen_at)",
    """CREATE TABLE IF NOT EXISTS reject_origins (
  run_id TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  digest TEXT NOT NULL, PRIMARY KEY (run_id, name))""",
)

# Every write of a real run, one row per record; `fields` is JSON {field: [before, after]} ([after] when the
# before-value is unknown). Keyed by run; the key index answers "the newest value a run wrote" for plans.
CHANGE_LOG = (
    """CREATE TABLE IF NOT EXISTS changes (
  run_id TEXT NOT NULL, seq INTEGER NOT NULL, instance TEXT NOT NULL, recorded_at REAL NOT NULL,
  action TEXT NOT NULL, key TEXT, lead_id INTEGER, target TEXT, fields TEXT, reason TEXT, origin TEXT,
  PRIMARY KEY (run_id, seq))""",
    "CREATE INDEX IF NOT EXISTS changes_key ON changes (instance, key)",
)
CHANGE_LOG_BY_LEAD = ("CREATE INDEX IF NOT EXISTS changes_lead ON changes (run_id, lead_id, seq)",)

# Every ledger table is keyed by instance; before version 1 of the profile store they lived there.
LEDGER_TABLES = ("processed_events", "pending_actions", "lead_ids", "pushed_hashes", "associated_cookies",
                 "api_usage")

LEDGER_V1 = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS lead_ids (
  instance TEXT NOT NULL, field TEXT NOT NULL, key TEXT NOT NULL, lead_id INTEGER NOT NULL,
  updated_at REAL NOT NULL, PRIMARY KEY (instance, field, key, lead_id))""",
    """CREATE TABLE IF NOT EXISTS pushed_hashes (
  instance TEXT NOT NULL, field TEXT NOT NULL, key TEXT NOT NULL, hash TEXT NOT NULL,
  updated_at REAL NOT NULL, PRIMARY KEY (instance, field, key))""",
    """CREATE TABLE IF NOT EXISTS processed_events (
  instance TEXT NOT NULL, scope TEXT NOT NULL, message_id TEXT NOT NULL, applied_at REAL NOT NULL,
  PRIMARY KEY (instance, scope, message_id))""",
    """CREATE TABLE IF NOT EXISTS pending_actions (
  instance TEXT NOT NULL, scope TEXT NOT NULL, message_id TEXT NOT NULL, lead_id INTEGER NOT NULL,
  kind TEXT NOT NULL, field TEXT, value TEXT, created_at REAL NOT NULL,
  PRIMARY KEY (instance, scope, message_id, lead_id))""",
    """CREATE TABLE IF NOT EXISTS associated_cookies (
  instance TEXT NOT NULL, cookie TEXT NOT NULL, lead_id INTEGER NOT NULL, associated_at REAL NOT NULL,
  PRIMARY KEY (instance, cookie, lead_id))""",
    """CREATE TABLE IF NOT EXISTS api_usage (
  instance TEXT NOT NULL, day TEXT NOT NULL, calls INTEGER NOT NULL, PRIMARY KEY (instance, day))""",
)

REGISTRY_V1 = (
    """CREATE TABLE IF NOT EXISTS instances (
  key TEXT PRIMARY KEY, instance TEXT NOT NULL, ledger TEXT NOT NULL, claimed_at REAL NOT NULL)""",
)


def _execute(db: sqlite3.Connection, statements: Sequence[str]) -> None:
    for statement in statements:
        db.execute(statement)


def profile_v1(db: sqlite3.Connection) -> None:
    """The profile's own tables: runs, cursors, cache and rejects (every older shape already has them)."""
    _execute(db, PROFILE_TABLES)


def profile_v2(db: sqlite3.Connection) -> None:
    """The input history: each command's input files (path, size, mtime, digest) and plan key, by run."""
    _execute(db, INPUT_HISTORY)


def _add_columns(db: sqlite3.Connection, table: str, columns: Sequence[tuple[str, str]]) -> None:
    """Add each (name, type) column `table` lacks: safe on a store half-upgraded before its version was set."""
    present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    for column, kind in columns:
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def profile_v3(db: sqlite3.Connection) -> None:
    """Who ran each run: `runs.pid` and `runs.host` (NULL for runs recorded before; docs/state.md "Runs")."""
    _add_columns(db, "runs", RUN_PROCESS_COLUMNS)


def profile_run_context(db: sqlite3.Connection) -> None:
    """`runs.context`: what a run was started with (JSON), shown by `runs show`; NULL for older runs."""
    _add_columns(db, "runs", (("context", "TEXT"),))


def profile_reject_history(db: sqlite3.Connection) -> None:
    """Reject fingerprints (known rejects) and the origin files of each run's rejects (--retry-rejects)."""
    _execute(db, REJECT_HISTORY)


def profile_change_log(db: sqlite3.Connection) -> None:
    """The change log: each real run's writes with before and after values (docs/state.md "Change log")."""
    _execute(db, CHANGE_LOG)


def profile_change_log_by_lead(db: sqlite3.Connection) -> None:
    """The change log's (run, lead, seq) index: one run's changes a few leads at a time (`runs undo`)."""
    _execute(db, CHANGE_LOG_BY_LEAD)


def ledger_v1(db: sqlite3.Connection) -> None:
    """The instance ledger: what makes writes to one Marketo instance happen once."""
    _execute(db, LEDGER_V1)


def registry_v1(db: sqlite3.Connection) -> None:
    """The per-user registry: which ledger file holds each Marketo instance."""
    _execute(db, REGISTRY_V1)


PROFILE_MIGRATIONS: tuple[Migration, ...] = ((1, profile_v1), (2, profile_v2), (3, profile_v3),
                                            (4, profile_run_context), (5, profile_reject_history),
                                            (6, profile_change_log), (7, profile_change_log_by_lead))
LEDGER_MIGRATIONS: tuple[Migration, ...] = ((1, ledger_v1),)
REGISTRY_MIGRATIONS: tuple[Migration, ...] = ((1, registry_v1),)
