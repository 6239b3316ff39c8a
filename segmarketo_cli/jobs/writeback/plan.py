"""Write-back planning, pure: the time window and the activity type -> event name table."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.segment import spec
from segmarketo_cli.timeparse import parse_utc

# Marketo activity type name -> Segment event name, written back by default: only events of Segment's Email spec
# (https://segment.com/docs/connections/spec/email/; docs/writeback.md). "Email Marked as Spam" has no Marketo
# activity type.
DEFAULT_EVENTS: dict[str, str] = {
    "Email Delivered": "Email Delivered",
    "Email Bounced": "Email Bounced",
    "Email Bounced Soft": "Email Bounced",
    "Unsubscribe Email": "Unsubscribed",
    "Open Email": "Email Opened",
    "Click Email": "Email Link Clicked",
}
# Marketo extras: names segmarketo gives events the Email spec does not have (it has no "Email Sent"). Written back
# only on request: [writeback] marketo_extras = true, "Type" = true in [writeback.events], or --activity-types.
MARKETO_EXTRA_EVENTS: dict[str, str] = {
    "Send Email": "Email Sent",
    "Change Status in Progression": "Program Status Changed",
    "Fill Out Form": "Form Submitted",
}
KNOWN_EVENTS: dict[str, str] = {**DEFAULT_EVENTS, **MARKETO_EXTRA_EVENTS}
# Marketo's activity retention ("Activities Data Retention Policy", Marketo Nation knowledge base,
# https://nation.marketo.com/t5/knowledgebase/tkb-p/support_solutions-documents; docs/writeback.md "Window"):
# most types are kept 25 months, these two only 90 days.
SHORT_RETENTION_TYPES = frozenset({"send email", "email delivered"})
RETENTION_DAYS = 90
RETENTION_MONTHS = 25
MIN_YEAR = 1000  # strftime('%Y') writes year 1 as '1': a date Marketo would read as something else
BULK_WINDOW_DAYS = 31

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


# ---- window ------------------------------------------------------------------------------------------------


def parse_when(text: str, now: datetime, *, option: str = "--since") -> datetime:
    """An ISO-8601 date or datetime (naive = UTC) or a duration before `now` (`90m`, `24h`, `7d`, `2w`).

    A duration reaching past the calendar's start and a year before 1000 are usage errors, not overflows.
    """
    match = _DURATION.match(text or "")
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        try:
            moment = now - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise ConfigError(f"{option} '{text.strip()}' is too far back; Marketo keeps activities for "
                              f"{RETENTION_MONTHS} months") from None
    else:
        try:
            moment = parse_utc(text or "")
        except ValueError:
            raise ConfigError(
                f"{option} '{text}' is neither an ISO-8601 date/datetime (2025-05-01, 2025-05-01T08:00:00Z) "
                "nor a duration (90m, 24h, 7d)"
            ) from None
    if moment.year < MIN_YEAR:
        if match:
            raise ConfigError(f"{option} '{text.strip()}' is too far back; Marketo keeps activities for "
                              f"{RETENTION_MONTHS} months")
        raise ConfigError(f"{option} '{text.strip()}' is before the year {MIN_YEAR} (a typo?); Marketo keeps "
                          f"activities for {RETENTION_MONTHS} months")
    return moment


def earliest_since(now: datetime) -> datetime:
    """`now` less RETENTION_MONTHS calendar months (the day clamped to the month's end): the oldest
    activity Marketo still keeps."""
    months = now.year * 12 + now.month - 1 - RETENTION_MONTHS
    year, month = divmod(months, 12)
    month += 1
    next_month = datetime(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return now.replace(year=year, month=month, day=min(now.day, last_day))


@dataclass(frozen=True)
class Window:
    """The activity window: `since` None means 'from the stored cursor'; `until` is always set."""

    since: datetime | None
    until: datetime


def parse_window(since: str | None, until: str | None, now: datetime) -> Window:
    """Validate --since/--until against each other and the clock; `until` defaults to (and is capped at) now."""
    end = parse_when(until, now, option="--until") if until else now
    if end > now:
        end = now
    start = parse_when(since, now) if since else None
    if start is not None and start < earliest_since(now):
        raise ConfigError(
            f"--since {iso_seconds(start)} is more than {RETENTION_MONTHS} months ago: Marketo keeps activities "
            f"for {RETENTION_MONTHS} months, so nothing older can be read; use --since "
            f"{iso_seconds(earliest_since(now))} or later"
        )
    if start is not None and start >= end:
        raise ConfigError(f"--since ({iso_seconds(start)}) must be before --until ({iso_seconds(end)})")
    return Window(start, end)


def bulk_windows(start: datetime, end: datetime, days: int = BULK_WINDOW_DAYS) -> list[tuple[datetime, datetime]]:
    """Consecutive [start, end) slices of at most `days` days (Bulk Activity Extract's createdAt limit)."""
    windows = []
    step = timedelta(days=days)
    while start < end:
        stop = min(start + step, end)
        windows.append((start, stop))
        start = stop
    return windows


def iso_seconds(moment: datetime) -> str:
    """`2025-05-01T00:00:00Z`: ISO-8601 without milliseconds, as bulk filters require."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def retention_warning(since: datetime | None, now: datetime, events: Mapping[str, str]) -> str | None:
    """A warning when the window reaches past Marketo's 90-day retention of Send Email / Email Delivered."""
    if since is None or now - since <= timedelta(days=RETENTION_DAYS):
        return None
    short = sorted(name for name in events if name.lower() in SHORT_RETENTION_TYPES)
    if not short:
        return None
    return (
        f"--since {iso_seconds(since)} is more than {RETENTION_DAYS} days ago: Marketo keeps {' and '.join(short)} "
        f"activities for {RETENTION_DAYS} days only, so older ones cannot be written back"
    )


# ---- activity types -> events --------------------------------------------------------------------------------


def resolve_events(
    table: Mapping[str, str | bool] | None, flag: str | None, *, extras: bool = False,
    where: str = "[writeback.events]",
) -> dict[str, str]:
    """The activity-type -> event-name table: defaults (plus the Marketo extras when `extras`), then the profile
    table, then --activity-types.

    Table values (checked by the [writeback] section): a string renames or adds a type, `false` drops it, `true`
    adds it under its known name.
    Flag entries (comma separated): `Type` or `Type=Event` selects (only selected types are written back),
    `+Type` or `+Type=Event` adds, `-Type` drops. A type without `=Event` takes its known name.
    """
    events = {**DEFAULT_EVENTS, **(MARKETO_EXTRA_EVENTS if extras else {})}
    for name, value in (table or {}).items():
        key = _known_key(events, name)
        if isinstance(value, str):
            events.pop(key, None)
            events[name] = value
        elif not value:
            events.pop(key, None)
        elif key not in events:
            known = _known_key(KNOWN_EVENTS, name)
            if known not in KNOWN_EVENTS:
                raise ConfigError(f"{where}: '{name}' = true, but it has no default event name; give one as a string")
            events[known] = KNOWN_EVENTS[known]
    if flag is not None:
        events = _apply_flag(events, flag)
    if not events:
        raise ConfigError("no activity types are left to write back (check --activity-types and [writeback.events])")
    return events


def _known_key(events: Mapping[str, str], name: str) -> str:
    """The existing key spelling of `name` (type names match case-insensitively)."""
    lowered = name.strip().lower()
    return next((key for key in events if key.lower() == lowered), name.strip())


def _apply_flag(configured: dict[str, str], flag: str) -> dict[str, str]:
    selected: dict[str, str] = {}
    added: dict[str, str] = {}
    dropped: list[str] = []
    any_selected = False
    for raw in flag.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if entry.startswith("-"):
            dropped.append(entry[1:].strip())
            continue
        target = added if entry.startswith("+") else selected
        any_selected = any_selected or target is selected
        name, _, event = entry.lstrip("+").partition("=")
        name, event = name.strip(), event.strip()
        if not name:
            raise ConfigError(f"--activity-types: empty activity type name in '{entry}'")
        if not event:
            key = _known_key(configured, name)
            event = configured.get(key) or KNOWN_EVENTS.get(_known_key(KNOWN_EVENTS, name), "")
            if not event:
                raise ConfigError(
                    f"--activity-types: '{name}' has no default event name; write it as '{name}=Event Name'"
                )
            name = key if key in configured else name
        target[name] = event
    if not any_selected and not added and not dropped:
        raise ConfigError("--activity-types is empty; list activity types, e.g. 'Open Email,Click Email'")
    events = dict(selected) if any_selected else dict(configured)
    for name, event in added.items():
        events.pop(_known_key(events, name), None)
        events[name] = event
    for name in dropped:
        key = _known_key(events, name)
        if key not in events:
            raise ConfigError(f"--activity-types: cannot drop '{name}': it is not written back")
        del events[key]
    return events


def resolve_integrations(table: Mapping[str, bool] | None) -> dict[str, bool]:
    """Batch `integrations` for write-back: the loop-avoiding default, or the profile's [writeback.integrations]."""
    return dict(table) if table else dict(spec.DEFAULT_INTEGRATIONS)
