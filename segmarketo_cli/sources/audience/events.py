"""Audience event readers: S3 (Actions) CSV rows and Segment JSONL events, one item per row (the run replays them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from segmarketo_cli.errors import InputError
from segmarketo_cli.identity import find_email
from segmarketo_cli.sources import read_file
from segmarketo_cli.sources.audience.people import (
    FALSE_WORDS,
    TRUE_WORDS,
    AudiencePerson,
    AudienceRow,
    Identity,
    Item,
    Rejection,
    identities_of,
    rejection,
)
from segmarketo_cli.sources.csvfile import RowTable
from segmarketo_cli.sources.discover import InputFile
from segmarketo_cli.sources.shape import shape_problem
from segmarketo_cli.timeparse import epoch_seconds, message_time

ENTERED, EXITED = "Audience Entered", "Audience Exited"
_S3_COLUMNS = ("audience_name", "audience_action", "email", "user_id", "timestamp")


def s3_action_columns(table: RowTable) -> dict[str, int]:
    """The S3 (Actions) columns present and their positions; InputError without audience_action."""
    lowered = [h.lower() for h in table.header]
    col = {name: lowered.index(name) for name in _S3_COLUMNS if name in lowered}
    if "audience_action" not in col:
        raise InputError(f"{table.name}: S3 (Actions) file without an audience_action column")
    return col


def s3_action_rows(table: RowTable, col: dict[str, int]) -> Iterator[Item]:
    """An AWS S3 (Actions) audience CSV: one entry (audience_action true) or exit (false) per row."""
    for seq, row in enumerate(table.rows()):
        if row.error is not None:
            yield rejection(row.origin, (row.error, None, None))
            continue
        cells = {name: row.cells[index].strip() for name, index in col.items()}
        action = cells["audience_action"].lower()
        if action not in TRUE_WORDS | FALSE_WORDS:
            yield rejection(row.origin, ("audience_action is not true or false", "audience_action",
                                         cells["audience_action"]))
            continue
        stamp = cells.get("timestamp", "")
        ts = epoch_seconds(stamp) if stamp else None
        if stamp and ts is None:
            yield rejection(row.origin, ("timestamp is not ISO-8601", "timestamp", stamp))
            continue
        user_id = cells.get("user_id", "")
        ids, problem = identities_of({"email": [cells.get("email", "")], "userId": [user_id]})
        if problem is not None:
            yield rejection(row.origin, problem)
            continue
        person = AudiencePerson(tuple(ids), row.origin, action in TRUE_WORDS, user_id or None)
        yield AudienceRow(person, seq, cells.get("audience_name") or None, ts)


def event_rows(source: InputFile, audience: str | None) -> Iterator[Item]:
    """Segment audience events (JSONL or JSON): Audience Entered/Exited tracks and audience identifies."""
    for seq, item in enumerate(read_file(source)):
        message = item.message
        problem = item.error or ("unreadable" if message is None else shape_problem(message))
        if problem or message is None:
            yield Rejection(item.origin, problem or "unreadable")
            continue
        parsed = _audience_event(message, audience)
        if parsed is None:
            yield None
            continue
        key, member = parsed
        email = find_email(message)
        given = message.get("userId")
        user_id = str(given).strip() if isinstance(given, (str, int)) and str(given).strip() else None
        if user_id and "," in user_id:  # Marketo splits filter values on commas
            user_id = None
        ids = [Identity("email", email)] if email else ([Identity("userId", user_id)] if user_id else [])
        if not ids:
            yield Rejection(item.origin, "no e-mail or userId on this audience event")
            continue
        person = AudiencePerson(tuple(ids), item.origin, member, user_id)
        yield AudienceRow(person, seq, key, message_time(message))


def _truth(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    return None


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """parent[key] when it is an object, else an empty one."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _audience_event(message: dict[str, Any], audience: str | None) -> tuple[str, bool] | None:
    """(audience key, member?) for an Audience Entered/Exited track or an audience identify, else None."""
    personas = _object(_object(message, "context"), "personas")
    computed = personas.get("computation_key") if isinstance(personas.get("computation_key"), str) else None
    kind = message.get("type")
    if kind == "track":
        props = _object(message, "properties")
        key = props.get("audience_key") if isinstance(props.get("audience_key"), str) else computed
        event = message.get("event")
        if key is None:
            return None
        flag = _truth(props.get(key))
        if flag is None and event in (ENTERED, EXITED):
            flag = event == ENTERED
        return (key, flag) if flag is not None else None
    if kind == "identify":
        traits = _object(message, "traits")
        for key in (audience, computed):
            if key and _truth(traits.get(key)) is not None:
                return key, bool(_truth(traits.get(key)))
    return None
