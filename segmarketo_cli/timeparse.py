"""ISO-8601 parsing that behaves the same on Python 3.10 and 3.11+ ('Z', any fraction digits, +0000)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

_ISO = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$"
)


def parse_iso_datetime(text: str) -> datetime:
    """A datetime from ISO-8601 text; naive when the text has no zone. Raises ValueError when it is not ISO."""
    value = text.strip()
    try:
        return datetime.fromisoformat(value)  # fast path: whatever this Python reads natively
    except ValueError:
        pass
    match = _ISO.match(value)
    if not match:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    day, clock, fraction, zone = match.groups()
    if clock is None:
        return datetime.fromisoformat(day)
    normal = f"{day}T{clock}"
    if fraction:
        normal += "." + fraction[:6].ljust(6, "0")
    if zone:
        if zone in ("Z", "z"):
            zone = "+00:00"
        elif len(zone) == 3:
            zone += ":00"
        elif ":" not in zone:
            zone = f"{zone[:3]}:{zone[3:]}"
        normal += zone
    return datetime.fromisoformat(normal)


def parse_utc(text: str) -> datetime:
    """An aware UTC datetime from ISO-8601 text (naive means UTC). Raises ValueError when it is not ISO."""
    moment = parse_iso_datetime(text)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
