"""Marketo's error codes as data: response-level classes and record-level outcomes."""

# Source: https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/error-codes

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

QUOTA_TZ = ZoneInfo("America/Chicago")


class ErrorClass(str, Enum):
    """What the client does with a response-level error."""

    THROTTLE = "throttle"  # wait for the window / fewer in flight, retry; not a failure
    TRANSIENT = "transient"  # exponential backoff with full jitter, bounded
    AUTH = "auth"  # new token, retry once
    QUOTA = "quota"  # stop cleanly until midnight America/Chicago
    QUEUE = "queue"  # bulk queue full: wait, resubmit a bounded number of times
    FATAL = "fatal"  # our bug, configuration or permissions: raise MarketoError
    EMPTY = "empty"  # no data: an empty result, not a failure
    UNKNOWN = "unknown"  # unlisted 6xx/7xx: one retry, then fatal


# code -> (class, meaning)
RESPONSE_CODES: dict[str, tuple[ErrorClass, str]] = {
    "601": (ErrorClass.AUTH, "access token invalid"),
    "602": (ErrorClass.AUTH, "access token expired"),
    "603": (ErrorClass.FATAL, "access denied"),
    "604": (ErrorClass.TRANSIENT, "request timed out"),
    "605": (ErrorClass.FATAL, "HTTP method not supported"),
    "606": (ErrorClass.THROTTLE, "max rate limit exceeded"),
    "607": (ErrorClass.QUOTA, "daily quota reached"),
    "608": (ErrorClass.TRANSIENT, "API temporarily unavailable"),
    "609": (ErrorClass.FATAL, "invalid JSON"),
    "610": (ErrorClass.FATAL, "requested resource not found"),
    "611": (ErrorClass.TRANSIENT, "system error"),
    "612": (ErrorClass.FATAL, "invalid content type"),
    "613": (ErrorClass.FATAL, "invalid multipart request"),
    "614": (ErrorClass.TRANSIENT, "invalid subscription (usually temporary)"),
    "615": (ErrorClass.THROTTLE, "concurrent access limit reached"),
    "616": (ErrorClass.FATAL, "invalid subscription type"),
    "701": (ErrorClass.FATAL, "value cannot be blank"),
    "702": (ErrorClass.EMPTY, "no data found"),
    "703": (ErrorClass.FATAL, "feature not enabled"),
    "704": (ErrorClass.FATAL, "invalid date format"),
    "709": (ErrorClass.FATAL, "business rule violation"),
    "710": (ErrorClass.FATAL, "parent folder not found"),
    "711": (ErrorClass.FATAL, "incompatible folder type"),
    "712": (ErrorClass.FATAL, "merge operation invalid"),
    "713": (ErrorClass.TRANSIENT, "transient error"),
    "714": (ErrorClass.FATAL, "unable to find default record type"),
    "718": (ErrorClass.FATAL, "external sales person id not found"),
    "719": (ErrorClass.TRANSIENT, "lock wait timeout"),
    "1016": (ErrorClass.QUEUE, "too many imports"),
    "1019": (ErrorClass.QUEUE, "import in progress"),
    "1029": (ErrorClass.QUEUE, "too many jobs in queue"),
}

TRANSIENT_HTTP = frozenset({500, 502, 503, 504})

# Permission the API-only user's role needs, by path prefix (first match wins); used in the 603 hint.
PERMISSIONS: tuple[tuple[str, str, str], ...] = (
    ("/rest/v1/campaigns/", "POST", "Execute Campaign"),
    ("/rest/v1/activities", "", "Read-Only Activity"),
    ("/bulk/v1/activities", "", "Read-Only Activity"),
    ("/rest/asset/", "GET", "Read-Only Assets"),
    ("/rest/asset/", "", "Read-Write Assets"),
    ("/rest/v1/", "GET", "Read-Only Lead"),
    ("/bulk/v1/leads/export", "", "Read-Only Lead"),
    ("", "", "Read-Write Lead"),
)


def classify(code: str, message: str = "") -> ErrorClass:
    """The class of one response-level error; 1029 is told apart by its message."""
    code = str(code)
    if code == "1029" and "export daily quota" in message.lower():
        return ErrorClass.QUOTA
    if code == "1029" and "already queued" in message.lower():
        return ErrorClass.EMPTY
    entry = RESPONSE_CODES.get(code)
    if entry is not None:
        return entry[0]
    if code[:1] in ("6", "7") and len(code) == 3:
        return ErrorClass.UNKNOWN
    # Record-level codes (1xxx) at the response level (1003 too many matches, 1013 object not found, 1025 ...)
    # mean the call was refused as made: retrying cannot help.
    return ErrorClass.FATAL


def permission_hint(method: str, path: str) -> str:
    """A 603 hint naming the role permission the call needs."""
    for prefix, verb, permission in PERMISSIONS:
        if path.startswith(prefix) and (not verb or verb == method.upper()):
            return (
                f"the API-only user's role needs the '{permission}' permission "
                "(Admin > Users & Roles), or this machine's IP is not on the Web Services allow-list"
            )
    return "check the API-only user's role permissions"


def next_quota_reset(now: dt.datetime | None = None) -> dt.datetime:
    """The next 00:00 in America/Chicago (follows DST), when Marketo's daily quotas reset."""
    now = now or dt.datetime.now(dt.timezone.utc)
    local = now.astimezone(QUOTA_TZ)
    tomorrow = local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(0, 0), tzinfo=QUOTA_TZ)


def quota_day(now: dt.datetime | None = None) -> str:
    """Today's date in America/Chicago ('2026-11-26'): the day Marketo's daily quota counts calls in."""
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(QUOTA_TZ).date().isoformat()


def format_reset(reset: dt.datetime) -> str:
    """'2026-11-27 00:00 CST (06:00 UTC)'."""
    utc = reset.astimezone(dt.timezone.utc)
    return f"{reset:%Y-%m-%d %H:%M %Z} ({utc:%H:%M} UTC)"


# ---- record level -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordOutcome:
    """Where a skipped record lands: `bucket` for the report, `reason` a short label, `advice` for the user."""

    bucket: str
    reason: str
    advice: str | None = None


_RECORD: dict[str, RecordOutcome] = {
    "1001": RecordOutcome("rejected", "invalid_value"),
    "1002": RecordOutcome("rejected", "missing_value"),
    "1003": RecordOutcome("rejected", "invalid_data"),
    "1004": RecordOutcome("not_found", "not_found"),
    "1005": RecordOutcome("rejected", "exists"),
    "1006": RecordOutcome("rejected", "field_not_found", "the field is not in Marketo's describe; check the mapping"),
    "1007": RecordOutcome(
        "rejected",
        "duplicate_in_marketo",
        "several Marketo leads share this lookup value: merge them in Marketo, or sync by id",
    ),
    "1008": RecordOutcome(
        "rejected",
        "partition_denied",
        "the API user's role cannot reach this lead partition: check the 'partition' setting "
        "('segmarketo doctor' lists the instance's partitions) and the role's workspaces",
    ),
    "1009": RecordOutcome(
        "rejected",
        "partition_required",
        "this instance needs a lead partition for new leads: set 'partition' in the profile, "
        "SEGMARKETO_PARTITION or --partition ('segmarketo doctor' lists them)",
    ),
    "1010": RecordOutcome(
        "rejected",
        "partition_conflict",
        "the lead already exists in another lead partition; Sync Leads does not move it. Move it in Marketo, "
        "or sync it with that lead's partition",
    ),
    "1011": RecordOutcome("fatal", "lookup_not_supported", "choose a searchable lookup field (describe2)"),
    "1013": RecordOutcome("fatal", "object_not_found"),
    "1014": RecordOutcome("rejected", "create_failed"),
    "1015": RecordOutcome("unchanged", "not_in_list"),
    "1017": RecordOutcome("rejected", "exists"),
    "1018": RecordOutcome("rejected", "crm_enabled"),
    "1021": RecordOutcome("rejected", "company_update", "company fields cannot be set through Sync Leads"),
    "1022": RecordOutcome("rejected", "object_in_use"),
    "1025": RecordOutcome("fatal", "status_not_found", "the program status name is not in the program's channel"),
    "1036": RecordOutcome("rejected", "duplicate_in_input"),
    "1037": RecordOutcome("unchanged", "already_in_status"),
    "1049": RecordOutcome("rejected", "activity_too_large"),
}

_UNCONFIRMED = RecordOutcome("rejected", "unconfirmed_code")


def reason_codes(row: Mapping[str, Any]) -> list[str]:
    """The `reasons[].code` values of one result row, as strings."""
    return [str(r.get("code", "")) for r in row.get("reasons") or () if isinstance(r, Mapping)]


def reason_text(row: Mapping[str, Any]) -> str:
    """'1007 Multiple lead match lookup criteria; ...' for a rejects file."""
    parts = [
        f"{r.get('code', '?')} {r.get('message', '')}".strip()
        for r in row.get("reasons") or ()
        if isinstance(r, Mapping)
    ]
    return "; ".join(parts) or str(row.get("status", "skipped"))


PARTITION_CODES = frozenset({"1008", "1009", "1010"})


def with_partition_advice(code: str | None, message: str) -> str:
    """Marketo's message, plus what to do when the code is a partition failure (1008-1010): those are a matter
    of configuration, and Marketo's own text ("Partition update not allowed") does not say so."""
    if code in PARTITION_CODES:
        return f"{message} ({_RECORD[str(code)].advice})"
    return message


def record_outcome(row: Mapping[str, Any]) -> RecordOutcome:
    """Classify a skipped result row by its first known reason code (unknown codes: rejected, raw message kept)."""
    codes: Iterable[str] = reason_codes(row)
    for code in codes:
        if code in _RECORD:
            return _RECORD[code]
    return _UNCONFIRMED


def record_bucket(row: Mapping[str, Any]) -> str:
    """The report bucket for a result row: its status when it succeeded, else the skip outcome's bucket."""
    status = str(row.get("status", ""))
    if status and status != "skipped":
        return status
    return record_outcome(row).bucket
