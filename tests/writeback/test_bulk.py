"""writeback's Bulk Activity Extract path against the sandbox, with an injected (recorded, instant) poll sleep."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest

from segmarketo_cli.config import load_settings
from segmarketo_cli.jobs.context import JobContext
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.services import Services
from segmarketo_cli.jobs.writeback.prepare import WritebackOptions, prepare
from segmarketo_cli.jobs.writeback.read_bulk import EXPORT_CHECKPOINT
from segmarketo_cli.jobs.writeback.run import run
from segmarketo_cli.segment import sender as sender_module
from segmarketo_cli.state import StateStore
from tests.support.writeback_helpers import iso, populate


class Harness:
    """Runs the job in-process with one state store, like consecutive cron runs would."""

    def __init__(self, tmp_path) -> None:
        self.settings = load_settings()
        self.store = StateStore(tmp_path / "state", "default")
        self.tmp_path = tmp_path
        self.sleeps: list[float] = []
        self.marketo = None

    def run(self, sleep=None, segment=None, out=None, **options) -> RunReport:
        """One run through prepare and run(ctx, prepared); `out` collects the dry run's stdout lines."""
        report = RunReport("writeback")
        services = Services(self.settings, self.store, _segment=segment)
        self.marketo = services.marketo()
        prepared = prepare(self.settings, WritebackOptions(**options), services)
        with RejectsWriter(self.tmp_path / f"rejects-{report.run_id}.jsonl") as rejects:
            ctx = JobContext(services=services, report=report, rejects=rejects, out=out or (lambda line: None),
                             sleep=sleep or self.sleeps.append)
            return run(ctx, prepared)

    def cursor(self, name: str = "writeback") -> dict | None:
        raw = self.store.get_cursor(self.marketo.instance, name)
        return json.loads(raw) if raw else None


@pytest.fixture
def harness(sandbox, tmp_path):
    h = Harness(tmp_path)
    yield h
    h.store.close()


def test_long_window_uses_bulk_extract_polled_once_a_minute(sandbox, harness):
    made = populate(sandbox, 45, days=20)
    report = harness.run(since="21d")
    assert report.details["mode"] == "bulk"
    assert report.details["bulk"]["exports_created"] == 1
    assert report.counts["sent"] == report.counts["activities_read"] == len(made)
    assert len(sandbox.segment.accepted) == len(made)
    assert not sandbox.segment.dropped
    assert harness.sleeps
    assert set(harness.sleeps) == {60.0}  # never polled faster than once a minute
    assert harness.cursor()["mode"] == "bulk"
    assert harness.cursor(EXPORT_CHECKPOINT) is None
    names = {m["event"] for m in sandbox.segment.accepted}
    assert "Email Link Clicked" in names
    assert "Unsubscribed" in names
    clicked = next(m for m in sandbox.segment.accepted if m["event"] == "Email Link Clicked")
    assert clicked["properties"]["link_url"].startswith("https://shop.example.com/p/")


def test_windows_longer_than_31_days_are_split(sandbox, harness):
    made = populate(sandbox, 40, days=45)
    report = harness.run(since="46d")
    assert report.details["bulk"]["exports_created"] == 2
    assert report.counts["sent"] == len(made)
    assert report.counts["skipped_duplicate"] == 0
    assert len(sandbox.segment.accepted) == len(made)


def test_bulk_flag_then_rest_from_the_bulk_cursor(sandbox, harness):
    made = populate(sandbox, 12, days=1)
    report = harness.run(since="2d", bulk=True)
    assert report.details["mode"] == "bulk"
    assert report.counts["sent"] == len(made)
    lead = sandbox.marketo.leads[0]["id"]
    sandbox.marketo.add_activity(lead, "Open Email", iso(datetime.now(timezone.utc)), primary_attribute_value_id=5)
    follow_up = harness.run()
    assert follow_up.details["mode"] == "rest"
    assert len(sandbox.segment.accepted) == len(made) + 1
    assert harness.cursor()["mode"] == "rest"


def test_interrupted_run_resumes_the_same_export_job(sandbox, harness):
    made = populate(sandbox, 20, days=10)

    def die(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        harness.run(sleep=die, since="11d")
    checkpoint = harness.cursor(EXPORT_CHECKPOINT)
    assert checkpoint
    assert checkpoint["export_id"]
    report = harness.run(since="11d")
    assert report.details["bulk"]["resumed_export"] == checkpoint["export_id"]
    assert report.details["bulk"]["exports_created"] == 0
    assert len(sandbox.segment.accepted) == len(made)


def test_crash_mid_export_resends_at_most_one_batch(sandbox, harness, monkeypatch):
    made = populate(sandbox, 35, days=10, with_noise=False)
    monkeypatch.setattr(sender_module, "MAX_BATCH_MESSAGES", 10)
    real = StateStore.set_cursor
    count = {"n": 0}

    def crash_second_commit(self, instance, name, value):
        if name == "writeback":
            count["n"] += 1
            if count["n"] == 3:  # the first call stores the window start, before the first read
                raise KeyboardInterrupt
        return real(self, instance, name, value)

    monkeypatch.setattr(StateStore, "set_cursor", crash_second_commit)
    with pytest.raises(KeyboardInterrupt):
        harness.run(since="11d")
    position = harness.cursor()
    assert position["mode"] == "bulk"
    assert position["guid"]
    assert position["export_id"]
    report = harness.run()  # from the cursor: same export job, skipping what was committed
    assert report.details["bulk"]["resumed_export"] == position["export_id"]
    assert [reason for _, reason in sandbox.segment.dropped] == ["duplicate_message_id"] * 10
    assert len(sandbox.segment.accepted) == len(made)


def test_segment_down_stops_with_75_keeps_the_cursor_and_loses_nothing(sandbox, harness):
    from segmarketo_cli.errors import ServiceUnavailable
    from segmarketo_cli.segment.sender import BatchSender

    made = populate(sandbox, 10, days=1)
    sandbox.faults.add(500, times=3, path="/v1/batch")
    impatient = BatchSender(sandbox.url, "sandbox-write-key-0123456789", max_retries=2, sleep=lambda s: None)
    services = Services(harness.settings, harness.store, _segment=impatient)
    report = RunReport("writeback")
    prepared = prepare(harness.settings, WritebackOptions(since="2d"), services)
    with RejectsWriter(harness.tmp_path / "r.jsonl") as rejects, pytest.raises(ServiceUnavailable) as err:
        run(JobContext(services=services, report=report, rejects=rejects), prepared)
    assert err.value.exit_code == 75
    assert report.counts["deferred"] == len(made)
    assert not report.imbalances()
    stored = json.loads(harness.store.get_cursor(services.marketo().instance, "writeback"))
    assert stored["guid"] is None  # only the window start, saved before the first read: no progress
    assert not sandbox.segment.accepted
    retry = harness.run()  # resumes from that start without --since
    assert retry.counts["sent"] == len(made)
    assert len(sandbox.segment.accepted) == len(made)


def test_a_large_extract_streamed_through_a_file_sends_what_paging_sends(sandbox, tmp_path, monkeypatch):
    """5,000 activities in one extract file, downloaded 4 KiB at a time to the spill folder and removed once read:
    the same events, once each, as reading them page by page."""
    from segmarketo_cli.jobs.writeback import read_bulk
    from segmarketo_cli.marketo import bulk

    made = populate(sandbox, 5_000, days=3, with_noise=False)
    monkeypatch.setattr(bulk, "DOWNLOAD_CHUNK", 4096)
    files = []
    original = read_bulk.downloaded_extract

    @contextmanager
    def recorded(*args):
        with original(*args) as path:
            files.append((path, path.stat().st_size))
            yield path
        assert not path.exists()

    monkeypatch.setattr(read_bulk, "downloaded_extract", recorded)
    sent = {}
    harness = Harness(tmp_path)
    for mode, options in (("bulk", {"bulk": True}), ("rest", {})):
        sandbox.segment.accepted.clear()
        sandbox.segment._seen.clear()  # Segment's messageId dedupe would drop the second run's events
        report = harness.run(since="4d", **options)
        assert report.details["mode"] == mode
        assert report.counts["sent"] == len(made)
        stamped = ("sentAt", "receivedAt", "timestamp")  # set on sending; originalTimestamp is the activity's
        sent[mode] = sorted(json.dumps({k: v for k, v in message.items() if k not in stamped}, sort_keys=True)
                            for message in sandbox.segment.accepted)
    harness.store.close()
    assert len(files) == 1
    assert files[0][0].parent.parent.name == "engine"  # the engine's spill folder
    assert files[0][1] > 500_000
    assert sent["bulk"] == sent["rest"]
