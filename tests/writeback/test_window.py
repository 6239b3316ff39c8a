"""writeback's window is bounded: Marketo's retention, absurd durations, years before 1000, and a dry run that
never starts a Bulk Extract job."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.jobs.writeback.plan import earliest_since, parse_window
from tests.support.writeback_helpers import populate

NOW = datetime(2026, 5, 20, 12, 0, 0, tzinfo=timezone.utc)


def test_earliest_since_is_25_calendar_months_back():
    assert earliest_since(NOW) == datetime(2024, 4, 20, 12, 0, 0, tzinfo=timezone.utc)
    assert earliest_since(datetime(2026, 3, 31, tzinfo=timezone.utc)) == datetime(2024, 2, 29, tzinfo=timezone.utc)


def test_since_within_retention_is_accepted():
    assert parse_window("2024-04-21", None, NOW).since == datetime(2024, 4, 21, tzinfo=timezone.utc)
    assert parse_window("760d", None, NOW).since is not None


@pytest.mark.parametrize("since", ["2024-04-19", "2020-01-01", "800d", "200w"])
def test_since_beyond_marketo_retention_is_refused_naming_the_earliest_date(since):
    with pytest.raises(ConfigError) as err:
        parse_window(since, None, NOW)
    assert err.value.exit_code == 2
    assert "25 months" in str(err.value)
    assert "2024-04-20T12:00:00Z" in str(err.value)


@pytest.mark.parametrize("option", ["--since", "--until"])
@pytest.mark.parametrize("value", ["99999999999d", "99999999999999999999w", "999999999999m"])
def test_absurd_durations_are_a_usage_error_not_an_overflow(option, value):
    args = (value, None) if option == "--since" else ("1d", value)
    with pytest.raises(ConfigError) as err:
        parse_window(*args, NOW)
    assert f"{option} '{value}'" in str(err.value)
    assert "too far back" in str(err.value)


@pytest.mark.parametrize("value", ["0001-01-01", "0999-12-31T23:59:59Z", "0500-06-01"])
def test_years_before_1000_are_refused(value):
    with pytest.raises(ConfigError) as err:
        parse_window("1d", value, NOW)
    assert "before the year 1000" in str(err.value)
    assert "1-01-01" not in str(err.value).replace("0001-01-01", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "99999999999d"], "too far back"),
        (["--since", "1d", "--until", "99999999999d"], "too far back"),
        (["--since", "0001-01-01"], "before the year 1000"),
        (["--since", "2001-01-01"], "Marketo keeps activities for 25 months"),
    ],
)
def test_cli_refuses_unbounded_windows_with_exit_2_before_any_call(sandbox, invoke, args, message):
    result = invoke("writeback", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert sandbox.marketo.calls == 0


@pytest.mark.parametrize("flags", [["--since", "40d"], ["--since", "2d", "--bulk"]])
def test_dry_run_never_creates_a_bulk_export_job(sandbox, invoke, flags):
    populate(sandbox, 12, days=1)
    result = invoke("writeback", *flags, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert sandbox.bulk.exports == {}
    assert sandbox.segment.requests == 0
    report = json.loads(result.stdout)
    assert report["details"]["mode"] == "bulk"
    assert report["details"]["bulk"]["exports_created"] == 0
    assert report["details"]["bulk"]["exports_planned"] == (2 if "40d" in flags else 1)
    assert any("no export job was created" in note for note in report["notes"])


def test_dry_run_leaves_an_interrupted_export_alone(sandbox, invoke):
    populate(sandbox, 12, days=10)
    from segmarketo_cli.cli.context import AppContext

    app = AppContext()
    app.store.set_cursor(sandbox.url, "writeback.export", json.dumps(
        {"export_id": "not-ours", "start": "2026-01-01T00:00:00Z", "end": "2026-01-31T00:00:00Z", "types": [1]}))
    app.close()
    result = invoke("writeback", "--since", "11d", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    app = AppContext()
    try:
        assert app.store.get_cursor(sandbox.url, "writeback.export") is not None
    finally:
        app.close()
