"""Audience readers: Engage CSV downloads, id-column CSVs, S3 (Actions) CSVs and audience events -> people."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from segmarketo_cli.errors import ConfigError, InputError
from segmarketo_cli.sources.audience.events import read_events, read_s3_actions
from segmarketo_cli.sources.audience.people import (
    AudienceInput,
    AudiencePerson,
    Identity,
    Problem,
    identities_of,
    reject,
)
from segmarketo_cli.sources.csvfile import CsvFile
from segmarketo_cli.sources.discover import InputFile, inspect
from segmarketo_cli.sources.jsonlines import json_error

__all__ = ["ID_TYPES", "AudienceInput", "AudiencePerson", "Identity", "read_audience"]

ID_TYPES = ("email", "userId", "marketo-id")
_CURLY = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"'})
_EMAIL_COL = re.compile(r"^(e-?mail(_?address)?|emails?)(_\d+)?$", re.I)
_USER_COL = re.compile(r"^(user_?id|userid)(_\d+)?$", re.I)
_LEAD_COL = re.compile(r"^(marketo_?(lead_?)?id|lead_?id|mkto_?id)$", re.I)
_ID_COLUMNS = {"email": _EMAIL_COL, "userId": _USER_COL, "marketo-id": _LEAD_COL}


def read_audience(path: str | Path, *, audience: str | None = None, id_column: str | None = None,
                  id_type: str | None = None) -> AudienceInput:
    """Read one audience file; ConfigError/InputError for problems with the whole file, rejects per row."""
    if id_type is not None and id_type not in ID_TYPES:
        raise ConfigError(f"--id-type must be one of {', '.join(ID_TYPES)}, not '{id_type}'")
    source = inspect(Path(path))
    if source.format in ("jsonl", "json"):
        result = read_events(source, audience)
    elif source.format == "csv":
        result = _read_csv(source, audience=audience, id_column=id_column, id_type=id_type)
    else:
        raise InputError(f"{path}: {source.format} files are not audience inputs (use CSV or JSONL)")
    if not result.people and result.rejects and all(r.reason.startswith("hashed e-mail") for r in result.rejects):
        raise InputError(
            f"{path}: every e-mail is a SHA-256 hash; Marketo needs clear addresses",
            hint="download the audience with raw e-mails (Engage hashes them unless you have that permission)",
        )
    return result


# CSV ----------------------------------------------------------------------------------------------------
def _read_csv(source: InputFile, *, audience: str | None, id_column: str | None,
              id_type: str | None) -> AudienceInput:
    with CsvFile(source, pad_short_rows=True) as table:
        header = table.header
        lowered = [h.lower() for h in header]
        if id_column is None and ("audience_action" in lowered or "audience_name" in lowered):
            return read_s3_actions(table, audience)
        picked = _pick_column(header, id_column, id_type, table.name)
        if picked is not None:
            column, kind = picked
            result = AudienceInput(table.name, "csv", "snapshot")
            index = header.index(column)
            for row in table.rows():
                result.rows += 1
                if row.error is not None:
                    reject(result, row.origin, (row.error, None, None))
                    continue
                ids, problem = identities_of({kind: [row.cells[index]]})
                _add_snapshot(result, ids, row.origin, None, problem)
            return _dedupe(result)
        shape = "engage-unformatted" if "external_ids" in lowered or "traits" in lowered else "engage-formatted"
        columns = _profile_columns(header)
        if not any(columns.values()) and "external_ids" not in lowered and "traits" not in lowered:
            raise ConfigError(
                f"{table.name}: no identifier column found in {', '.join(header) or 'the header'}",
                hint="name it with --id-column and --id-type email|userId|marketo-id",
            )
        if "key" not in lowered and shape == "engage-formatted":
            shape = "csv"
        result = AudienceInput(table.name, shape, "snapshot")
        for row in table.rows():
            result.rows += 1
            if row.error is not None:
                reject(result, row.origin, (row.error, None, None))
                continue
            values, json_problem = _profile_values(header, row.cells, columns)
            ids, id_problem = identities_of(values) if json_problem is None else ([], json_problem)
            user_id = next((u.strip() for u in values.get("userId") or [] if u and u.strip()), None)
            _add_snapshot(result, ids, row.origin, user_id, id_problem)
        return _dedupe(result)


def _add_snapshot(result: AudienceInput, ids: list[Identity], origin: str, user_id: str | None,
                  problem: Problem | None) -> None:
    if not ids:
        reject(result, origin, problem or ("no identifier", None, None))
        return
    result.people.append(AudiencePerson(tuple(ids), origin, True, user_id))


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
        if _ID_COLUMNS[id_type].match(column):
            return column, id_type
    raise ConfigError(f"{name}: no {id_type} column found in {', '.join(header)}", hint="name it with --id-column")


def _column_kind(column: str) -> str | None:
    if _EMAIL_COL.match(column) or "mail" in column.lower():
        return "email"
    if _USER_COL.match(column):
        return "userId"
    if _LEAD_COL.match(column) or column.lower() == "id":
        return "marketo-id"
    return None


def _profile_columns(header: list[str]) -> dict[str, list[int]]:
    return {kind: [i for i, h in enumerate(header) if pattern.match(h)] for kind, pattern in _ID_COLUMNS.items()}


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


def _profile_values(header: list[str], row: list[str],
                    columns: dict[str, list[int]]) -> tuple[dict[str, list[str]], Problem | None]:
    values: dict[str, list[str]] = {kind: [row[i] for i in idx] for kind, idx in columns.items()}
    lowered = [h.lower() for h in header]
    for column, keys in (("external_ids", ("email", "user_id", "userId")), ("traits", ("email", "user_id"))):
        if column not in lowered:
            continue
        cell = row[lowered.index(column)]
        parsed, problem = _json_cell(cell)
        if parsed is None:
            return values, (f"{column}: {problem}", column, cell)
        for key in keys:
            found = parsed.get(key)
            for item in found if isinstance(found, list) else [found]:
                if isinstance(item, (str, int)) and str(item).strip():
                    values.setdefault("email" if key == "email" else "userId", []).append(str(item))
    return values, None


def _dedupe(result: AudienceInput) -> AudienceInput:
    """Snapshot files: one person per key (the first row wins); later rows with that key are repeats."""
    seen: set[Identity] = set()
    people = []
    for person in result.people:
        if person.key in seen:
            result.repeated += 1
            continue
        seen.add(person.key)
        people.append(person)
    result.people = people
    return result
