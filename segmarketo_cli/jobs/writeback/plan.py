"""Write-back planning, pure: the time window, the activity -> event table, and one activity -> one track event."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.jobs.writeback.activity import Activity
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
EMAIL_TYPES = frozenset(
    name.lower()
    for name in ("Send Email", "Email Delivered", "Email Bounced", "Email Bounced Soft", "Unsubscribe Email",
                 "Open Email", "Click Email")
)
# Marketo's activity retention ("Activities Data Retention Policy", Marketo Nation knowledge base,
# https://nation.marketo.com/t5/knowledgebase/tkb-p/support_solutions-documents; docs/writeback.md "Window"):
# most types are kept 25 months, these two only 90 days.
SHORT_RETENTION_TYPES = frozenset({"send email", "email delivered"})
RETENTION_DAYS = 90
RETENTION_MONTHS = 25
MIN_YEAR = 1000  # strftime('%Y') writes year 1 as '1': a date Marketo would read as something else
IDENTITY_MODES = ("auto", "user-id-only")
ANONYMOUS_PREFIX = "marketo:"
BULK_WINDOW_DAYS = 31

# Attribute names of e-mail activities are UNCONFIRMED (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/activities
# does not list them): accept the spellings seen in public code and the sandbox, first match wins.
SUBJECT_ATTRS = ("Subject", "Email Subject", "Subject Line")
LINK_URL_ATTRS = ("Link", "Link URL", "URL", "Link Url")
LINK_ID_ATTRS = ("Link ID", "Link Id", "Link ID Value")
LIST_ID_ATTRS = ("List ID", "List Id", "Subscription List ID")
LIST_NAME_ATTRS = ("List Name", "Subscription List", "Subscription List Name")
USER_AGENT_ATTRS = ("User Agent", "UserAgent")
IP_ATTRS = ("Client IP Address", "IP Address")

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

    @property
    def days(self) -> float | None:
        return None if self.since is None else (self.until - self.since).total_seconds() / 86400


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
    table: Mapping[str, Any] | None, flag: str | None, *, extras: bool = False, where: str = "[writeback.events]"
) -> dict[str, str]:
    """The activity-type -> event-name table: defaults (plus the Marketo extras when `extras`), then the profile
    table, then --activity-types.

    Table values: a string renames or adds a type, `false` drops it, `true` adds it under its known name.
    Flag entries (comma separated): `Type` or `Type=Event` selects (only selected types are written back),
    `+Type` or `+Type=Event` adds, `-Type` drops. A type without `=Event` takes its known name.
    """
    events = {**DEFAULT_EVENTS, **(MARKETO_EXTRA_EVENTS if extras else {})}
    for name, value in (table or {}).items():
        key = _known_key(events, str(name))
        if value is False:
            events.pop(key, None)
        elif value is True:
            if key not in events:
                known = _known_key(KNOWN_EVENTS, str(name))
                if known not in KNOWN_EVENTS:
                    raise ConfigError(
                        f"{where}: '{name}' = true, but it has no default event name; give one as a string"
                    )
                events[known] = KNOWN_EVENTS[known]
        elif isinstance(value, str) and value.strip():
            events.pop(key, None)
            events[str(name)] = value.strip()
        else:
            raise ConfigError(f"{where}: '{name}' must be an event name (string) or false, got {value!r}")
    if flag is not None:
        events = _apply_flag(events, flag)
    if not events:
        raise ConfigError("no activity types are left to write back (check --activity-types and [writeback.events])")
    return events


def configured_events(table: Mapping[str, Any], flag: str | None) -> dict[str, str]:
    """The event table a profile's [writeback] table (`events`, `marketo_extras`) and --activity-types give."""
    events_table = table.get("events") or {}
    if not isinstance(events_table, Mapping):
        raise ConfigError("[writeback.events] must be a table of \"Activity Type\" = \"Event Name\" | false")
    extras = table.get("marketo_extras", False)
    if not isinstance(extras, bool):
        raise ConfigError(f"[writeback] marketo_extras must be true or false, got {extras!r}")
    return resolve_events(events_table, flag, extras=extras)


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


def resolve_integrations(table: Mapping[str, Any] | None) -> dict[str, bool]:
    """Batch `integrations` for write-back: the loop-avoiding default, or the profile's [writeback.integrations]."""
    if not table:
        return dict(spec.DEFAULT_INTEGRATIONS)
    result: dict[str, bool] = {}
    for name, value in table.items():
        if not isinstance(value, bool):
            raise ConfigError(f"[writeback.integrations]: '{name}' must be true or false, got {value!r}")
        result[str(name)] = value
    return result


# ---- one activity -> one track event -------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadIdentity:
    """What write-back needs of a lead: its e-mail and the value of the configured userId field."""

    lead_id: int
    email: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class Skip:
    """An activity that becomes no event: `bucket` for the report, `reason` (the same for every activity skipped
    for that cause) for the report's details."""

    bucket: str
    reason: str


@dataclass
class EventBuilder:
    """Turns activities into Segment track messages (Email spec properties, deterministic messageIds)."""

    events: Mapping[str, str]  # activity type name -> event name
    type_names: Mapping[int, str]  # activity type id -> name (from types.json)
    munchkin: str
    integrations: Mapping[str, bool]
    identity_mode: str = "auto"
    user_id_field: str | None = None
    campaign_names: Mapping[int, str] = field(default_factory=dict)
    email_subjects: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        by_lower = {name.lower(): event for name, event in self.events.items()}
        self._event_by_id = {
            type_id: by_lower[name.lower()] for type_id, name in self.type_names.items() if name.lower() in by_lower
        }

    def event_name(self, type_id: int) -> str | None:
        return self._event_by_id.get(type_id)

    def email_id(self, activity: Activity) -> int | None:
        """The e-mail asset id of an e-mail activity that is written back, else None."""
        if activity.type_id not in self._event_by_id:
            return None
        return activity.primary_id if self.type_names.get(activity.type_id, "").lower() in EMAIL_TYPES else None

    def build(self, activity: Activity, lead: LeadIdentity | None) -> dict[str, Any] | Skip:
        """The track message for `activity`, or why it is skipped. Raises ValueError for an unusable GUID."""
        event = self._event_by_id.get(activity.type_id)
        type_name = self.type_names.get(activity.type_id, str(activity.type_id))
        if event is None:
            return Skip("skipped_unmapped", f"activity type '{type_name}' is not written back")
        identity = self._identity(activity.lead_id, lead)
        if isinstance(identity, Skip):
            return identity
        user_id, anonymous_id, context = identity
        _add_client_context(context, activity.attributes)
        return spec.track(
            event,
            message_id=spec.activity_message_id(self.munchkin, activity.guid),
            user_id=user_id,
            anonymous_id=anonymous_id,
            properties=self.properties(activity, type_name),
            timestamp=activity.date,
            context=context or None,
            integrations=dict(self.integrations),
        )

    def _identity(self, lead_id: int, lead: LeadIdentity | None) -> tuple[str | None, str | None, dict] | Skip:
        user_id = lead.user_id if lead else None
        if self.identity_mode == "user-id-only" and not user_id:
            if lead is None:
                return Skip("skipped_no_identity", "lead not found in Marketo (user-id-only)")
            return Skip("skipped_no_identity", f"lead has no {self.user_id_field} (user-id-only)")
        context: dict[str, Any] = {}
        if lead and lead.email:
            context["traits"] = {"email": lead.email}
        if user_id:
            return user_id, None, context
        return None, f"{ANONYMOUS_PREFIX}{lead_id}", context

    def properties(self, activity: Activity, type_name: str) -> dict[str, Any]:
        """Email spec properties where the type has them, then the marketo_* properties."""
        kind = type_name.lower()
        attrs = activity.attributes
        props: dict[str, Any] = {}
        if kind in EMAIL_TYPES:
            _put(props, "email_id", _text(activity.primary_id))
            _put(props, "email_name", activity.primary_value)
            subject = _first(attrs, SUBJECT_ATTRS)
            if subject is None and activity.primary_id is not None:
                subject = self.email_subjects.get(activity.primary_id)
            _put(props, "email_subject", subject)
        elif kind == "change status in progression":
            _put(props, "program_id", _text(activity.primary_id))
            _put(props, "program_name", activity.primary_value)
            _put(props, "old_status", _first(attrs, ("Old Status",)))
            _put(props, "new_status", _first(attrs, ("New Status",)))
        elif kind == "fill out form":
            _put(props, "form_id", _text(activity.primary_id))
            _put(props, "form_name", activity.primary_value)
        else:
            _put(props, "primary_attribute_value_id", _text(activity.primary_id))
            _put(props, "primary_attribute_value", activity.primary_value)
        if activity.campaign_id is not None:
            props["campaign_id"] = str(activity.campaign_id)
            _put(props, "campaign_name", self.campaign_names.get(activity.campaign_id))
        if kind == "click email":
            _put(props, "link_url", _first(attrs, LINK_URL_ATTRS))
            _put(props, "link_id", _text(_first(attrs, LINK_ID_ATTRS)))
        elif kind == "unsubscribe email":
            _put(props, "list_id", _text(_first(attrs, LIST_ID_ATTRS)))
            _put(props, "list_name", _first(attrs, LIST_NAME_ATTRS))
        elif kind == "email bounced":
            props["bounce_type"] = "hard"
        elif kind == "email bounced soft":
            props["bounce_type"] = "soft"
        props["marketo_activity_id"] = activity.guid
        props["marketo_lead_id"] = activity.lead_id
        props["marketo_activity_type"] = type_name
        props["marketo_attributes"] = dict(attrs)
        return props


def _add_client_context(context: dict[str, Any], attrs: Mapping[str, Any]) -> None:
    user_agent = _first(attrs, USER_AGENT_ATTRS)
    if user_agent:
        context["userAgent"] = str(user_agent)
    ip = _first(attrs, IP_ATTRS)
    if ip:
        context["ip"] = str(ip)


def _first(attrs: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = attrs.get(name)
        if value not in (None, ""):
            return value
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _put(props: dict[str, Any], key: str, value: Any) -> None:
    if value not in (None, ""):
        props[key] = value
