"""Readers for CSV (plain or gzip) and Parquet warehouse extracts, streamed row by row / batch by batch."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import zlib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from segmarketo_cli.errors import InputError
from segmarketo_cli.sources.columns import ColumnPlan, duplicate_column
from segmarketo_cli.sources.discover import InputFile
from segmarketo_cli.sources.items import SourceItem

PARQUET_BATCH = 10_000
csv.field_size_limit(16 << 20)


def open_text(source: InputFile) -> io.TextIOBase:
    """A text handle on a CSV file (gzip sniffed earlier), BOM stripped, newlines left to the csv module."""
    try:
        if source.gzipped:
            return io.TextIOWrapper(gzip.open(source.path, "rb"), encoding="utf-8-sig", newline="")
        return source.path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{source.path}: cannot be read: {exc.strerror or exc}") from None


def _dialect(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", "\t", "|", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_header(handle: io.TextIOBase, name: str) -> tuple[list[str], str] | None:
    """The header row and its delimiter (None for an empty file); a column named twice is an InputError."""
    try:
        header_line = handle.readline()
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as exc:
        raise InputError(f"{name}: cannot be read: {exc}") from None
    if not header_line.strip():
        return None
    delimiter = _dialect(header_line)
    header = next(csv.reader([header_line], delimiter=delimiter))
    problem = duplicate_column(header)
    if problem:
        raise InputError(f"{name}: {problem}")
    return header, delimiter


def check_csv_header(source: InputFile) -> None:
    """Preflight: the header of a CSV file can be read and names each column once."""
    with open_text(source) as handle:
        _read_header(handle, str(source.path))


def read_csv(source: InputFile, *, default_type: str = "identify") -> Iterator[SourceItem]:
    """One item per data row; origin is the row's first line; a cut gzip ends the file with one error."""
    name = str(source.path)
    with open_text(source) as handle:
        found = _read_header(handle, name)
        if found is None:
            return
        header, delimiter = found
        plan = ColumnPlan(header, default_type=default_type)
        reader = csv.reader(handle, delimiter=delimiter)
        last = 1  # physical lines consumed so far (the header is line 1)
        while True:
            start = last + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except (EOFError, OSError, zlib.error) as exc:
                yield SourceItem(f"{name}:{start}", error=f"gzip data ends early or is corrupt ({exc}); "
                                 f"line {start} onwards could not be read")
                return
            except UnicodeDecodeError:
                yield SourceItem(f"{name}:{start}", error="not valid UTF-8; the rest of the file was skipped")
                return
            except csv.Error as exc:
                last = reader.line_num + 1
                yield SourceItem(f"{name}:{start}", error=f"malformed CSV: {exc}")
                continue
            last = reader.line_num + 1
            if not row or not any(cell.strip() for cell in row):
                continue
            origin = f"{name}:{start}"
            if len(row) != len(header):
                yield SourceItem(origin, error=f"row has {len(row)} columns, header has {len(header)}")
                continue
            message, problem = plan.message(row)
            yield SourceItem(origin, error=problem) if problem else SourceItem(origin, message=message)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN written by pandas for a missing number
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def read_parquet(source: InputFile, *, default_type: str = "identify") -> Iterator[SourceItem]:
    """One item per row (origin path:row number), read in record batches through pyarrow."""
    import pyarrow.parquet as pq  # heavy: imported only when a Parquet file is read

    name = str(source.path)
    try:
        parquet = pq.ParquetFile(source.path)
    except Exception as exc:  # pyarrow raises several types (ArrowInvalid, OSError)
        raise InputError(f"{name}: not a readable Parquet file: {exc}") from None
    problem = duplicate_column(parquet.schema_arrow.names)
    if problem:
        raise InputError(f"{name}: {problem}")
    plan = ColumnPlan(parquet.schema_arrow.names, default_type=default_type)
    row_no = 0
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            for values in zip(*columns, strict=True):
                row_no += 1
                message, problem = plan.message([_plain(v) for v in values])
                origin = f"{name}:{row_no}"
                yield SourceItem(origin, error=problem) if problem else SourceItem(origin, message=message)
    except (OSError, ValueError) as exc:
        yield SourceItem(f"{name}:{row_no + 1}", error=f"Parquet data unreadable from here ({exc})")
