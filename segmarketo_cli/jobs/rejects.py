"""Rejects file: one JSON line per rejected record with its reason; opened lazily, long values cut, redacted."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, TextIO

from segmarketo_cli.errors import OutputError
from segmarketo_cli.http import redact
from segmarketo_cli.paths import open_private, write_failed

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
    """Appends rejects to a JSONL file created (mode 0600) on the first reject only.

    A failed write (disk full) raises OutputError once; close() after it does not raise again."""

    def __init__(self, path: Path, what: str = "rejects file") -> None:
        self.path = path
        self.what = what  # how error messages name the file: '--rejects' when the user chose it
        self.count = 0
        self._handle: TextIO | None = None
        self._failed: OutputError | None = None
        self._lock = threading.Lock()

    def write(self, reason: str, **fields: Any) -> None:
        record = clip({"reason": reason, **{k: v for k, v in fields.items() if v is not None}})
        line = redact(json.dumps(record, ensure_ascii=False, default=str, sort_keys=False))
        with self._lock:
            if self._failed is not None:
                raise self._failed
            try:
                if self._handle is None:
                    self._handle = open_private(self.path, self.what)
                self._handle.write(line + "\n")
            except OutputError as exc:
                self._failed = exc
                raise
            except OSError as exc:
                self._failed = write_failed(self.what, self.path, exc)
                raise self._failed from None
            self.count += 1

    @property
    def written(self) -> str | None:
        return str(self.path) if self.count else None

    def close(self) -> None:
        """Flush and close; OutputError when the last lines cannot be written (unless a write already failed)."""
        with self._lock:
            handle, self._handle = self._handle, None
            if handle is None:
                return
            try:
                handle.close()
            except OSError as exc:
                if self._failed is None:  # else already reported: the unwritten rest goes with that error
                    self._failed = write_failed(self.what, self.path, exc)
                    raise self._failed from None

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
