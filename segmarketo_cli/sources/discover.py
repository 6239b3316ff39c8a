"""Expand FILE arguments (files, folders, globs) in a stable order and detect each file's format."""

from __future__ import annotations

import glob
import gzip
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from segmarketo_cli.errors import InputError
from segmarketo_cli.sources.items import FORMATS
from segmarketo_cli.sources.rejects_input import refuse_rejects_file

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of legacy .xls workbooks
SPREADSHEETS = ("xlsx", "xls")
_SUFFIXES = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".txt": "csv", ".tsv": "csv",
    ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls",
}
_SKIP_NAMES = {".DS_Store"}


@dataclass(frozen=True)
class InputFile:
    """One input file: its path, detected format and whether its bytes are gzip-compressed."""

    path: Path
    format: str
    gzipped: bool


def expand(patterns: list[str]) -> list[Path]:
    """Files named by `patterns`: files as given, folders walked, globs expanded; sorted, without duplicates."""
    found: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise InputError(f"{pattern}: no file matches this pattern")
            paths = [Path(m) for m in matches]
        else:
            paths = [Path(pattern)]
        for path in paths:
            if path.is_dir():
                found.extend(_walk(path))
            elif path.exists() or path.is_symlink():
                found.append(path)
            else:
                raise InputError(f"{path}: no such file or directory")
    seen: set[str] = set()
    unique = []
    for path in found:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def _walk(folder: Path) -> list[Path]:
    """Every file under `folder` (symlinked folders followed once); a folder that cannot be listed or a broken
    link is an InputError, never a silent gap in the input."""
    files: list[Path] = []
    seen: set[str] = set()
    pending = [folder]
    while pending:
        current = pending.pop()
        real = os.path.realpath(current)
        if real in seen:  # a link back to a folder already walked
            continue
        seen.add(real)
        try:
            with os.scandir(current) as listing:
                entries = list(listing)
        except OSError as exc:
            raise InputError(f"{current}: folder cannot be read: {exc.strerror or exc}") from None
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir():
                pending.append(path)
            elif entry.name.startswith(".") or entry.name in _SKIP_NAMES:
                continue  # hidden files only: a hidden folder's files are read, as they always were
            elif entry.is_file():
                files.append(path)
            elif entry.is_symlink() and not path.exists():
                raise InputError(f"{path}: broken symbolic link (its target does not exist)")
    return sorted(files, key=lambda p: p.as_posix())


def _format_from_name(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _SUFFIXES.get(suffixes[-1]) if suffixes else None


def _sniff_text(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        return "jsonl"
    return "csv"


def _sniff_json_kind(head: bytes, named_lines: bool) -> str:
    """'json' for an array or a pretty-printed object, 'jsonl' when the first line is a whole object.

    A first line that is a whole array is JSON lines too when the name says so (.jsonl, .ndjson) or more lines
    follow: the rest of the file is read line by line, not dropped as data after the array.
    """
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    lines = text.split(b"\n")
    if text.startswith(b"["):
        whole_line = _whole_object(lines[0]) is not None
        return "jsonl" if whole_line and (named_lines or any(line.strip() for line in lines[1:])) else "json"
    first = _whole_object(lines[0])
    if first is not None:
        return "jsonl" if first else "json"
    # A malformed first line: still JSONL when a later complete line is an object on its own, so one bad line
    # does not turn the file into one broken JSON document (a pretty-printed object never has such a line).
    if any(_whole_object(line) for line in lines[1:-1][:50]):
        return "jsonl"
    return "json" if len(lines) > 1 else "jsonl"


def _whole_object(line: bytes) -> bool | None:
    """True when `line` alone is a JSON object, False when it is other JSON, None when it is not JSON."""
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return None


def inspect(path: Path, forced: str | None = None) -> InputFile:
    """Open `path`, check it can be read, and decide its format; InputError when it cannot be read at all."""
    if forced is not None and forced not in FORMATS:
        raise InputError(f"unknown format '{forced}' (choose one of {', '.join(FORMATS)})")
    try:
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    spreadsheet = _spreadsheet(path, head)
    if spreadsheet is not None:
        return InputFile(path, spreadsheet, False)
    gzipped = head[:2] == GZIP_MAGIC
    if not gzipped and path.suffix.lower() == ".gz":
        raise InputError(f"{path}: named .gz but is not gzip data (no 1f 8b magic bytes)")
    if gzipped:
        head = _gunzip_head(path)
    elif head[:4] == PARQUET_MAGIC:
        return InputFile(path, forced or "parquet", False)
    named = _format_from_name(path)
    fmt = forced or named or _sniff_text(head)
    if forced is None and fmt in ("json", "jsonl"):
        fmt = _sniff_json_kind(head, named_lines=named == "jsonl")
    if fmt in ("json", "jsonl"):
        refuse_rejects_file(path, head)
    if fmt == "parquet" and gzipped:
        raise InputError(f"{path}: gzip-compressed Parquet is not supported; decompress it first")
    return InputFile(path, fmt, gzipped)


def _spreadsheet(path: Path, head: bytes) -> str | None:
    """'xlsx' or 'xls' for a workbook (by its magic bytes, whatever its name); None for any other file."""
    if head.startswith(ZIP_MAGIC):
        if _format_from_name(path) == "xlsx" or b"[Content_Types].xml" in head:
            return "xlsx"
        raise InputError(f"{path}: a ZIP archive, not a data file", hint="unzip it and pass the files inside")
    if head.startswith(OLE2_MAGIC):
        return "xls"
    return None


def _gunzip_head(path: Path) -> bytes:
    """The first decompressed bytes; a gzip that fails at its very start cannot be read at all."""
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(64 * 1024)
    except EOFError:
        # Truncated: whatever decompressed before the cut is still usable; the reader reports the cut.
        data = _partial_gunzip(path)
        if not data:
            raise InputError(f"{path}: truncated gzip data (nothing could be decompressed)") from None
        return data
    except (OSError, zlib.error) as exc:
        raise InputError(f"{path}: not readable as gzip: {exc}") from None


def _partial_gunzip(path: Path, limit: int = 64 * 1024) -> bytes:
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = b""
    with path.open("rb") as handle:
        while len(out) < limit:
            block = handle.read(16 * 1024)
            if not block:
                break
            try:
                out += decomp.decompress(block)
            except zlib.error:
                break
    return out
