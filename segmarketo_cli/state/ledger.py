"""The instance ledger: what makes writes to one Marketo instance happen once, shared by every profile on it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

from segmarketo_cli.endpoints import munchkin_id
from segmarketo_cli.state.schema import LEDGER_MIGRATIONS, LEDGER_TABLES
from segmarketo_cli.state.sqlite import StoreFile

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
