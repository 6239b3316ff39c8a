"""Input file fingerprints: resolved path, size, modification time and a digest of the bytes as stored."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import NamedTuple

from segmarketo_cli.errors import InputError

BLOCK = 1 << 20  # 1 MiB reads: hashing stays far cheaper than parsing (blake2b runs at several hundred MB/s)
DIGEST_SIZE = 32


class FileStat(NamedTuple):
    """What `stat` says of a file: enough to tell most changes without reading it."""

    path: str  # resolved: the same file named through another relative path or a symlink is the same file
    size: int
    mtime_ns: int


class FileFingerprint(NamedTuple):
    """A file's stat plus the blake2b digest of its bytes as stored (a .gz file's compressed bytes)."""

    path: str
    size: int
    mtime_ns: int
    digest: str


def stat_file(path: Path) -> FileStat:
    """The file's resolved path, size and mtime; InputError when it is gone or cannot be read."""
    try:
        resolved = path.resolve(strict=True)
        info = os.stat(resolved)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return FileStat(str(resolved), info.st_size, info.st_mtime_ns)


def content_digest(path: str) -> str:
    """blake2b (32 bytes, hex) of the file's bytes, read in 1 MiB blocks into one reused buffer."""
    digest = hashlib.blake2b(digest_size=DIGEST_SIZE)
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    try:
        with open(path, "rb", buffering=0) as handle:
            while n := handle.readinto(view):
                digest.update(view[:n])
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return digest.hexdigest()


def fingerprint(stat: FileStat) -> FileFingerprint:
    """The full fingerprint of a stat'ed file (reads every byte)."""
    return FileFingerprint(stat.path, stat.size, stat.mtime_ns, content_digest(stat.path))
