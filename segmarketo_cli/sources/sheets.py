"""Spreadsheet audiences (.xlsx streamed through openpyxl, legacy .xls through pandas and calamine): a detected
header row, then rows with their file:sheet:row origins, shaped like CsvFile's rows so the audience readers take
either."""

from __future__ import annotations

import datetime as dt
import itertools
import zipfile
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from segmarketo_cli.errors import ConfigError, InputError
from segmarketo_cli.sizes import human_size
from segmarketo_cli.sources.columns import duplicate_column
from segmarketo_cli.sources.csvfile import CsvRow
from segmarketo_cli.sources.discover import InputFile
from segmarketo_cli.suggest import closest

HEADER_SEARCH_ROWS = 20  # title or note rows above the header that the detection looks past
# openpyxl keeps an .xlsx's shared-strings table in memory even in read-only mode; past this many uncompressed
# bytes the file is refused rather than allowed to expand without bound (a "zip bomb").
MAX_SHARED_STRINGS = 256 << 20


class Formula(str):
    """A cell's formula text ("=LOWER(A2)"): segmarketo reads values only and never computes a formula."""


def formula_problem(cells: list[str], indices: list[int], header: list[str]) -> tuple[str, str, str] | None:
    """(reason, column, formula) when one of the cells at `indices` holds a formula, else None."""
    for index in indices:
        if isinstance(cells[index], Formula):
            return ("cell holds a formula, not a value: save the sheet with values (Paste Special > Values)",
                    header[index], str(cells[index]))
    return None


def column_letter(index: int) -> str:
    """The spreadsheet letter of a 0-based column: 0 -> A, 27 -> AB."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def cell_text(value: Any) -> str:
    """A cell as the text a CSV export of the sheet would hold (whole numbers without '.0', ISO dates)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value != value:  # NaN: pandas' empty cell
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value).strip()


class SheetFile:
    """One sheet of a spreadsheet: `name`, `header` and `rows()` as CsvFile has them. Use it as a context manager.

    The header is the first of the top rows that `is_header` accepts (title rows above it are skipped), else the
    first non-empty row. A header with a blank name between named columns (merged header cells) is refused.
    """

    def __init__(self, source: InputFile, *, sheet: str | None, is_header: Callable[[list[str]], bool]) -> None:
        self.path = str(source.path)
        self._book: Any = None
        self._rows, self.sheet = (_xlsx_rows if source.format == "xlsx" else _xls_rows)(self, source, sheet)
        self.name = f"{self.path}:{self.sheet}"
        try:
            self._header_row, self.header = self._find_header(is_header)
        except BaseException:
            self.close()
            raise

    def _find_header(self, is_header: Callable[[list[str]], bool]) -> tuple[int, list[str]]:
        candidates: list[tuple[int, list[Any], list[str]]] = []  # the non-empty top rows: number, cells, texts
        found = False
        for number, values in self._rows:
            texts = [cell_text(v) for v in values]
            if any(texts):
                candidates.append((number, values, texts))
                found = is_header(texts)
                if found or len(candidates) == HEADER_SEARCH_ROWS:
                    break
        if not candidates:
            raise InputError(f"{self.name}: empty sheet (no header row)")
        # The row is_header accepted (the last one read), else the first non-empty row, whose followers are data.
        number, _values, header = candidates[-1] if found else candidates[0]
        self._pending = [] if found else [(n, values) for n, values, _texts in candidates[1:]]
        while header and not header[-1]:
            header.pop()
        blank = next((i for i, h in enumerate(header) if not h), None)
        if blank is not None:
            raise InputError(f"{self.name}: header row {number}, column {column_letter(blank)} has no name "
                             "(merged or blank header cells)", hint="give every column a one-row header")
        problem = duplicate_column(header)
        if problem:
            raise InputError(f"{self.name}: {problem}")
        return number, header

    def rows(self) -> Iterator[CsvRow]:
        """Each non-empty row below the header, with as many cells as the header (empty trailing cells added)."""
        width = len(self.header)
        for number, values in itertools.chain(self._pending, self._rows):
            if number <= self._header_row:
                continue
            origin = f"{self.name}:{number}"
            cells: list[str] = [Formula(v) if _is_formula(v) else cell_text(v) for v in values]
            if not any(cells):
                continue
            extra = next((i for i in range(width, len(cells)) if cells[i]), None)
            if extra is not None:
                yield CsvRow(origin, [], f"a value in column {column_letter(extra)}, which has no header")
                continue
            yield CsvRow(origin, cells[:width] + [""] * (width - len(cells)))

    def close(self) -> None:
        if self._book is not None:
            self._book.close()
            self._book = None

    def __enter__(self) -> SheetFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def _is_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("=") and len(value) > 1


def _pick_sheet(names: list[str], sheet: str | None, path: str) -> str:
    if not names:
        raise InputError(f"{path}: the workbook has no sheet")
    if sheet is None:
        return names[0]
    if sheet in names:
        return sheet
    close = closest(sheet, names)
    raise ConfigError(f"{path}: no sheet '{sheet}' (sheets: {', '.join(names)})",
                      hint=f"did you mean --sheet '{close}'?" if close else None)


def _xlsx_rows(owner: SheetFile, source: InputFile, sheet: str | None) -> tuple[Iterator[tuple[int, list[Any]]], str]:
    """Rows of an .xlsx sheet streamed in read-only mode (formulas read as their text, never computed)."""
    import openpyxl  # imported only when a spreadsheet is read

    path = owner.path
    _check_expansion(source, path)
    try:
        book = openpyxl.load_workbook(source.path, read_only=True, data_only=False, keep_links=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .xlsx workbook ({exc})") from None
    owner._book = book
    name = _pick_sheet(list(book.sheetnames), sheet, path)
    worksheet = book[name]
    if not hasattr(worksheet, "iter_rows") or type(worksheet).__name__ == "ReadOnlyChartsheet":
        raise InputError(f"{path}: '{name}' is a chart sheet, not a table", hint="pick a sheet with --sheet NAME")

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for number, row in enumerate(worksheet.iter_rows(values_only=True), start=1):
            yield number, list(row)
    return rows(), name


def _check_expansion(source: InputFile, path: str) -> None:
    try:
        with zipfile.ZipFile(source.path) as archive:
            shared = sum(info.file_size for info in archive.infolist() if info.filename.endswith("sharedStrings.xml"))
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: not a readable .xlsx workbook ({exc})") from None
    if shared > MAX_SHARED_STRINGS:
        raise InputError(f"{path}: its text table expands to {human_size(shared)} (limit "
                         f"{human_size(MAX_SHARED_STRINGS)})", hint="save the sheet as CSV and sync that file")


def _xls_rows(owner: SheetFile, source: InputFile, sheet: str | None) -> tuple[Iterator[tuple[int, list[Any]]], str]:
    """Rows of a legacy .xls sheet through pandas and its calamine engine (an .xls sheet holds at most 65,536
    rows, so a whole sheet fits in memory)."""
    import pandas as pd  # imported only when a spreadsheet is read

    path = owner.path
    try:
        book = pd.ExcelFile(source.path, engine="calamine")
        name = _pick_sheet([str(n) for n in book.sheet_names], sheet, path)
        frame = pd.read_excel(book, sheet_name=name, header=None, dtype=object)
    except (ConfigError, InputError):
        raise
    except Exception as exc:  # calamine raises its own error types for damaged files
        raise InputError(f"{path}: not a readable .xls workbook ({exc})") from None
    owner._book = book

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for number, row in enumerate(frame.itertuples(index=False, name=None), start=1):
            yield number, list(row)
    return rows(), name
