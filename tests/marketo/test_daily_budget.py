"""The daily call budget spans runs: usage per America/Chicago day in the state store, exit 75 when spent."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from segmarketo_cli import paths
from segmarketo_cli.errors import DailyBudgetExhausted
from segmarketo_cli.marketo.codes import quota_day
from segmarketo_cli.marketo.limits import Limiter
from segmarketo_cli.state import StateStore


def people(path, start: int, n: int):
    path.write_text("".join(json.dumps({
        "type": "identify", "userId": f"u{i}", "messageId": f"m{i}", "timestamp": "2024-05-01T00:00:00Z",
        "traits": {"email": f"budget{i}@example.com", "firstName": f"B{i}"}}) + "\n" for i in range(start, start + n)))
    return path


def test_quota_day_is_the_chicago_date():
    # 03:00 UTC on 27 Nov is still 26 Nov in Chicago (UTC-6); 06:00 UTC is the new day.
    assert quota_day(dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.timezone.utc)) == "2026-11-26"
    assert quota_day(dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.timezone.utc)) == "2026-11-27"


def test_limiter_starts_from_earlier_usage_and_a_new_day_resets_it():
    day = ["2026-11-26"]
    limiter = Limiter(calls=100, window_s=1.0, daily_budget=5, used_today=3, today=lambda: day[0])
    for _ in range(2):
        with limiter.slot():
            pass
    with pytest.raises(DailyBudgetExhausted) as info, limiter.slot():
        pass
    message = str(info.value)
    assert "budget of 5 Marketo calls is spent for 2026-11-26" in message
    assert "3 made by earlier runs, 2 by this one" in message
    assert "resets at" in message
    assert info.value.exit_code == 75
    assert info.value.resume_at
    day[0] = "2026-11-27"  # midnight in Chicago passed mid-run
    with limiter.slot():
        pass
    assert limiter.usage == {"2026-11-26": 2, "2026-11-27": 1}
    assert limiter.used == 3


def test_store_adds_each_runs_calls_per_day(tmp_path):
    store = StateStore(tmp_path, "t")
    store.add_api_calls("https://a", {"2026-11-26": 4})
    store.add_api_calls("https://a", {"2026-11-26": 3, "2026-11-27": 1, "2026-11-28": 0})
    store.add_api_calls("https://b", {"2026-11-26": 9})
    assert store.api_calls_on("https://a", "2026-11-26") == 7
    assert store.api_calls_on("https://a", "2026-11-27") == 1
    assert store.api_calls_on("https://a", "2026-11-28") == 0
    store.add_api_calls("https://a", {"2027-01-15": 1})  # rows more than 31 days older are dropped
    assert store.api_calls_on("https://a", "2026-11-26") == 0
    assert store.api_calls_on("https://b", "2026-11-26") == 9


def test_budget_spans_runs_and_the_second_run_stops_with_exit_75(invoke, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMARKETO_DAILY_BUDGET", "1000")
    first = invoke("backfill-leads", str(people(tmp_path / "a.jsonl", 0, 5)), "--json")
    assert first.exit_code == 0, first.output
    used = json.loads(first.stdout)["api_calls"]["marketo"]
    store = StateStore(paths.state_dir(), "default")
    assert used > 0
    assert store.api_calls_on(sandbox.url, quota_day()) == used

    monkeypatch.setenv("SEGMARKETO_DAILY_BUDGET", str(used + 1))  # one call left today; this run needs two
    second = invoke("backfill-leads", str(people(tmp_path / "b.jsonl", 5, 400)), "--json")
    assert second.exit_code == 75, second.output
    assert f"daily budget of {used + 1:,} Marketo calls is spent" in second.output
    assert f"{used} made by earlier runs, 1 by this one" in second.output
    assert "resets at" in second.output
    assert json.loads(second.stdout)["status"] == "deferred"
    assert store.api_calls_on(sandbox.url, quota_day()) == used + 1

    third = invoke("backfill-leads", str(tmp_path / "b.jsonl"), "--json")
    assert third.exit_code == 75
    assert f"{used + 1} made by earlier runs, 0 by this one" in third.output
    assert store.api_calls_on(sandbox.url, quota_day()) == used + 1
