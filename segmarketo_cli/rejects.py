"""Rejects file: one JSON line per rejected record with its reason; opened lazily, long values cut, redacted."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from .http import redact

MAX_TEXT = 1000  # longer strings (a 10 MB trait, say) are cut to their start and their length
KEPT_TEXT = 200


def clip(value: Any) -> Any:
    """`value` with every string longer than MAX_TEXT shortened to its first KEPT_TEXT characters and a length."""
    if isinstance(value, str):
        if len(value) <= MAX_TEXT:
            return value
        return f"{redact(value)[:KEPT_TEXT]}... ({len(value):,} characters)"  # redacted whole: no half secret
    if isinstance(value, dict):
        return {k: clip(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clip(v) for v in value]
    return value


class RejectsWriter:
    """Appends rejects to a JSONL file created (mode 0600) on the first reject only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._handle = None
        self._lock = threading.Lock()

    def write(self, reason: str, **fields: Any) -> None:
        record = clip({"reason": reason, **{k: v for k, v in fields.items() if v is not None}})
        line = redact(json.dumps(record, ensure_ascii=False, default=str, sort_keys=False))
        with self._lock:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # a new folder is private
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                self._handle = os.fdopen(fd, "w", encoding="utf-8")
            self._handle.write(line + "\n")
            self.count += 1

    @property
    def written(self) -> str | None:
        return str(self.path) if self.count else None

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
