"""Bulk Import failure and warning files mapped back to the uploaded rows and reconciled with the job's counts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.jobs.backfill_leads.plan import lead_key
from segmarketo_cli.mapping.mapper import FieldCatalog
from segmarketo_cli.suggest import did_you_mean

# Real failure files name their reason column so (blog.teknkl.com, "add an initial row number to bulk lead
# import CSVs for useful failure reports"); the warnings file's name is not documented, so the last column is
# taken when the named one is absent.
REASON_COLUMNS = ("Import Failure Reason", "Import Warning Reason")
ROW_FIELD_TYPES = ("string", "text", "integer")


def check_row_field(catalog: FieldCatalog, name: str | None, *, lookup_field: str, mapped: Iterable[str] = ()) -> None:
    """ConfigError unless `bulk_row_field` names a writable string/text/integer lead field segmarketo may own."""
    if not name:
        return
    where = "bulk_row_field"
    info = catalog.get(name)
    if info is None:
        raise ConfigError(f"{where} '{name}' is not a Marketo lead field (create a custom String field for it, "
                          f"or unset bulk_row_field){did_you_mean(name, catalog.fields)}")
    if info.read_only or info.data_type not in ROW_FIELD_TYPES:
        raise ConfigError(f"{where} '{name}' must be a writable {'/'.join(ROW_FIELD_TYPES)} field, "
                          f"got a {'read-only ' if info.read_only else ''}{info.data_type} field")
    if name == lookup_field or name in set(mapped):
        raise ConfigError(f"{where} '{name}' is also the lookup field or a mapping target; it must be a field "
                          "no data is written to")


@dataclass
class Attribution:
    """Reasons by upload row index (0-based), or the `problem` that kept the file from being reconciled."""

    reasons: dict[int, str] = field(default_factory=dict)
    problem: str | None = None


def attribute_report(text: str, *, expected: int, keys: list[str], lookup_field: str,
                     row_field: str | None = None) -> Attribution:
    """Place every row of a failures/warnings file on the uploaded row it stands for.

    `keys` are the uploaded rows' normalised lookup values, in file order. A row is placed by the
    `row_field` column (1-based row numbers segmarketo wrote) when the file has it, else by its lookup value
    when the file has that column and the value is unique in the upload. Marketo does not echo the upload's
    header (a column empty in the upload can be missing), so anything that cannot be placed, or a count that
    differs from `expected` (numOfRowsFailed / numOfRowsWithWarning), makes the whole file a `problem`.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip() for name in next(reader, None) or []]
    rows = [row for row in reader if any(cell.strip() for cell in row)]
    if len(rows) != expected:
        return Attribution(problem=f"the file lists {len(rows)} row(s) but Marketo counted {expected}")
    if not rows:
        return Attribution()
    named = [i for i, name in enumerate(header) if name in REASON_COLUMNS]
    reason_at = named[0] if named else len(header) - 1
    number_at = header.index(row_field) if row_field and row_field in header else None
    key_at = header.index(lookup_field) if number_at is None and lookup_field in header else None
    if number_at is None and key_at is None:
        wanted = f"'{row_field}' or '{lookup_field}'" if row_field else f"'{lookup_field}'"
        return Attribution(problem=f"its header ({', '.join(header)}) has no {wanted} column to map rows back by")
    by_key: dict[str, int] = {}
    repeated: set[str] = set()
    for index, key in enumerate(keys):
        if key in by_key:
            repeated.add(key)
        by_key.setdefault(key, index)
    result = Attribution()
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header) or reason_at < 0:
            return Attribution(problem=f"line {line} has {len(row)} cells, its header {len(header)}")
        place = _place(row, number_at, key_at, lookup_field, by_key, repeated, len(keys))
        if place is None or place in result.reasons:
            return Attribution(problem=f"line {line} cannot be matched to exactly one uploaded row")
        result.reasons[place] = row[reason_at].strip() or "no reason given"
    return result


def _place(row: list[str], number_at: int | None, key_at: int | None, lookup_field: str, by_key: dict[str, int],
           repeated: set[str], size: int) -> int | None:
    if number_at is not None:
        cell = row[number_at].strip()
        number = int(cell) if cell.isdigit() else 0
        return number - 1 if 1 <= number <= size else None
    key = lead_key(lookup_field, row[key_at]) if key_at is not None else None
    if key is None or key in repeated:
        return None
    return by_key.get(key)
