"""--plan-out files: a job's plan rows streamed to CSV, JSON lines, Parquet or .xlsx, the format chosen by the
file's extension. pandas DataFrames write CSV, JSON lines and (through pyarrow) Parquet a chunk at a time; .xlsx is
written in openpyxl's write-only mode, every cell as text, so neither grows with the plan."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from segmarketo_cli.errors import ConfigError, OutputError
from segmarketo_cli.jobs.batches import batches
from segmarketo_cli.paths import check_writable, open_private, open_private_bytes, write_failed

# No extension is CSV, as --plan-out always wrote, so /dev/stdout and named pipes keep working.
FORMATS = {"": "csv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".xlsx": "xlsx"}
CHUNK_ROWS = 50_000
XLSX_MAX_ROWS = 1_048_576 - 1  # a worksheet's row limit, less the header row
WHAT = "--plan-out"


def plan_format(path: Path) -> str:
    """The format `path`'s extension names; ConfigError (exit 2) for any other."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{WHAT} {path}: unknown file type '{path.suffix}'",
                          hint="name it .csv, .jsonl, .parquet or .xlsx")
    return fmt


def check_plan_out(path: Path) -> None:
    """Before any write: a known extension and a file that can be created."""
    plan_format(path)
    check_writable(path, WHAT)


def write_plan_file(path: Path, columns: list[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write `rows` (dicts keyed by `columns`; missing keys are empty) to `path` in its format, 0600 since plans
    name people; the number of rows written. OutputError for a full disk or an .xlsx past its row limit."""
    fmt = plan_format(path)
    chunks = batches(rows, CHUNK_ROWS)
    try:
        if fmt == "xlsx":
            return _write_xlsx(path, columns, chunks)
        if fmt == "parquet":
            return _write_parquet(path, columns, chunks)
        with open_private(path, WHAT, newline="") as handle:
            return _write_text(handle, fmt, columns, chunks)
    except OSError as exc:
        raise write_failed(WHAT, path, exc) from None


def _frame(columns: list[str], chunk: list[dict[str, Any]]) -> Any:
    import pandas as pd  # imported only when a plan file is written

    return pd.DataFrame.from_records(chunk, columns=columns).astype("string").fillna("")


def _write_text(handle: TextIO, fmt: str, columns: list[str], chunks: Iterator[list[dict[str, Any]]]) -> int:
    count = 0
    if fmt == "csv":
        handle.write(",".join(columns) + "\n")  # the header even for an empty plan
    for chunk in chunks:
        frame = _frame(columns, chunk)
        if fmt == "csv":
            frame.to_csv(handle, header=False, index=False, lineterminator="\n")
        else:
            text = frame.to_json(orient="records", lines=True, force_ascii=False)
            handle.write(text if text.endswith("\n") else text + "\n")
        count += len(chunk)
    return count


def _write_parquet(path: Path, columns: list[str], chunks: Iterator[list[dict[str, Any]]]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, pa.string()) for name in columns])
    count = 0
    handle: BinaryIO
    with open_private_bytes(path, WHAT) as handle, pq.ParquetWriter(handle, schema) as writer:
        for chunk in chunks:
            writer.write_table(pa.Table.from_pandas(_frame(columns, chunk), schema=schema, preserve_index=False))
            count += len(chunk)
    return count


def _write_xlsx(path: Path, columns: list[str], chunks: Iterator[list[dict[str, Any]]]) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("plan")

    def text_row(values: Iterable[Any]) -> list[WriteOnlyCell]:
        cells = []
        for value in values:
            cell = WriteOnlyCell(sheet, value="" if value is None else str(value))
            cell.data_type = "s"  # text, never a formula: an identity such as "=HYPERLINK(…)" stays inert
            cells.append(cell)
        return cells

    sheet.append(text_row(columns))
    count = 0
    for chunk in chunks:
        count += len(chunk)
        if count > XLSX_MAX_ROWS:
            sheet.close()  # ends the sheet's temporary file; nothing is saved
            raise OutputError(f"{WHAT} {path}: the plan has more than {XLSX_MAX_ROWS:,} rows, the most an .xlsx "
                              "sheet holds; name it .csv or .parquet")
        for row in chunk:
            sheet.append(text_row(row.get(name) for name in columns))
    with open_private_bytes(path, WHAT) as handle:
        book.save(handle)
    return count
