"""quota_today: segmarketo's calls today on the instance, Marketo's limit, the budget and the Chicago-midnight reset."""

from __future__ import annotations

import datetime as dt

from segmarketo_cli.cli.render import quota_line, summary_line
from segmarketo_cli.jobs.quota import quota_today
from segmarketo_cli.state import StateStore

INSTANCE = "https://123-abc-456.mktorest.com"


def test_quota_counts_todays_calls_and_the_time_to_chicago_midnight(tmp_path):
    store = StateStore(tmp_path, "default")
    store.add_api_calls(INSTANCE, {"2026-12-05": 1_204, "2026-12-04": 9_000})
    now = dt.datetime(2026, 12, 6, 0, 48, tzinfo=dt.timezone.utc)  # 18:48 on Dec 5 in Chicago (CST)
    quota = quota_today(store, INSTANCE, 20_000, now=now)
    store.close()
    assert quota == {"day": "2026-12-05", "used": 1_204, "limit": 50_000, "budget": 20_000,
                     "resets_at": "2026-12-06T00:00:00-06:00", "resets_in_s": 5 * 3600 + 12 * 60}
    assert quota_line(quota, now) == "Marketo calls today by segmarketo: 1,204 of 50,000 (budget 20,000), " \
                                     "resets in 5h12m"
    later = now + dt.timedelta(days=2)  # `runs show` of this run, two days on
    assert quota_line(quota, later) == "Marketo calls on 2026-12-05 by segmarketo: 1,204 of 50,000 (budget 20,000); " \
                                       "that day's quota has reset"


def test_quota_in_summer_time_and_without_a_budget(tmp_path):
    store = StateStore(tmp_path, "default")
    now = dt.datetime(2026, 7, 1, 4, 30, tzinfo=dt.timezone.utc)  # 23:30 on Jun 30 in Chicago (CDT)
    quota = quota_today(store, INSTANCE, None, now=now)
    store.close()
    assert (quota["day"], quota["used"], quota["resets_at"]) == ("2026-06-30", 0, "2026-07-01T00:00:00-05:00")
    assert quota_line(quota, now) == "Marketo calls today by segmarketo: 0 of 50,000, resets in 30m"


def test_summary_line_lists_the_plain_counts_that_are_not_zero():
    data = {"command": "backfill-leads", "status": "partial", "run_id": "R1",
            "counts": {"leads_created": 1_200, "leads_updated": 30, "leads_unchanged": 0, "leads_rejected": 4,
                       "rule.score.applied": 7}}
    assert summary_line(data) == "backfill-leads finished: partial — 1,200 leads created, 30 leads updated, " \
                                 "4 leads rejected, run R1"
    assert summary_line({"command": "writeback", "status": "ok", "run_id": "R2", "dry_run": True, "counts": {}}) \
        == "writeback finished: ok (dry run) — nothing counted, run R2"
