"""How far the input files being read are: bytes consumed of their size on disk, for a percentage and an ETA."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReadPosition:
    """Bytes of the inputs read so far (compressed bytes for a gzip file) and their total size."""

    done: int
    total: int

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total > 0 else 0.0


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # the reader reports the unreadable file; the meter only loses its share
        return 0


class ReadMeter:
    """Counts the bytes the readers consume while `reading` is open; blocks read at other times (a sample taken
    to size the input) are not counted. Files read whole by a library (Parquet, CSV) advance when they end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._done = 0
        self._file_end = 0
        self._active = False

    @contextmanager
    def reading(self, paths: list[Path]) -> Iterator[None]:
        """Measure a read of `paths`, in that order (`file` marks each one)."""
        with self._lock:
            self._total, self._done, self._file_end, self._active = sum(map(file_size, paths)), 0, 0, True
        try:
            yield
        finally:
            with self._lock:
                self._active = False

    @contextmanager
    def file(self, path: Path) -> Iterator[None]:
        """The block reads `path`; at its end the file counts as read whole."""
        with self._lock:
            self._file_end = self._done + file_size(path)
        yield
        with self._lock:
            self._done = max(self._done, self._file_end)

    def advance(self, n: int) -> None:
        """`n` more bytes of the current file were read (never past its size)."""
        with self._lock:
            if self._active:
                self._done = min(self._done + n, self._file_end)

    def position(self) -> ReadPosition | None:
        """Where the read is, or None when no read is being measured."""
        with self._lock:
            return ReadPosition(self._done, self._total) if self._active else None


METER = ReadMeter()  # one read at a time per process: a job reads its inputs once, in order
