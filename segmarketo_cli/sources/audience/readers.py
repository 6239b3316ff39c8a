"""Audience readers: Engage CSV downloads, id-column CSVs and spreadsheets, S3 (Actions) CSVs and audience events
-> people."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from segmarketo_cli.errors import ConfigError, InputError
from segmarketo_cli.sources.audience.events import event_rows, s3_action_columns, s3_action_rows
from segmarketo_cli.sources.audience.people import (
    AudienceInput,
    AudiencePerson,
    AudienceRow,
    Identity,
    Item,
    Problem,
    Rejection,
    identities_of,
    rejection,
)
from segmarketo_cli.sources.csvfile import CsvFile, CsvRow, RowTable
from segmarketo_cli.sources.discover import SPREADSHEETS, inspect
from segmarketo_cli.sources.jsonlines import json_error
from segmarketo_cli.sources.sheets import SheetFile, formula_problem

__all__ = ["ID_TYPES", "AudienceInput", "AudiencePerson", "AudienceRow", "Identity", "Rejection", "counted_rows",
           "read_audience"]

ID_TYPES = ("email", "userId", "marketo-id")
_CURLY = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"'})
_EMAIL_COL = re.compile(r"^(e-?mail(_?address)?|emails?)(_\d+)?$", re.I)
_USER_COL = re.compile(r"^(user_?id|userid)(_\d+)?$", re.I)
_LEAD_COL = re.compile(r"^(marketo_?(lead_?)?id|lead_?id|mkto_?id)$", re.I)
_ID_COLUMNS = {"email": _EMAIL_COL, "userId": _USER_COL, "marketo-id": _LEAD_COL}
_JSON_KEYS = (("external_ids", ("email", "user_id", "userId")), ("traits", ("email", "user_id")))
_SPACES = re.compile(r"\s+")
_SHAPE_COLUMNS = frozenset({"external_ids", "traits", "audience_action", "audience_name"})
OpenTable = Callable[[], AbstractContextManager[RowTable]]


def read_audience(path: str | Path, *, audience: str | None = None, id_column: str | None = None,
                  id_type: str | None = None, sheet: str | None = None, count: bool = True) -> AudienceInput:
    """Check one audience file, counting its rows without keeping them; ConfigError/InputError for problems with
    the whole file. The run reads the rows with `scan` (each pass reads the file the same way). `sheet`: the
    spreadsheet sheet to read (default: the first). `count=False` checks the header only: the caller then reads
    the rows once through `counted_rows`, which makes the checks of the rows."""
    if id_type is not None and id_type not in ID_TYPES:
        raise ConfigError(f"--id-type must be one of {', '.join(ID_TYPES)}, not '{id_type}'")
    source = inspect(Path(path))
    if sheet is not None and source.format not in SPREADSHEETS:
        raise ConfigError(f"--sheet is for .xlsx and .xls files; {path} is {source.format}")
    if source.format in ("jsonl", "json"):
        result = AudienceInput(str(source.path), "events-jsonl", "events", lambda: event_rows(source, audience))
    elif source.format == "csv":
        result = _table_input(lambda: CsvFile(source, pad_short_rows=True), audience=audience, id_column=id_column,
                              id_type=id_type)
    elif source.format in SPREADSHEETS:
        is_header = _header_test(id_column)
        result = _table_input(lambda: SheetFile(source, sheet=sheet, is_header=is_header), audience=audience,
                              id_column=id_column, id_type=id_type)
    else:
        raise InputError(f"{path}: {source.format} files are not audience inputs (use CSV, XLSX or JSONL)")
    result.audience = audience  # asked for; an events file's counted rows settle it
    if count:
        for _ in counted_rows(result, audience):
            pass
    return result


def counted_rows(result: AudienceInput, audience: str | None) -> Iterator[Item]:
    """Every row of `result`, counted as it goes by; once the last is out, the audience of an events file is
    picked (the only one it holds, unless given) and a file naming nobody but hashed e-mails is refused."""
    result.rows = result.usable = result.ignored = result.rejected = 0
    by_audience: Counter[str | None] = Counter()
    hashed_only = True
    for item in result.scan():
        result.rows += 1
        if item is None:
            result.ignored += 1
        elif isinstance(item, Rejection):
            result.rejected += 1
            hashed_only = hashed_only and item.reason.startswith("hashed e-mail")
        else:
            by_audience[item.audience] += 1
        yield item
    keys = sorted(key for key in by_audience if key)
    if result.kind == "events" and audience is None:
        if len(keys) > 1:
            raise ConfigError(f"{result.path} holds several audiences ({', '.join(keys)})",
                              hint="pick one with --audience KEY")
        audience = keys[0] if keys else None
    result.audience = audience if result.kind == "events" else None
    chosen = by_audience.total() if result.kind == "snapshot" else by_audience[audience] + by_audience[None]
    result.usable = chosen
    result.ignored += by_audience.total() - chosen
    if not result.usable and result.rejected and hashed_only:
        raise InputError(
            f"{result.path}: every e-mail is a SHA-256 hash; Marketo needs clear addresses",
            hint="download the audience with raw e-mails (Engage hashes them unless you have that permission)",
        )


# CSV and spreadsheets --------------------------------------------------------------------------------
def _header_test(id_column: str | None) -> Callable[[list[str]], bool]:
    """Whether a spreadsheet row is the header: it names an identifier column (or --id-column) or an Engage or
    S3 (Actions) column; rows above it are titles and notes."""
    wanted = id_column.lower() if id_column else None

    def is_header(cells: list[str]) -> bool:
        for cell in cells:
            lowered = cell.lower()
            if lowered == wanted or lowered in _SHAPE_COLUMNS:
                return True
            if wanted is None and any(p.match(_column_key(cell)) for p in _ID_COLUMNS.values()):
                return True
        return False
    return is_header


def _table_input(open_table: OpenTable, *, audience: str | None, id_column: str | None,
                 id_type: str | None) -> AudienceInput:
    """What kind of table (CSV file or sheet) `open_table` opens, from its header, and the scan that reads its
    rows that way."""
    with open_table() as table:
        name, header = table.name, table.header
        lowered = [h.lower() for h in header]
        if id_column is None and ("audience_action" in lowered or "audience_name" in lowered):
            s3_columns = s3_action_columns(table)
            scan = _table_scan(open_table, lambda t: s3_action_rows(t, s3_columns))
            return AudienceInput(name, "s3-actions", "events", scan)
        picked = _pick_column(header, id_column, id_type, name)
        if picked is not None:
            column, kind = picked
            index = header.index(column)
            return AudienceInput(name, "csv", "snapshot",
                                 _table_scan(open_table, lambda t: _id_column_rows(t, index, kind)))
        shape = "engage-unformatted" if "external_ids" in lowered or "traits" in lowered else "engage-formatted"
        columns = _profile_columns(header)
        if not any(columns.values()) and "external_ids" not in lowered and "traits" not in lowered:
            raise ConfigError(
                f"{name}: no identifier column found in {', '.join(header) or 'the header'}",
                hint="name it with --id-column and --id-type email|userId|marketo-id",
            )
        if "key" not in lowered and shape == "engage-formatted":
            shape = "csv"
        return AudienceInput(name, shape, "snapshot", _table_scan(open_table, lambda t: _profile_rows(t, columns)))


def _table_scan(open_table: OpenTable, rows: Callable[[RowTable], Iterator[Item]]) -> Callable[[], Iterator[Item]]:
    """A scan that opens the table afresh and reads its rows with `rows`."""
    def scan() -> Iterator[Item]:
        with open_table() as table:
            yield from rows(table)
    return scan


def _unusable(row: CsvRow, indices: list[int], header: list[str]) -> Problem | None:
    """Why a row cannot be read at all: its own error, or a formula where an identifier should be."""
    if row.error is not None:
        return row.error, None, None
    return formula_problem(row.cells, indices, header)


def _id_column_rows(table: RowTable, index: int, kind: str) -> Iterator[Item]:
    for seq, row in enumerate(table.rows()):
        problem = _unusable(row, [index], table.header)
        if problem is not None:
            yield rejection(row.origin, problem)
            continue
        ids, problem = identities_of({kind: [row.cells[index]]})
        yield _snapshot_row(seq, ids, row.origin, None, problem)


def _profile_rows(table: RowTable, columns: dict[str, list[int]]) -> Iterator[Item]:
    json_columns = _json_columns(table.header)
    used = sorted({i for idx in columns.values() for i in idx} | {index for _c, index, _k in json_columns})
    for seq, row in enumerate(table.rows()):
        problem = _unusable(row, used, table.header)
        if problem is not None:
            yield rejection(row.origin, problem)
            continue
        values, json_problem = _profile_values(row.cells, columns, json_columns)
        ids, id_problem = identities_of(values) if json_problem is None else ([], json_problem)
        user_id = next((u.strip() for u in values.get("userId") or [] if u and u.strip()), None)
        yield _snapshot_row(seq, ids, row.origin, user_id, id_problem)


def _snapshot_row(seq: int, ids: list[Identity], origin: str, user_id: str | None,
                  problem: Problem | None) -> Item:
    if not ids:
        return rejection(origin, problem or ("no identifier", None, None))
    return AudienceRow(AudiencePerson(tuple(ids), origin, True, user_id), seq)


def _pick_column(header: list[str], id_column: str | None, id_type: str | None,
                 name: str) -> tuple[str, str] | None:
    """The column --id-column / --id-type point at and the kind of id it holds; None when neither was given."""
    if id_column is not None:
        matches = [h for h in header if h == id_column] or [h for h in header if h.lower() == id_column.lower()]
        if not matches:
            raise ConfigError(f"{name}: no column '{id_column}' (columns: {', '.join(header)})")
        column = matches[0]
        kind = id_type or _column_kind(column)
        if kind is None:
            raise ConfigError(f"cannot tell what column '{column}' holds", hint="add --id-type email|userId|marketo-id")
        return column, kind
    if id_type is None:
        return None
    for column in header:
        if _ID_COLUMNS[id_type].match(_column_key(column)):
            return column, id_type
    raise ConfigError(f"{name}: no {id_type} column found in {', '.join(header)}", hint="name it with --id-column")


def _column_kind(column: str) -> str | None:
    key = _column_key(column)
    if _EMAIL_COL.match(key) or "mail" in key.lower():
        return "email"
    if _USER_COL.match(key):
        return "userId"
    if _LEAD_COL.match(key) or key.lower() == "id":
        return "marketo-id"
    return None


def _profile_columns(header: list[str]) -> dict[str, list[int]]:
    return {kind: [i for i, h in enumerate(header) if pattern.match(_column_key(h))]
            for kind, pattern in _ID_COLUMNS.items()}


def _column_key(column: str) -> str:
    """A column name as the patterns match it: spaces as underscores ("Email Address" -> "Email_Address")."""
    return _SPACES.sub("_", column.strip())


def _json_cell(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a JSON object cell; typographic quotes (seen in Engage sample files) become plain quotes."""
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text.translate(_CURLY))
    except ValueError as exc:
        return None, f"invalid JSON ({json_error(exc)})"
    except RecursionError:
        return None, "invalid JSON (nested too deeply)"
    return (value, None) if isinstance(value, dict) else (None, "expected a JSON object")


def _json_columns(header: list[str]) -> list[tuple[str, int, tuple[str, ...]]]:
    """The JSON columns of an unformatted Engage download present in `header`: name, position, keys to read."""
    lowered = [h.lower() for h in header]
    return [(column, lowered.index(column), keys) for column, keys in _JSON_KEYS if column in lowered]


def _profile_values(row: list[str], columns: dict[str, list[int]],
                    json_columns: list[tuple[str, int, tuple[str, ...]]]) -> tuple[dict[str, list[str]],
                                                                                 Problem | None]:
    values: dict[str, list[str]] = {kind: [row[i] for i in idx] for kind, idx in columns.items()}
    for column, index, keys in json_columns:
        cell = row[index]
        parsed, problem = _json_cell(cell)
        if parsed is None:
            return values, (f"{column}: {problem}", column, cell)
        for key in keys:
            found = parsed.get(key)
            for item in found if isinstance(found, list) else [found]:
                if isinstance(item, (str, int)) and str(item).strip():
                    values.setdefault("email" if key == "email" else "userId", []).append(str(item))
    return values, None
