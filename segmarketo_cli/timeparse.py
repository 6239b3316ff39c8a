"""Time from text and messages: ISO-8601 parsing that behaves the same on Python 3.10 and 3.11+ ('Z', any
fraction digits, +0000), epoch seconds, and the one rule for when a Segment message happened."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from segmarketo_cli.errors import ConfigError

# Where a Segment message says when it happened, best first (https://segment.com/docs/connections/spec/common/#timestamps)
MESSAGE_TIME_KEYS = ("timestamp", "originalTimestamp", "receivedAt", "sentAt")
_EPOCH = datetime(1970, 1, 1)  # naive: local times minus their offset are compared with it
_EPOCH_MS_FROM = 1e11  # a number above this is milliseconds (1e11 s is the year 5138)

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
    """An aware UTC datetime from ISO-8601 text (naive means UTC). Raises ValueError when it is not ISO, or falls
    outside years 1-9999 in UTC (9999-12-31T23:00:00-05:00)."""
    return as_utc(parse_iso_datetime(text))


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC (naive means UTC already). Raises ValueError when that falls outside years 1-9999."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is out of range in UTC") from None


def epoch_seconds(value: Any) -> float | None:
    """Epoch seconds of ISO-8601 text (naive means UTC) or of a number (seconds, or milliseconds when larger than
    1e11); None when absent, blank or unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value / 1000.0 if value > _EPOCH_MS_FROM else float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = parse_iso_datetime(value)
    except ValueError:
        return None
    # From the local time and its offset: a time whose UTC falls past year 9999 still has its epoch (as DuckDB
    # gives it to the columnar read), where converting it to UTC first would overflow.
    return (moment.replace(tzinfo=None) - _EPOCH - (moment.utcoffset() or timedelta(0))).total_seconds()


def message_time(message: Mapping[str, Any]) -> float | None:
    """When a Segment message happened: the first readable of timestamp, originalTimestamp, receivedAt, sentAt."""
    for key in MESSAGE_TIME_KEYS:
        stamp = epoch_seconds(message.get(key))
        if stamp is not None:
            return stamp
    return None


def iso_utc(epoch: float) -> str:
    """Epoch seconds as ISO 8601 in UTC to the second, e.g. 2026-12-05T07:56:07Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_s(text: str, *, what: str) -> float:
    """A duration such as 90m, 24h, 90d or 2w, in seconds; ConfigError (exit 2) naming `what` for anything else."""
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise ConfigError(f"{what} '{text}' is not a duration (e.g. 90d, 12w, 24h)")
    return float(int(match.group(1)) * _UNIT_S[match.group(2).lower()])
