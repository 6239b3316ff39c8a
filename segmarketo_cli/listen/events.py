"""Segment Webhooks bodies -> spool events: one event object, {"batch": [...]} or a JSON array."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from segmarketo_cli.listen.spool import Event

AUDIENCE_EVENTS = ("Audience Entered", "Audience Exited")
DRAINED_TYPES = ("identify", "track")
KNOWN_TYPES = ("identify", "track", "page", "screen", "group", "alias")


class NotEvents(ValueError):
    """The body is not JSON, or not Segment events (400); the message names what is wrong, never a value."""


def parse_body(raw: bytes) -> tuple[list[Event], int]:
    """The events of one request body and how many known but not drained ones (page, screen, group, alias) it
    held; NotEvents for malformed JSON or anything that is not an event."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise NotEvents("body is not valid JSON") from None
    if isinstance(data, dict) and "batch" in data:
        data = data["batch"]
    items = data if isinstance(data, list) else [data]
    if not items:
        raise NotEvents("body holds no events")
    events: list[Event] = []
    ignored = 0
    for index, item in enumerate(items):
        kind = event_kind(item, index)
        if kind is None:
            ignored += 1
            continue
        body = json.dumps(item, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        message_id = item.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            message_id = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
        events.append(Event(message_id, kind, body))
    return events, ignored


def event_kind(item: Any, index: int) -> str | None:
    """'identify', 'audience' (Audience Entered/Exited) or 'track'; None for a known type listen does not drain."""
    if not isinstance(item, dict):
        raise NotEvents(f"event {index + 1} is not a JSON object")
    kind = item.get("type")
    if not isinstance(kind, str) or kind not in KNOWN_TYPES:
        raise NotEvents(f"event {index + 1} has no Segment type ({', '.join(KNOWN_TYPES)})")
    if kind not in DRAINED_TYPES:
        return None
    if kind == "track":
        name = item.get("event")
        if not isinstance(name, str) or not name:
            raise NotEvents(f"event {index + 1} is a track without an event name")
        return "audience" if name in AUDIENCE_EVENTS else "track"
    return "identify"
