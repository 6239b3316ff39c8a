"""The one CSV reader: a checked header (delimiter sniffed, BOM stripped) then rows with their file:line origins."""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, TextIO

from segmarketo_cli.errors import InputError
from segmarketo_cli.sources.columns import duplicate_column
from segmarketo_cli.sources.discover import InputFile

# The delimiters the AWS S3 (Actions) destination can write; warehouse extracts use the first few.
# (https://segment.com/docs/connections/destinations/catalog/actions-s3/)
DELIMITERS = (",", "\t", "|", ";", ":")
csv.field_size_limit(16 << 20)


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row read from `origin` ("path:line", the row's first line): its cells, or why it is unusable."""

    origin: str
    cells: list[str]
    error: str | None = None


class RowTable(Protocol):
    """What the audience readers need of a table, CSV file or spreadsheet sheet: its name, header and rows."""

    name: str
    header: list[str]

    def rows(self) -> Iterator[CsvRow]: ...


def open_text(source: InputFile) -> TextIO:
    """A text handle on a CSV file (gzip sniffed earlier), BOM stripped, newlines left to the csv module."""
    try:
        if source.gzipped:
            return io.TextIOWrapper(gzip.open(source.path, "rb"), encoding="utf-8-sig", newline="")
        return source.path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{source.path}: cannot be read: {exc.strerror or exc}") from None


def sniff_delimiter(header_line: str) -> str:
    """The delimiter the header line (never quoted in practice) uses most; a comma when it uses none."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class CsvFile:
    """An open CSV file: its header (each name trimmed) and its data rows. Use it as a context manager.

    Opening reads the header: an empty file, an unreadable first line or a column named twice is an InputError
    naming the file. Rows are read on demand; a row that cannot be used is yielded with its reason and reading
    goes on, except when the rest of the file cannot be decoded (one row then says so and reading ends).
    """

    def __init__(self, source: InputFile, *, pad_short_rows: bool = False) -> None:
        # pad_short_rows: Engage audience CSVs leave out empty trailing cells (https://segment.com/docs/engage/audiences/),
        # so a short row there is a row with blanks; elsewhere a short row is malformed.
        self.name = str(source.path)
        self.pad_short_rows = pad_short_rows
        self._handle = open_text(source)
        try:
            self.header, self.delimiter = self._read_header()
        except BaseException:
            self._handle.close()
            raise

    def _read_header(self) -> tuple[list[str], str]:
        try:
            header_line = self._handle.readline()
        except (EOFError, OSError, zlib.error, UnicodeDecodeError) as exc:
            raise InputError(f"{self.name}: cannot be read: {exc}") from None
        if not header_line.strip():
            raise InputError(f"{self.name}: empty file (no header row)")
        delimiter = sniff_delimiter(header_line)
        header = [name.strip() for name in next(csv.reader([header_line], delimiter=delimiter))]
        problem = duplicate_column(header)
        if problem:
            raise InputError(f"{self.name}: {problem}")
        return header, delimiter

    def rows(self) -> Iterator[CsvRow]:
        """Each non-blank data row in file order, checked to have as many cells as the header."""
        name, width = self.name, len(self.header)
        reader = csv.reader(self._handle, delimiter=self.delimiter)
        last = 1  # physical lines consumed so far (the header is line 1)
        while True:
            origin = f"{name}:{last + 1}"
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (EOFError, OSError, zlib.error) as exc:
                yield CsvRow(origin, [], f"gzip data ends early or is corrupt ({exc}); "
                                         f"line {last + 1} onwards could not be read")
                return
            except UnicodeDecodeError:
                yield CsvRow(origin, [], "not valid UTF-8; the rest of the file was skipped")
                return
            except csv.Error as exc:
                last = reader.line_num + 1
                yield CsvRow(origin, [], f"malformed CSV: {exc}")
                continue
            last = reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) < width and self.pad_short_rows:
                cells += [""] * (width - len(cells))
            if len(cells) != width:
                yield CsvRow(origin, [], f"row has {len(cells)} columns, header has {width}")
                continue
            yield CsvRow(origin, cells)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
