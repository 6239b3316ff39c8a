"""The instance ledger: what makes writes to one Marketo instance happen once, shared by every profile on it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

from segmarketo_cli.segment.spec import munchkin_id
from segmarketo_cli.state.sqlite import StoreFile

# Every table here is keyed by instance; one file per instance (state/instances/<key>.sqlite) holds them.
LEDGER_TABLES = ("processed_events", "pending_actions", "lead_ids", "pushed_hashes", "associated_cookies",
                 "api_usage")

LEDGER_V1 = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
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
CREATE TABLE IF NOT EXISTS api_usage (
  instance TEXT NOT NULL, day TEXT NOT NULL, calls INTEGER NOT NULL, PRIMARY KEY (instance, day))
"""

LEDGER_MIGRATIONS = (LEDGER_V1,)

_UNSAFE = re.compile(r"[^a-z0-9.-]+")


def instance_key(instance: str) -> str:
    """The file-name key of a normalised Marketo endpoint: its Munchkin id, else host[-port][path], made safe."""
    parts = urlsplit(instance if "//" in instance else f"//{instance}")
    host = (parts.hostname or instance).lower()
    munchkin = munchkin_id(instance)
    if host.startswith(munchkin.lower()):
        return munchkin
    port = parts.port if parts.port else None
    name = _UNSAFE.sub("_", f"{host}{f'-{port}' if port else ''}{parts.path}".lower()).strip("_.")
    if len(name) > 80 or not name:
        return f"{name[:60]}-{hashlib.sha256(instance.encode()).hexdigest()[:12]}"
    return name


def ledger_path(state_dir: Path, instance: str) -> Path:
    return state_dir / "instances" / f"{instance_key(instance)}.sqlite"


def open_ledger(path: Path, instance: str) -> StoreFile:
    ledger = StoreFile(path, LEDGER_MIGRATIONS)
    with ledger.transaction() as db:
        db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('instance', ?)", (instance,))
    return ledger


def adopt_legacy_rows(profile: StoreFile, ledger: StoreFile, instance: str) -> int:
    """Move the instance's rows that an older segmarketo kept in the profile store into the ledger.

    Copy first (INSERT OR IGNORE, usage summed), then delete from the profile store: a crash in between leaves
    rows in both, and the next open copies them again harmlessly.
    """
    present = {row[0] for row in profile.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = [t for t in LEDGER_TABLES if t in present
              and profile.query(f"SELECT 1 FROM {t} WHERE instance = ? LIMIT 1", (instance,))]
    if not tables:
        return 0
    moved = 0
    with profile.attached(ledger.path, "ledger"), profile.transaction() as db:
        for table in tables:
            if table == "api_usage":
                sql = ("INSERT INTO ledger.api_usage (instance, day, calls) SELECT instance, day, calls "
                       "FROM main.api_usage WHERE instance = ? AND true "
                       "ON CONFLICT (instance, day) DO UPDATE SET calls = calls + excluded.calls")
            else:
                sql = f"INSERT OR IGNORE INTO ledger.{table} SELECT * FROM main.{table} WHERE instance = ?"
            moved += db.execute(sql, (instance,)).rowcount
            db.execute(f"DELETE FROM main.{table} WHERE instance = ?", (instance,))
    return moved
