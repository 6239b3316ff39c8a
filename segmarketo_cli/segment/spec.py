"""Segment Spec message builders, deterministic messageIds and the ISO timestamp format Segment expects."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from segmarketo_cli import __version__
from segmarketo_cli.timeparse import parse_utc

LIBRARY = {"name": "segmarketo", "version": __version__}
# Loop avoidance (https://segment.com/docs/connections/spec/common/#integrations; docs/writeback.md): write-back must
# never flow back into Marketo through Segment.
DEFAULT_INTEGRATIONS: dict[str, bool] = {"Marketo V2": False, "Marketo Static Lists (Actions)": False}
MAX_MESSAGE_ID_CHARS = 99  # Segment keeps only ids shorter than 100 characters
MAX_MESSAGE_BYTES = 32 * 1024
MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")

def check_message_id(message_id: object) -> str | None:
    """Why `message_id` is unusable, or None when it is fine."""
    if not isinstance(message_id, str) or not message_id:
        return "messageId is missing"
    if len(message_id) > MAX_MESSAGE_ID_CHARS:
        return f"messageId is {len(message_id)} characters; Segment keeps only ids under 100"
    return None


def _checked(message_id: str) -> str:
    problem = check_message_id(message_id)
    if problem:
        raise ValueError(f"{problem}: {message_id[:40]!r}…")
    return message_id


def activity_message_id(munchkin: str, marketo_guid: str | int, namespace: str = "mkto") -> str:
    """`mkto-<munchkinId>-<marketoGUID>`: the same Marketo activity always gets the same id.

    Change `namespace` (e.g. `mkto2`) only to deliberately re-send events Segment would otherwise dedupe.
    """
    return _checked(f"{namespace}-{munchkin}-{marketo_guid}")


def iso_timestamp(value: datetime | str | float | int | None = None) -> str:
    """`YYYY-MM-DDTHH:MM:SS.sssZ` in UTC from a datetime (naive = UTC), epoch seconds or ISO text; None = now."""
    if value is None:
        moment = datetime.now(timezone.utc)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, timezone.utc)
    elif isinstance(value, str):
        moment = parse_utc(value)
    else:
        raise TypeError(f"cannot make a timestamp from {type(value).__name__}")
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def message_size(message: dict[str, Any]) -> int:
    """Bytes of a message as Segment measures it (analytics-python's rule)."""
    return len(json.dumps(message).encode())


def problem_with(message: object) -> str | None:
    """Why Segment would refuse or silently drop `message`, or None when it looks deliverable."""
    if not isinstance(message, dict):
        return "message is not a JSON object"
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        return f"type {kind!r} is not one of {', '.join(MESSAGE_TYPES)}"
    if kind == "alias":
        if not message.get("userId") or not message.get("previousId"):
            return "alias needs userId and previousId"
    elif not message.get("userId") and not message.get("anonymousId"):
        return "neither userId nor anonymousId is set (Segment drops it as no_user_anon_id)"
    if kind == "track" and not message.get("event"):
        return "track without an event name"
    return check_message_id(message.get("messageId"))


def _identity(user_id: str | None, anonymous_id: str | None) -> dict[str, str]:
    if not user_id and not anonymous_id:
        raise ValueError("a Segment message needs userId or anonymousId")
    ids: dict[str, str] = {}
    if user_id:
        ids["userId"] = str(user_id)
    if anonymous_id:
        ids["anonymousId"] = str(anonymous_id)
    return ids


def _finish(
    message: dict[str, Any],
    message_id: str,
    timestamp: datetime | str | float | None,
    context: dict[str, Any] | None,
    integrations: dict[str, bool] | None,
) -> dict[str, Any]:
    """Add the common fields every Spec call carries."""
    if context:
        message["context"] = context
    if integrations is not None:
        message["integrations"] = integrations
    if timestamp is not None:
        message["timestamp"] = iso_timestamp(timestamp)
    message["messageId"] = _checked(message_id)
    return message


def track(
    event: str,
    *,
    message_id: str,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    properties: dict[str, Any] | None = None,
    timestamp: datetime | str | float | None = None,
    context: dict[str, Any] | None = None,
    integrations: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """A Spec track call; `timestamp` is when it happened (e.g. the Marketo activityDate)."""
    if not event:
        raise ValueError("a track call needs an event name")
    message: dict[str, Any] = {"type": "track", "event": event, **_identity(user_id, anonymous_id)}
    message["properties"] = dict(properties or {})
    return _finish(message, message_id, timestamp, context, integrations)
