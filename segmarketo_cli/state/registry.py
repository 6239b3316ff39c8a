"""The per-user instance registry: one ledger per Marketo instance, whichever SEGMARKETO_HOME a run uses."""

from __future__ import annotations

import os
import time
from pathlib import Path

from segmarketo_cli.errors import SafetyRefusal, SegmarketoError, StateError
from segmarketo_cli.paths import check_writable, registry_file
from segmarketo_cli.state.schema import REGISTRY_MIGRATIONS
from segmarketo_cli.state.sqlite import StoreFile, unusable


def claim(key: str, instance: str, ledger: Path) -> None:
    """Record `ledger` as the instance's ledger, or refuse when that would let a second ledger apply events again.

    - no claim yet: the caller's ledger is created and claimed;
    - a claimed ledger that exists elsewhere: SafetyRefusal (a second home on the instance);
    - a claimed ledger that is gone: the caller takes over only when its own ledger file exists (the file was
      moved here); otherwise the ledger was lost and StateError says how to restore it or start over.
    """
    mine = _real(ledger)
    registry = _open()
    try:
        with registry.transaction() as db:
            row = db.execute("SELECT ledger FROM instances WHERE key = ?", (key,)).fetchone()
            claimed = row[0] if row else None
            if claimed is None:
                _create(ledger)
            else:
                refusal = _refusal(claimed, instance, ledger)
                if refusal is not None:
                    raise refusal
            if claimed != mine:
                db.execute("INSERT OR REPLACE INTO instances (key, instance, ledger, claimed_at) VALUES (?, ?, ?, ?)",
                           (key, instance, mine, time.time()))
    finally:
        registry.close()


def problem(key: str, instance: str, ledger: Path) -> SegmarketoError | None:
    """What `claim` would refuse for this home's `ledger`, found without claiming anything (for doctor)."""
    if not registry_file().exists():
        check_writable(registry_file(), "instance registry (SEGMARKETO_REGISTRY)")  # the first job creates it
        return None
    registry = _open()
    try:
        rows = registry.query("SELECT ledger FROM instances WHERE key = ?", (key,))
    finally:
        registry.close()
    return _refusal(rows[0][0], instance, ledger) if rows else None


def _refusal(claimed: str, instance: str, ledger: Path) -> SegmarketoError | None:
    """The error when the registry's `claimed` ledger keeps this home's `ledger` from being used, else None."""
    mine = _real(ledger)
    if claimed != mine and os.path.exists(claimed):
        return SafetyRefusal(
            f"Marketo instance {instance} keeps its ledger in {claimed}, not in this home's {mine}: "
            "two ledgers would apply events and create leads twice. Run with the SEGMARKETO_HOME that "
            f"holds {claimed}, or move that file (with its -wal/-shm files) to {mine} to hand the "
            "instance to this home"
        )
    if not ledger.exists():
        return StateError(
            f"the ledger of Marketo instance {instance} ({claimed}) is missing: it was deleted or moved "
            "after an earlier run, and a new one would apply that run's events again. Put it back (from "
            f"a backup), or to start over on purpose with an empty ledger, create an empty file: "
            f"touch '{mine}'"
        )
    return None


def _real(ledger: Path) -> str:
    return str(Path(os.path.realpath(ledger.parent)) / ledger.name)


def _open() -> StoreFile:
    try:
        return StoreFile(registry_file(), REGISTRY_MIGRATIONS)
    except StateError as exc:
        exc.hint = ("it is the instance registry, shared by every SEGMARKETO_HOME of this user; "
                    "SEGMARKETO_REGISTRY can name another file")
        raise


def _create(ledger: Path) -> None:
    try:
        os.close(os.open(ledger, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError as exc:
        raise unusable(ledger, exc) from None
