"""When a sync runs: daily/hourly/cron schedules as crontab time fields and systemd OnCalendar expressions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from segmarketo_cli.errors import ConfigError

# Cron's five fields (man 5 crontab) and their ranges.
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # cron's 0 and 7 are both Sunday
_TIME = re.compile(r"^(\d{1,2})?:(\d{2})$")
_ITEM = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")


@dataclass(frozen=True)
class Schedule:
    """A schedule in both notations; `frequent` when it may fire more than once an hour (then the next run is
    the retry, and nothing is retried in between)."""

    description: str
    cron: str
    on_calendar: str
    frequent: bool


def parse_schedule(every: str, at: str | None) -> Schedule:
    """`every`: daily, hourly or a five-field cron expression; `at`: HH:MM for daily (default 02:00), the
    minutes of HH:MM or :MM for hourly (default :00); not with a cron expression."""
    if every == "daily":
        hour, minute = _at(at or "02:00", need_hour=True)
        return Schedule(f"daily at {hour:02d}:{minute:02d}", f"{minute} {hour} * * *",
                        f"*-*-* {hour:02d}:{minute:02d}:00", frequent=False)
    if every == "hourly":
        _, minute = _at(at or ":00", need_hour=False)
        return Schedule(f"hourly at :{minute:02d}", f"{minute} * * * *", f"*-*-* *:{minute:02d}:00", frequent=False)
    if at is not None:
        raise ConfigError("--at goes with --every daily or hourly; a cron expression carries its own times")
    return from_cron(every)


def from_cron(expression: str) -> Schedule:
    """A five-field cron expression (numbers, *, ranges a-b, lists a,b, steps */n or a/n; month and weekday
    names) as a Schedule; what systemd cannot express the same way is refused."""
    fields = expression.split()
    if len(fields) != 5:
        raise ConfigError(f"--every '{expression}': expected daily, hourly or five cron fields "
                          f"(minute hour day-of-month month day-of-week), e.g. '30 2 * * 1-5'")
    converted = [_field(text.lower(), index) for index, text in enumerate(fields)]
    minute, hour, day, month, weekday = converted
    if day != "*" and weekday != "*":
        raise ConfigError(f"--every '{expression}': cron runs when EITHER the day of month or the day of week "
                          f"matches, systemd when both do; restrict only one of them")
    calendar = (f"{weekday} " if weekday != "*" else "") + f"*-{month}-{day} {hour}:{minute}:00"
    frequent = not fields[0].isdigit()  # more than one minute of the hour
    return Schedule(f"on cron schedule '{' '.join(fields)}'", " ".join(fields), calendar, frequent=frequent)


def _at(text: str, *, need_hour: bool) -> tuple[int, int]:
    match = _TIME.match(text.strip())
    hour = int(match.group(1)) if match and match.group(1) is not None else None
    minute = int(match.group(2)) if match else 60
    if not match or minute > 59 or (hour is not None and hour > 23) or (need_hour and hour is None):
        shape = "HH:MM, e.g. 02:30" if need_hour else "HH:MM or :MM, e.g. :15"
        raise ConfigError(f"--at '{text}': expected {shape}")
    return hour or 0, minute


def _field(text: str, index: int) -> str:
    name, low, high = FIELDS[index]
    items = []
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            raise ConfigError(f"cron {name} '{text}': expected numbers, *, a-b, a,b or */n")
        span, step = match.group(1), match.group(2)
        if step and index == 4:
            raise ConfigError(f"cron {name} '{text}': systemd has no step over weekdays; list the days instead")
        if span == "*":
            items.append(f"{low}/{step}" if step else "*")
            continue
        ends = [_number(part, index) for part in span.split("-")]
        if any(not low <= end <= high for end in ends) or ends[0] > ends[-1]:
            raise ConfigError(f"cron {name} '{text}': values must be {low}-{high}, a range low to high")
        if step and len(ends) > 1:
            raise ConfigError(f"cron {name} '{text}': a step on a range (a-b/n) has no systemd equivalent; "
                              f"list the values instead")
        shown = [WEEKDAYS[end] if index == 4 else f"{end:02d}" if index < 2 else str(end) for end in ends]
        items.append("..".join(shown) + (f"/{step}" if step else ""))
    return ",".join(items)


def _number(part: str, index: int) -> int:
    if part.isdigit():
        return int(part)
    names = MONTHS if index == 3 else tuple(day.lower() for day in WEEKDAYS[:7]) if index == 4 else ()
    if part in names:
        return names.index(part) + (1 if index == 3 else 0)
    raise ConfigError(f"cron {FIELDS[index][0]} '{part}': not a number" + (" or a name" if names else ""))
