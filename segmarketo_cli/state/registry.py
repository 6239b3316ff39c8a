"""The per-user instance registry: one ledger per Marketo instance, whichever SEGMARKETO_HOME a run uses."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import SafetyRefusal, StateError
from ..paths import registry_file
from .sqlite import StoreFile, unusable

REGISTRY_V1 = """
CREATE TABLE IF NOT EXISTS instances (
  key TEXT PRIMARY KEY, instance TEXT NOT NULL, ledger TEXT NOT NULL, claimed_at REAL NOT NULL)
"""


def claim(key: str, instance: str, ledger: Path) -> None:
    """Record `ledger` as the instance's ledger, or refuse when that would let a second ledger apply events again.

    - no claim yet: the caller's ledger is created and claimed;
    - a claimed ledger that exists elsewhere: SafetyRefusal (a second home on the instance);
    - a claimed ledger that is gone: the caller takes over only when its own ledger file exists (the file was
      moved here); otherwise the ledger was lost and StateError says how to restore it or start over.
    """
    mine = str(Path(os.path.realpath(ledger.parent)) / ledger.name)
    try:
        registry = StoreFile(registry_file(), (REGISTRY_V1,))
    except StateError as exc:
        exc.hint = ("it is the instance registry, shared by every SEGMARKETO_HOME of this user; "
                    "SEGMARKETO_REGISTRY can name another file")
        raise
    try:
        with registry.transaction() as db:
            row = db.execute("SELECT ledger FROM instances WHERE key = ?", (key,)).fetchone()
            claimed = row[0] if row else None
            if claimed is None:
                _create(ledger)
            elif claimed != mine and os.path.exists(claimed):
                raise SafetyRefusal(
                    f"Marketo instance {instance} keeps its ledger in {claimed}, not in this home's {mine}: "
                    "two ledgers would apply events and create leads twice. Run with the SEGMARKETO_HOME that "
                    f"holds {claimed}, or move that file (with its -wal/-shm files) to {mine} to hand the "
                    "instance to this home"
                )
            elif not ledger.exists():
                raise StateError(
                    f"the ledger of Marketo instance {instance} ({claimed}) is missing: it was deleted or moved "
                    "after an earlier run, and a new one would apply that run's events again. Put it back (from "
                    f"a backup), or to start over on purpose with an empty ledger, create an empty file: "
                    f"touch '{mine}'"
                )
            if claimed != mine:
                db.execute("INSERT OR REPLACE INTO instances (key, instance, ledger, claimed_at) VALUES (?, ?, ?, ?)",
                           (key, instance, mine, time.time()))
    finally:
        registry.close()


def _create(ledger: Path) -> None:
    try:
        os.close(os.open(ledger, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError as exc:
        raise unusable(ledger, exc) from None
