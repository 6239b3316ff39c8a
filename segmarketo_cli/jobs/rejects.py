"""Rejects file: one JSON line per rejected record with its reason (and "known" for a reject an earlier run reported);
opened lazily, long values cut, redacted."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, TextIO

from segmarketo_cli.errors import OutputError
from segmarketo_cli.http import redact
from segmarketo_cli.jobs.known_rejects import KnownRejects, origin_file
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

    `known`: marks the rejects an earlier run reported (`"known": true`) and counts them in `known_count`.
    `renamed_origins`: file names to put back in origins (a --retry-rejects run reads copies of its origin files).
    A failed write (disk full) raises OutputError once; close() after it does not raise again."""

    def __init__(self, path: Path, what: str = "rejects file", *, known: KnownRejects | None = None,
                 renamed_origins: dict[str, str] | None = None) -> None:
        self.path = path
        self.what = what  # how error messages name the file: '--rejects' when the user chose it
        self.count = 0
        self.known_count = 0
        self.known = known
        self.renamed_origins = renamed_origins or {}
        self.origin_files: set[str] = set()  # one entry per input file, not per record
        self._handle: TextIO | None = None
        self._failed: OutputError | None = None
        self._lock = threading.Lock()

    def write(self, reason: str, **fields: Any) -> None:
        record = clip({"reason": reason, **{k: v for k, v in fields.items() if v is not None}})
        with self._lock:
            if self._failed is not None:
                raise self._failed
            known = self._known(reason, record)
            line = redact(json.dumps(record, ensure_ascii=False, default=str, sort_keys=False))
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
            self.known_count += known

    def _known(self, reason: str, record: dict[str, Any]) -> bool:
        """Put the origin's own file name back, note its file, and mark the reject known when it is."""
        name = origin_file(record.get("origin"))
        if name is not None:
            if name in self.renamed_origins:
                line = str(record["origin"])[len(name):]
                name = self.renamed_origins[name]
                record["origin"] = name + line
            self.origin_files.add(name)
        if self.known is None or not self.known.seen(reason, record):
            return False
        record["known"] = True
        return True

    @property
    def written(self) -> str | None:
        return str(self.path) if self.count else None

    def close(self) -> None:
        """Flush and close; OutputError when the last lines cannot be written (unless a write already failed).
        Then the run's rejects are remembered (StateError when the store cannot take them)."""
        with self._lock:
            handle, self._handle = self._handle, None
            known, self.known = self.known, None
            try:
                if handle is not None:
                    handle.close()
            except OSError as exc:
                if self._failed is None:  # else already reported: the unwritten rest goes with that error
                    self._failed = write_failed(self.what, self.path, exc)
                    raise self._failed from None
            finally:
                if known is not None:
                    known.close(self.origin_files)

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
