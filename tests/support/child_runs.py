"""Child `python -m segmarketo_cli` processes for state tests: pause one while it is inside its run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest


def inside_run(store: Path) -> bool:
    """True when the profile store shows a run that started and has not finished (its locks are held)."""
    if not store.exists():
        return False
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)) as db:
            return db.execute("SELECT 1 FROM runs WHERE finished_at IS NULL").fetchone() is not None
    except sqlite3.Error:
        return False


def stop_inside_run(proc: subprocess.Popen[str], store: Path) -> None:
    """SIGSTOP `proc` at a moment it is inside its run; fail if it finished before that happened."""
    while True:
        os.kill(proc.pid, signal.SIGSTOP)
        if inside_run(store):
            return
        os.kill(proc.pid, signal.SIGCONT)
        if proc.poll() is not None:
            stderr = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"the run finished before it could be paused: {stderr}")
        time.sleep(0.02)
