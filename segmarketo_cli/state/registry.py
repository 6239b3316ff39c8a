"""The per-user instance registry: one ledger per Marketo instance, whichever SEGMARKETO_HOME a run uses."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import SafetyRefusal
from ..paths import registry_file
from .sqlite import StoreFile, unusable

REGISTRY_V1 = """
CREATE TABLE IF NOT EXISTS instances (
  key TEXT PRIMARY KEY, instance TEXT NOT NULL, ledger TEXT NOT NULL, claimed_at REAL NOT NULL)
"""


def claim(key: str, instance: str, ledger: Path) -> None:
    """Record `ledger` as the instance's ledger, or refuse when a ledger elsewhere still holds it.

    A claim whose ledger file is gone (its home was deleted, or the file was moved here) passes to the caller.
    The caller's ledger file is created inside the claim, so a claimed ledger always exists.
    """
    mine = str(Path(os.path.realpath(ledger.parent)) / ledger.name)
    registry = StoreFile(registry_file(), (REGISTRY_V1,))
    try:
        with registry.transaction() as db:
            row = db.execute("SELECT ledger FROM instances WHERE key = ?", (key,)).fetchone()
            if row and row[0] != mine and os.path.exists(row[0]):
                raise SafetyRefusal(
                    f"Marketo instance {instance} keeps its ledger in {row[0]}, not in this home's {mine}: "
                    "two ledgers would apply events and create leads twice. Run with the SEGMARKETO_HOME that "
                    f"holds {row[0]}, or move that file (with its -wal/-shm files) to {mine} to hand the "
                    "instance to this home"
                )
            if not ledger.exists():
                try:
                    os.close(os.open(ledger, os.O_WRONLY | os.O_CREAT, 0o600))
                except OSError as exc:
                    raise unusable(ledger, exc) from None
            if row is None or row[0] != mine:
                db.execute("INSERT OR REPLACE INTO instances (key, instance, ledger, claimed_at) VALUES (?, ?, ?, ?)",
                           (key, instance, mine, time.time()))
            stale = [k for k, path in db.execute("SELECT key, ledger FROM instances") if not os.path.exists(path)]
            db.executemany("DELETE FROM instances WHERE key = ?", [(k,) for k in stale])
    finally:
        registry.close()
