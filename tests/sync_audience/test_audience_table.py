"""The audience loaded into the engine: read once, counted and checked as `read_audience` does, rejects written
only once the whole file has passed."""

from __future__ import annotations

import json

import duckdb
import pytest

from segmarketo_cli.errors import ConfigError, InputError
from segmarketo_cli.jobs.sync_audience.audience_table import load_audience
from segmarketo_cli.sources.audience.readers import read_audience
from tests.sync_audience.engine_plan import CollectedRejects, loaded


def test_the_run_reads_the_file_once_and_counts_it_as_the_check_does(tmp_path):
    path = tmp_path / "aud.csv"
    path.write_text("email\na@x.co\nnot-an-email\n\nB@x.co\na@x.co\n", encoding="utf-8")
    checked = read_audience(path)
    unread = read_audience(path, count=False)
    scans = []
    scan = unread.scan
    unread.scan = lambda: scans.append(1) or scan()
    result = loaded(unread)
    assert scans == [1]
    assert (result.rows, result.ignored, result.repeated) == (checked.rows, checked.ignored, 1)
    assert unread.usable == checked.usable
    assert unread.rejected == checked.rejected == 1
    assert [r.origin for r in result.rejects] == [f"{path}:3"]


def test_a_file_of_hashed_emails_is_refused_once_read_with_no_rejects(tmp_path):
    path = tmp_path / "aud.csv"
    path.write_text("email\n" + "0" * 64 + "\n", encoding="utf-8")
    rejects = CollectedRejects()
    with pytest.raises(InputError, match="SHA-256 hash"):
        load_audience(duckdb.connect(), read_audience(path, count=False), rejects)
    assert rejects.rows == []


def test_an_events_file_of_several_audiences_is_refused_once_read_with_no_rejects(tmp_path):
    path = tmp_path / "events.jsonl"
    lines = [{"type": "track", "event": "Audience Entered", "userId": "u1", "messageId": "m1",
              "timestamp": "2026-01-01T00:00:00Z", "properties": {"audience_key": key, "email": "a@x.co"}}
             for key in ("vip", "churn")]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n", encoding="utf-8")
    rejects = CollectedRejects()
    with pytest.raises(ConfigError, match="several audiences"):
        load_audience(duckdb.connect(), read_audience(path, count=False), rejects)
    assert rejects.rows == []
    with pytest.raises(ConfigError, match="several audiences"):
        read_audience(path)


def test_a_file_read_twice_unchanged_loads_its_people_in_order(tmp_path):
    path = tmp_path / "aud.csv"
    path.write_text("email\nB@x.co\na@x.co\n b@x.co\n", encoding="utf-8")
    result = loaded(read_audience(path))
    assert [p.key.value for p in result.people] == ["b@x.co", "a@x.co"]
    assert [p.origin for p in result.people] == [f"{path}:2", f"{path}:3"]
    assert result.repeated == 1
