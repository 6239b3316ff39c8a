"""Warehouse extracts (CSV, plain or gzip, and Parquet) -> Spec messages, streamed row by row / batch by batch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from segmarketo_cli.errors import InputError
from segmarketo_cli.sources.columns import ColumnPlan, duplicate_column
from segmarketo_cli.sources.csvfile import CsvFile
from segmarketo_cli.sources.discover import InputFile
from segmarketo_cli.sources.items import SourceItem

PARQUET_BATCH = 10_000


def read_csv(source: InputFile) -> Iterator[SourceItem]:
    """One item per data row; origin is the row's first line; a cut gzip ends the file with one error."""
    with CsvFile(source) as table:
        plan = ColumnPlan(table.header)
        for row in table.rows():
            if row.error is not None:
                yield SourceItem(row.origin, error=row.error)
                continue
            message, problem = plan.message(row.cells)
            yield SourceItem(row.origin, error=problem) if problem else SourceItem(row.origin, message=message)


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


def read_parquet(source: InputFile) -> Iterator[SourceItem]:
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
    plan = ColumnPlan(parquet.schema_arrow.names)
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
