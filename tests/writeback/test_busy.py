"""writeback on a busy instance: Marketo answers long runs of empty pages (moreResult true). Past the cap, the rest
of the window is read with Bulk Activity Extract instead of paging on run after run."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from segmarketo_cli.config import load_settings
from segmarketo_cli.jobs.services import build_marketo
from segmarketo_cli.jobs.writeback import read_rest as writeback_rest
from tests.support.writeback_helpers import SPEC_TYPES, iso, populate
from tests.writeback.test_bulk import Harness

CAP = 3


@pytest.fixture
def harness(sandbox, tmp_path):
    h = Harness(tmp_path)
    yield h
    h.store.close()


@pytest.fixture
def busy(sandbox, monkeypatch):
    """Every page holding activities comes after more empty pages than the (lowered) cap allows."""
    monkeypatch.setattr(writeback_rest, "MAX_EMPTY_PAGES", CAP)
    sandbox.config.activity_busy_pages = CAP + 5
    return sandbox


def test_sandbox_busy_instance_answers_empty_pages_with_more_result_then_the_activities(sandbox):
    populate(sandbox, 4, days=1, with_noise=False)
    sandbox.config.activity_busy_pages = 2
    client = build_marketo(load_settings())
    type_ids = [t["id"] for t in client.get_activity_types() if t["name"] in SPEC_TYPES]
    token = client.get_paging_token(datetime.now(timezone.utc) - timedelta(days=2))
    pages = []
    for _ in range(4):
        page = client.get_lead_activities(token, type_ids)
        pages.append(page)
        token = page.next_token
        if not page.more_result:
            break
    assert [len(p.activities) for p in pages] == [0, 0, 4]
    assert [p.more_result for p in pages] == [True, True, False]


def test_capped_run_reads_the_rest_of_the_window_with_bulk_extract(busy, harness):
    made = populate(busy, 12, days=2, with_noise=False)
    report = harness.run(since="3d")
    assert report.counts["sent"] == len(made)
    assert len(busy.segment.accepted) == len(made)
    assert report.details["mode"] == "rest+bulk"
    assert report.details["bulk"]["exports_created"] == 1
    assert any("with Bulk Activity Extract instead" in note for note in report.notes)
    assert harness.cursor()["mode"] == "bulk"
    assert set(harness.sleeps) == {60.0}


def test_cron_run_from_a_paging_cursor_hands_over_from_the_last_activity_read(busy, harness):
    busy.config.activity_busy_pages = 0
    made = populate(busy, 9, days=1, with_noise=False)
    assert harness.run(since="2d").counts["sent"] == len(made)
    assert harness.cursor()["mode"] == "rest"
    lead = busy.marketo.leads[0]["id"]
    later = [busy.marketo.add_activity(lead, "Open Email", iso(datetime.now(timezone.utc) - timedelta(minutes=m)),
                                       primary_attribute_value_id=7) for m in (3, 2, 1)]
    busy.config.activity_busy_pages = CAP + 5
    report = harness.run()
    assert report.details["bulk"]["exports_created"] == 1
    sent = {m["properties"]["marketo_activity_id"] for m in busy.segment.accepted}
    assert set(later) <= sent
    assert len(busy.segment.accepted) == len(made) + len(later)
    quiet = harness.run()  # the next cron run starts from the bulk cursor, not from the capped paging position
    assert quiet.counts["sent"] == 0
    assert len(busy.segment.accepted) == len(made) + len(later)


def test_dry_run_says_what_a_real_run_would_do_and_creates_no_export(busy, harness):
    populate(busy, 6, days=1, with_noise=False)
    printed: list[str] = []
    report = harness.run(since="2d", dry_run=True, out=printed.append)
    assert busy.bulk.exports == {}
    assert not printed
    assert any("a real run reads" in note and "Bulk Activity Extract" in note for note in report.notes)


def test_a_paging_cursor_without_a_date_says_plainly_what_to_do(busy, harness):
    populate(busy, 6, days=1, with_noise=False)
    client = build_marketo(harness.settings)
    token = client.get_paging_token(datetime.now(timezone.utc) - timedelta(days=2))
    group = ",".join(str(i) for i in sorted(t["id"] for t in client.get_activity_types()
                                             if t["name"] in SPEC_TYPES))
    stored_by_an_older_version = {"token": token, "after": None}  # no "date"
    harness.store.set_cursor(client.instance, "writeback",
                             json.dumps({"mode": "rest", "streams": {group: stored_by_an_older_version}}))
    report = harness.run()
    assert busy.bulk.exports == {}
    assert any("--bulk" in note and "--since" in note for note in report.notes)
    assert harness.cursor()["mode"] == "rest"
