"""The error table: response-level classes, record-level outcomes, 603 hints, quota reset time."""

from __future__ import annotations

import datetime as dt

import pytest

from segmarketo_cli.marketo.codes import (
    ErrorClass,
    classify,
    format_reset,
    next_quota_reset,
    permission_hint,
    reason_text,
    record_bucket,
    record_outcome,
)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("601", ErrorClass.AUTH),
        ("602", ErrorClass.AUTH),
        ("603", ErrorClass.FATAL),
        ("604", ErrorClass.TRANSIENT),
        ("606", ErrorClass.THROTTLE),
        ("607", ErrorClass.QUOTA),
        ("608", ErrorClass.TRANSIENT),
        ("609", ErrorClass.FATAL),
        ("611", ErrorClass.TRANSIENT),
        ("614", ErrorClass.TRANSIENT),
        ("615", ErrorClass.THROTTLE),
        ("702", ErrorClass.EMPTY),
        ("709", ErrorClass.FATAL),
        ("713", ErrorClass.TRANSIENT),
        ("719", ErrorClass.TRANSIENT),
        ("1016", ErrorClass.QUEUE),
        ("1019", ErrorClass.QUEUE),
        ("1029", ErrorClass.QUEUE),
        ("1003", ErrorClass.FATAL),
        ("1013", ErrorClass.FATAL),
        ("699", ErrorClass.UNKNOWN),
        ("777", ErrorClass.UNKNOWN),
    ],
)
def test_response_codes(code, expected):
    assert classify(code) is expected


def test_integer_codes_are_accepted():
    assert classify(606) is ErrorClass.THROTTLE  # type: ignore[arg-type]


def test_1029_is_told_apart_by_message():
    assert classify("1029", "Too many jobs (10) in queue") is ErrorClass.QUEUE
    assert classify("1029", "Export daily quota 500MB exceeded.") is ErrorClass.QUOTA
    assert classify("1029", "Job already queued") is ErrorClass.EMPTY


def skipped(code: str, message: str = "x") -> dict:
    return {"status": "skipped", "reasons": [{"code": code, "message": message}]}


@pytest.mark.parametrize(
    ("code", "bucket", "reason"),
    [
        ("1003", "rejected", "invalid_data"),
        ("1004", "not_found", "not_found"),
        ("1005", "rejected", "exists"),
        ("1006", "rejected", "field_not_found"),
        ("1007", "rejected", "duplicate_in_marketo"),
        ("1008", "rejected", "partition_denied"),
        ("1009", "rejected", "partition_required"),
        ("1010", "rejected", "partition_conflict"),
        ("1015", "unchanged", "not_in_list"),
        ("1037", "unchanged", "already_in_status"),
        ("1025", "fatal", "status_not_found"),
        ("1050", "rejected", "unconfirmed_code"),
    ],
)
def test_record_outcomes(code, bucket, reason):
    outcome = record_outcome(skipped(code))
    assert (outcome.bucket, outcome.reason) == (bucket, reason)
    assert record_bucket(skipped(code)) == bucket


def test_record_bucket_passes_success_statuses_through():
    assert record_bucket({"id": 1, "status": "created"}) == "created"
    assert record_bucket({"id": 1, "status": "removed"}) == "removed"


def test_duplicate_advice_and_reason_text():
    row = skipped("1007", "Multiple lead match lookup criteria")
    assert "merge" in (record_outcome(row).advice or "")
    assert reason_text(row) == "1007 Multiple lead match lookup criteria"
    assert reason_text({"status": "skipped"}) == "skipped"


def test_permission_hints_name_the_permission():
    assert "Execute Campaign" in permission_hint("POST", "/rest/v1/campaigns/12/trigger.json")
    assert "Read-Only Activity" in permission_hint("GET", "/rest/v1/activities.json")
    assert "Read-Write Lead" in permission_hint("POST", "/rest/v1/leads.json")
    assert "Read-Only Lead" in permission_hint("GET", "/rest/v1/leads.json")
    assert "Read-Write Assets" in permission_hint("POST", "/rest/asset/v1/staticLists.json")


def test_quota_reset_is_next_midnight_in_chicago_across_dst():
    winter = next_quota_reset(dt.datetime(2026, 1, 15, 3, 0, tzinfo=dt.timezone.utc))  # 21:00 CST on the 14th
    assert winter.isoformat() == "2026-01-15T00:00:00-06:00"
    summer = next_quota_reset(dt.datetime(2026, 7, 15, 12, 0, tzinfo=dt.timezone.utc))
    assert summer.isoformat() == "2026-07-16T00:00:00-05:00"
    assert format_reset(summer) == "2026-07-16 00:00 CDT (05:00 UTC)"
