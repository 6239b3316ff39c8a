"""Audience event readers: S3 (Actions) CSV rows and Segment JSONL events, replayed latest-wins per person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segmarketo_cli.errors import ConfigError, InputError
from segmarketo_cli.identity import find_email
from segmarketo_cli.sources import read_file
from segmarketo_cli.sources.audience.people import (
    FALSE_WORDS,
    TRUE_WORDS,
    AudienceInput,
    AudiencePerson,
    Identity,
    Rejection,
    identities_of,
    reject,
)
from segmarketo_cli.sources.csvfile import CsvFile
from segmarketo_cli.sources.discover import InputFile
from segmarketo_cli.sources.shape import shape_problem
from segmarketo_cli.timeparse import epoch_seconds, message_time

ENTERED, EXITED = "Audience Entered", "Audience Exited"
_S3_COLUMNS = ("audience_name", "audience_action", "email", "user_id", "timestamp")


@dataclass
class _Event:
    person: AudiencePerson
    audience: str | None
    ts: float | None
    seq: int


def read_s3_actions(table: CsvFile, audience: str | None) -> AudienceInput:
    """An AWS S3 (Actions) audience CSV: one entry (audience_action true) or exit (false) per row."""
    lowered = [h.lower() for h in table.header]
    col = {name: lowered.index(name) for name in _S3_COLUMNS if name in lowered}
    if "audience_action" not in col:
        raise InputError(f"{table.name}: S3 (Actions) file without an audience_action column")
    result = AudienceInput(table.name, "s3-actions", "events")
    events: list[_Event] = []
    for seq, row in enumerate(table.rows()):
        result.rows += 1
        if row.error is not None:
            reject(result, row.origin, (row.error, None, None))
            continue
        cells = {name: row.cells[index].strip() for name, index in col.items()}
        action = cells["audience_action"].lower()
        if action not in TRUE_WORDS | FALSE_WORDS:
            reject(result, row.origin, ("audience_action is not true or false", "audience_action",
                                        cells["audience_action"]))
            continue
        stamp = cells.get("timestamp", "")
        ts = epoch_seconds(stamp) if stamp else None
        if stamp and ts is None:
            reject(result, row.origin, ("timestamp is not ISO-8601", "timestamp", stamp))
            continue
        user_id = cells.get("user_id", "")
        ids, problem = identities_of({"email": [cells.get("email", "")], "userId": [user_id]})
        if problem is not None:
            reject(result, row.origin, problem)
            continue
        person = AudiencePerson(tuple(ids), row.origin, action in TRUE_WORDS, user_id or None)
        events.append(_Event(person, cells.get("audience_name") or None, ts, seq))
    return _replay(result, events, audience)


def read_events(source: InputFile, audience: str | None) -> AudienceInput:
    """Segment audience events (JSONL or JSON): Audience Entered/Exited tracks and audience identifies."""
    result = AudienceInput(str(source.path), "events-jsonl", "events")
    events: list[_Event] = []
    for seq, item in enumerate(read_file(source)):
        result.rows += 1
        message = item.message
        problem = item.error or ("unreadable" if message is None else shape_problem(message))
        if problem or message is None:
            result.rejects.append(Rejection(item.origin, problem or "unreadable"))
            continue
        parsed = _audience_event(message, audience)
        if parsed is None:
            result.ignored += 1
            continue
        key, member = parsed
        email = find_email(message)
        given = message.get("userId")
        user_id = str(given).strip() if isinstance(given, (str, int)) and str(given).strip() else None
        if user_id and "," in user_id:  # Marketo splits filter values on commas
            user_id = None
        ids = [Identity("email", email)] if email else ([Identity("userId", user_id)] if user_id else [])
        if not ids:
            result.rejects.append(Rejection(item.origin, "no e-mail or userId on this audience event"))
            continue
        person = AudiencePerson(tuple(ids), item.origin, member, user_id)
        events.append(_Event(person, key, message_time(message), seq))
    return _replay(result, events, audience)


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


def _replay(result: AudienceInput, events: list[_Event], audience: str | None) -> AudienceInput:
    """Keep the chosen audience's events and replay them in timestamp order: the latest per person wins."""
    keys = sorted({e.audience for e in events if e.audience})
    if audience is None:
        if len(keys) > 1:
            raise ConfigError(f"{result.path} holds several audiences ({', '.join(keys)})",
                              hint="pick one with --audience KEY")
        audience = keys[0] if keys else None
    result.audience = audience
    chosen = [e for e in events if e.audience in (audience, None)]
    result.ignored += len(events) - len(chosen)
    # An event without a timestamp keeps its place after the event before it in the file.
    previous = float("-inf")
    order: list[tuple[float, int, _Event]] = []
    for event in sorted(chosen, key=lambda e: e.seq):
        previous = event.ts if event.ts is not None else previous
        order.append((previous, event.seq, event))
    latest: dict[Identity, AudiencePerson] = {}
    first_seen: dict[Identity, int] = {}
    for _, seq, event in sorted(order, key=lambda t: (t[0], t[1])):
        key = event.person.key
        if key in latest:
            result.repeated += 1
        first_seen.setdefault(key, seq)
        latest[key] = event.person
    result.people = [latest[k] for k in sorted(latest, key=lambda k: first_seen[k])]
    return result
