"""State files as earlier releases wrote them (DDL taken from the project's history), for migration tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from segmarketo_cli import paths

# Unversioned profile stores (user_version 0) kept every table in state/<profile>.sqlite.
FIRST_RELEASE = (
    """CREATE TABLE runs (run_id TEXT PRIMARY KEY, command TEXT NOT NULL, profile TEXT NOT NULL,
  started_at REAL NOT NULL, finished_at REAL, status TEXT, report TEXT)""",
    """CREATE TABLE cursors (instance TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, updated_at REAL NOT NULL,
  PRIMARY KEY (instance, name))""",
    """CREATE TABLE cache (instance TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL NOT NULL,
  PRIMARY KEY (instance, key))""",
    """CREATE TABLE lead_ids (instance TEXT NOT NULL, field TEXT NOT NULL, key TEXT NOT NULL, lead_id INTEGER NOT NULL,
  updated_at REAL NOT NULL, PRIMARY KEY (instance, field, key, lead_id))""",
    """CREATE TABLE pushed_hashes (instance TEXT NOT NULL, field TEXT NOT NULL, key TEXT NOT NULL, hash TEXT NOT NULL,
  updated_at REAL NOT NULL, PRIMARY KEY (instance, field, key))""",
    """CREATE TABLE processed_events (instance TEXT NOT NULL, scope TEXT NOT NULL, message_id TEXT NOT NULL,
  applied_at REAL NOT NULL, PRIMARY KEY (instance, scope, message_id))""",
    """CREATE TABLE associated_cookies (instance TEXT NOT NULL, cookie TEXT NOT NULL, lead_id INTEGER NOT NULL,
  associated_at REAL NOT NULL, PRIMARY KEY (instance, cookie, lead_id))""",
    """CREATE TABLE rejects (run_id TEXT NOT NULL, path TEXT NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY (run_id, path))""",
)
WITH_API_USAGE = FIRST_RELEASE + (
    """CREATE TABLE api_usage (instance TEXT NOT NULL, day TEXT NOT NULL, calls INTEGER NOT NULL,
  PRIMARY KEY (instance, day))""",
)
WITH_PENDING_ACTIONS = WITH_API_USAGE + (
    """CREATE TABLE pending_actions (instance TEXT NOT NULL, scope TEXT NOT NULL, message_id TEXT NOT NULL,
  lead_id INTEGER NOT NULL, kind TEXT NOT NULL, field TEXT, value TEXT, created_at REAL NOT NULL,
  PRIMARY KEY (instance, scope, message_id, lead_id))""",
)
UNVERSIONED_PROFILE_SHAPES = {
    "first release": FIRST_RELEASE,
    "with api_usage": WITH_API_USAGE,
    "with pending_actions": WITH_PENDING_ACTIONS,
}


@contextmanager
def connected(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection that commits on success and is closed afterwards."""
    with closing(sqlite3.connect(path)) as db, db:
        yield db


def old_profile_store(profile: str, ddl: tuple[str, ...] = WITH_PENDING_ACTIONS) -> Path:
    """An empty unversioned profile store of the given shape under the test's SEGMARKETO_HOME."""
    path = paths.ensure_private_dir(paths.state_dir()) / f"{profile}.sqlite"
    with connected(path) as db:
        for statement in ddl:
            db.execute(statement)
    return path


def user_version(path: Path) -> int:
    with connected(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def set_user_version(path: Path, version: int) -> None:
    with connected(path) as db:
        db.execute(f"PRAGMA user_version = {int(version)}")


def table_names(path: Path) -> set[str]:
    with connected(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
