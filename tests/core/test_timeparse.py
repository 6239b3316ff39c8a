"""ISO-8601 parsing is the same on every supported Python (3.10 reads no 'Z' nor odd fraction lengths)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from segmarketo_cli.timeparse import epoch_seconds, message_time, parse_iso_datetime, parse_utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01T10:00:00Z", datetime(2026, 11, 1, 10, tzinfo=timezone.utc)),
        ("2023-01-16T17:32:19.5-06:00", datetime(2023, 1, 16, 23, 32, 19, 500000, tzinfo=timezone.utc)),
        ("2026-11-01T10:00:00.123456789Z", datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)),
        ("2010-05-07T15:41:32-0500", datetime(2010, 5, 7, 20, 41, 32, tzinfo=timezone.utc)),
        ("2026-11-01T10:00:00+01", datetime(2026, 11, 1, 9, tzinfo=timezone.utc)),
        ("2025-05-01", datetime(2025, 5, 1, tzinfo=timezone.utc)),
        ("2010-05-07 15:41", datetime(2010, 5, 7, 15, 41, tzinfo=timezone.utc)),
    ],
)
def test_parse_utc_accepts_the_iso_shapes_segment_and_marketo_send(text, expected):
    assert parse_utc(text) == expected


def test_naive_text_stays_naive_and_garbage_is_a_value_error():
    assert parse_iso_datetime("2026-11-01T10:00:00").tzinfo is None
    for bad in ("nonsense", "", "2025-13-01T00:00:00Z", "2025-05-01T25:00:00Z"):
        with pytest.raises(ValueError):
            parse_utc(bad)


def test_epoch_seconds_reads_z_and_offsets_alike():
    base = epoch_seconds("2026-03-17T04:40:00.250+00:00")
    assert base == datetime(2026, 3, 17, 4, 40, 0, 250000, tzinfo=timezone.utc).timestamp()
    assert epoch_seconds("2026-03-17T04:40:00.250Z") == base
    assert epoch_seconds(" 2026-03-17T04:40:00.250z ") == base
    assert epoch_seconds("2026-03-17T06:40:00.250+02:00") == base
    assert epoch_seconds("2026-03-17T04:40:00.250") == base  # naive means UTC


def test_a_time_past_year_9999_in_utc_has_its_epoch_but_no_utc_datetime():
    """9999-12-31T23:00:00-05:00 is 10000-01-01T04:00:00Z: DuckDB reads its epoch, a datetime cannot hold it."""
    assert epoch_seconds("9999-12-31T23:00:00-05:00") == 253_402_315_200.0
    assert epoch_seconds("0001-01-01T00:30:00+01:00") == -62_135_598_600.0
    for text in ("9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"):
        with pytest.raises(ValueError, match="out of range"):
            parse_utc(text)


@pytest.mark.parametrize("value", ["nonsense Z", "", "   ", None, True, [], {}])
def test_epoch_seconds_of_nothing_usable_is_none(value):
    assert epoch_seconds(value) is None


def test_epoch_seconds_of_numbers_tells_milliseconds_from_seconds():
    assert epoch_seconds(1_773_722_400) == 1_773_722_400.0
    assert epoch_seconds(1_773_722_400_250) == 1_773_722_400.25


def test_message_time_takes_the_first_readable_key_in_order():
    assert message_time({"timestamp": "2026-11-01T10:00:00Z"}) == message_time(
        {"timestamp": "2026-11-01T11:00:00+01:00"})
    late = {"timestamp": "nonsense", "originalTimestamp": "", "receivedAt": "2026-11-01T10:00:00.5Z",
            "sentAt": "2026-11-01T12:00:00Z"}
    assert message_time(late) == datetime(2026, 11, 1, 10, 0, 0, 500000, tzinfo=timezone.utc).timestamp()
    assert message_time({}) is None
