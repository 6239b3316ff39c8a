"""Audience readers: Engage CSV downloads, id-column CSVs, S3 (Actions) CSVs and audience events -> people."""

from __future__ import annotations

import csv
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmarketo_cli.errors import ConfigError, InputError
from segmarketo_cli.identity import SHA256_RE, normalize_email
from segmarketo_cli.sources.columns import duplicate_column
from segmarketo_cli.sources.discover import InputFile, inspect
from segmarketo_cli.sources.jsonlines import json_error
from segmarketo_cli.sources.tabular import open_text

ID_TYPES = ("email", "userId", "marketo-id")
_CURLY = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"'})
_EMAIL_COL = re.compile(r"^(e-?mail(_?address)?|emails?)(_\d+)?$", re.I)
_USER_COL = re.compile(r"^(user_?id|userid)(_\d+)?$", re.I)
_LEAD_COL = re.compile(r"^(marketo_?(lead_?)?id|lead_?id|mkto_?id)$", re.I)
TRUE_WORDS, FALSE_WORDS = {"true", "1", "yes"}, {"false", "0", "no"}
csv.field_size_limit(16 << 20)


@dataclass(frozen=True)
class Identity:
    """One way to name a person: kind is 'email', 'userId' or 'marketo-id'; value is normalised."""

    kind: str
    value: str


@dataclass
class AudiencePerson:
    """One person of the audience: identities (first = key), whether they belong, and where they came from."""

    identities: tuple[Identity, ...]
    origin: str
    member: bool = True
    user_id: str | None = None

    @property
    def key(self) -> Identity:
        return self.identities[0]


@dataclass
class Rejection:
    """An input row that names nobody usable, with its reason."""

    origin: str
    reason: str
    field: str | None = None
    value: str | None = None


@dataclass
class AudienceInput:
    """What a reader made of one file: distinct people plus counts that account for every row."""

    path: str
    shape: str
    kind: str  # "snapshot" (full membership) or "events" (entries and exits)
    audience: str | None = None
    people: list[AudiencePerson] = field(default_factory=list)
    rows: int = 0
    repeated: int = 0
    ignored: int = 0
    rejects: list[Rejection] = field(default_factory=list)


def read_audience(path: str | Path, *, audience: str | None = None, id_column: str | None = None,
                  id_type: str | None = None) -> AudienceInput:
    """Read one audience file; ConfigError/InputError for problems with the whole file, rejects per row."""
    if id_type is not None and id_type not in ID_TYPES:
        raise ConfigError(f"--id-type must be one of {', '.join(ID_TYPES)}, not '{id_type}'")
    source = inspect(Path(path))
    if source.format in ("jsonl", "json"):
        from segmarketo_cli.sources.audience.events import read_events

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
def _delimiter(header_line: str) -> str:
    """S3 (Actions) files may use , | tab ; or : — the header (never quoted) shows which."""
    counts = {d: header_line.count(d) for d in (",", "\t", "|", ";", ":")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(source: InputFile) -> tuple[list[str], Iterator[tuple[str, list[str] | None, str | None]]]:
    """The header and an iterator of (origin, row, error) for each non-blank data row."""
    name = str(source.path)
    handle = open_text(source)
    try:
        header_line = handle.readline()
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as exc:
        handle.close()
        raise InputError(f"{name}: cannot be read: {exc}") from None
    if not header_line.strip():
        handle.close()
        raise InputError(f"{name}: empty file (no header row)")
    delimiter = _delimiter(header_line)
    header = [h.strip() for h in next(csv.reader([header_line], delimiter=delimiter))]
    problem = duplicate_column(header)
    if problem:
        handle.close()
        raise InputError(f"{name}: {problem}")

    def rows() -> Iterator[tuple[str, list[str] | None, str | None]]:
        reader = csv.reader(handle, delimiter=delimiter)
        last = 1
        with handle:
            while True:
                start = last + 1
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except (EOFError, OSError, zlib.error, UnicodeDecodeError) as exc:
                    yield f"{name}:{start}", None, f"unreadable from here on ({exc})"
                    return
                except csv.Error as exc:
                    last = reader.line_num + 1
                    yield f"{name}:{start}", None, f"malformed CSV: {exc}"
                    continue
                last = reader.line_num + 1
                if not row or not any(cell.strip() for cell in row):
                    continue
                if len(row) < len(header):  # Engage sample files omit empty trailing cells
                    row += [""] * (len(header) - len(row))
                if len(row) > len(header):
                    yield f"{name}:{start}", None, f"row has {len(row)} columns, header has {len(header)}"
                    continue
                yield f"{name}:{start}", row, None

    return header, rows()


def _read_csv(source: InputFile, *, audience: str | None, id_column: str | None,
              id_type: str | None) -> AudienceInput:
    header, rows = _csv_rows(source)
    lowered = [h.lower() for h in header]
    if id_column is None and ("audience_action" in lowered or "audience_name" in lowered):
        from segmarketo_cli.sources.audience.events import read_s3_actions

        return read_s3_actions(source, header, rows, audience)
    if id_column is not None or id_type is not None:
        column, kind = _pick_column(header, id_column, id_type, str(source.path))
        result = AudienceInput(str(source.path), "csv", "snapshot")
        index = header.index(column)
        for origin, row, error in rows:
            result.rows += 1
            if error or row is None:
                result.rejects.append(Rejection(origin, error or "unreadable row"))
                continue
            ids, problem = identities_of({kind: [row[index]]})
            _add_snapshot(result, ids, origin, None, problem)
        return _dedupe(result)
    shape = "engage-unformatted" if "external_ids" in lowered or "traits" in lowered else "engage-formatted"
    columns = _profile_columns(header)
    if not any(columns.values()) and "external_ids" not in lowered and "traits" not in lowered:
        raise ConfigError(
            f"{source.path}: no identifier column found in {', '.join(header) or 'the header'}",
            hint="name it with --id-column and --id-type email|userId|marketo-id",
        )
    if "key" not in lowered and shape == "engage-formatted":
        shape = "csv"
    result = AudienceInput(str(source.path), shape, "snapshot")
    for origin, row, error in rows:
        result.rows += 1
        if error or row is None:
            result.rejects.append(Rejection(origin, error or "unreadable row"))
            continue
        values, json_problem = _profile_values(header, row, columns)
        ids, id_problem = identities_of(values) if json_problem is None else ([], json_problem)
        user_id = next((u.strip() for u in values.get("userId") or [] if u and u.strip()), None)
        _add_snapshot(result, ids, origin, user_id, id_problem)
    return _dedupe(result)


def _add_snapshot(result: AudienceInput, ids: list[Identity], origin: str, user_id: str | None,
                  problem: tuple | None) -> None:
    if not ids:
        reason, field_name, value = problem or ("no identifier", None, None)
        result.rejects.append(Rejection(origin, reason, field_name, value))
        return
    result.people.append(AudiencePerson(tuple(ids), origin, True, user_id))


def _pick_column(header: list[str], id_column: str | None, id_type: str | None, name: str) -> tuple[str, str]:
    if id_column is not None:
        matches = [h for h in header if h == id_column] or [h for h in header if h.lower() == id_column.lower()]
        if not matches:
            raise ConfigError(f"{name}: no column '{id_column}' (columns: {', '.join(header)})")
        column = matches[0]
        kind = id_type or _column_kind(column)
        if kind is None:
            raise ConfigError(f"cannot tell what column '{column}' holds", hint="add --id-type email|userId|marketo-id")
        return column, kind
    patterns = {"email": _EMAIL_COL, "userId": _USER_COL, "marketo-id": _LEAD_COL}
    for column in header:
        if patterns[id_type].match(column):  # type: ignore[index]
            return column, id_type  # type: ignore[return-value]
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
    return {
        "email": [i for i, h in enumerate(header) if _EMAIL_COL.match(h)],
        "userId": [i for i, h in enumerate(header) if _USER_COL.match(h)],
        "marketo-id": [i for i, h in enumerate(header) if _LEAD_COL.match(h)],
    }


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
                    columns: dict[str, list[int]]) -> tuple[dict[str, list[str]], tuple | None]:
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


def identities_of(values: dict[str, list[str]]) -> tuple[list[Identity], tuple | None]:
    """Emails first (all of them), else the user id, else the Marketo id; the first problem when none."""
    ids: list[Identity] = []
    problem: tuple | None = None
    for raw in values.get("email") or []:
        if not raw or not raw.strip():
            continue
        email = normalize_email(raw)
        if email is None or "," in email:  # Marketo splits filter values on commas
            reason = "hashed e-mail (SHA-256): Marketo needs clear addresses" if SHA256_RE.match(raw.strip()) \
                else "not an e-mail address"
            problem = problem or (reason, "email", raw)
        elif Identity("email", email) not in ids:
            ids.append(Identity("email", email))
    if ids:
        return ids, None
    for raw in values.get("userId") or []:
        if raw and raw.strip() and "," not in raw:
            return [Identity("userId", raw.strip())], None
    for raw in values.get("marketo-id") or []:
        text = (raw or "").strip()
        if text.isdigit() and int(text) > 0:
            return [Identity("marketo-id", str(int(text)))], None
        if text:
            problem = problem or ("not a Marketo lead id", "marketo-id", raw)
    return [], problem or ("no identifier (e-mail, user id or lead id) in this row", None, None)


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
