"""Unit tests of the write-back pipeline with fake Marketo lookups and a recording sink (no HTTP)."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.writeback.activity import Activity, BadActivity
from segmarketo_cli.jobs.writeback.events import EventBuilder
from segmarketo_cli.jobs.writeback.execute import Pipeline, SegmentSink
from segmarketo_cli.jobs.writeback.lookups import (
    AssetNames,
    LeadDirectory,
    campaign_names,
    email_subjects,
)
from segmarketo_cli.jobs.writeback.plan import DEFAULT_EVENTS
from segmarketo_cli.segment import sender as sender_module
from segmarketo_cli.segment.sender import BatchResult, BatchSender
from segmarketo_cli.state import StateStore

TYPES = {10: "Open Email", 11: "Click Email", 1: "Visit Webpage"}


class FakeMarketo:
    instance = "https://123-ABC-456.mktorest.com"

    def __init__(self, users: dict[int, str] | None = None) -> None:
        self.lead_calls: list[list[int]] = []
        self.campaign_calls = 0
        self.email_calls = 0
        self.users = users or {}

    def get_leads_by_filter(self, filter_type, values, fields):
        assert filter_type == "id"
        assert len(values) <= 300
        self.lead_calls.append([int(v) for v in values])
        return [{"id": int(v), "email": f"p{v}@example.com", "segmentUserId": self.users.get(int(v))}
                for v in values if int(v) != 404]

    def envelope(self, method, path, params=None):
        assert path == "/rest/asset/v1/emails.json"
        assert params["maxReturn"] == 200
        self.email_calls += 1
        rows = [{"id": 1042, "subject": {"type": "Text", "value": "Hello"}},
                {"id": 1043, "subject": {"type": "DynamicContent", "value": 7}}]
        return type("Env", (), {"result": rows if params["offset"] == 0 else []})()

    def get_campaigns(self, name=None):
        self.campaign_calls += 1
        return [{"id": 2211, "name": "Welcome"}]


class RecordingSink(SegmentSink):
    def __init__(self) -> None:
        super().__init__(BatchSender("http://127.0.0.1:1", "-"))
        self.batches: list[list[dict]] = []

    def deliver(self, batch):
        self.batches.append(batch)
        return BatchResult(True, 200, 1, 1000, [m["messageId"] for m in batch])


@pytest.fixture
def parts(tmp_path):
    store = StateStore(tmp_path / "state", "default")
    marketo = FakeMarketo(users={1: "user-1"})
    report = RunReport("writeback")
    rejects = RejectsWriter(tmp_path / "rejects.jsonl")
    commits: list[dict] = []
    sink = RecordingSink()
    builder = EventBuilder(events=DEFAULT_EVENTS, type_names=TYPES, munchkin="123-ABC-456",
                           integrations={"Marketo V2": False}, user_id_field="segmentUserId")
    pipeline = Pipeline(builder, LeadDirectory(marketo, "segmentUserId"),
                        AssetNames(marketo, store, "campaigns", campaign_names),
                        AssetNames(marketo, store, "subjects", email_subjects), sink, report, rejects, commits.append)
    yield pipeline, marketo, sink, report, rejects, commits
    rejects.close()
    store.close()


def activity(n: int, lead: int, type_id: int = 10, **extra) -> Activity:
    return Activity(guid=str(n), lead_id=lead, date="2026-05-16T10:00:00Z", type_id=type_id, campaign_id=2211,
                    primary_id=1042, **extra)


def feed(pipeline: Pipeline, activities: list[Activity]) -> None:
    for index, item in enumerate(activities):
        pipeline.add("s", {"token": "T", "after": activities[index - 1].guid if index else None}, item, "test")
        pipeline.advance("s", {"token": "T", "after": item.guid})
    pipeline.advance("s", {"token": "NEXT", "after": None})
    pipeline.drain()  # as a reader does after each page, before its next Marketo call


def test_identities_are_fetched_300_distinct_leads_per_call(parts):
    pipeline, marketo, sink, report, _, _ = parts
    feed(pipeline, [activity(n, lead=1 + n % 600) for n in range(900)])
    pipeline.flush()
    assert [len(call) for call in marketo.lead_calls] == [300, 300]
    assert report.counts["sent"] == 900
    assert report.counts["activities_read"] == 900
    assert marketo.campaign_calls == 1
    assert marketo.email_calls == 1
    sent = [m for batch in sink.batches for m in batch]
    assert sent[0]["properties"]["campaign_name"] == "Welcome"
    assert sent[0]["properties"]["email_subject"] == "Hello"
    assert {m["userId"] for m in sent if "userId" in m} == {"user-1"}


def test_batches_are_full_and_cursor_trails_acceptance(parts, monkeypatch):
    monkeypatch.setattr(sender_module, "MAX_BATCH_MESSAGES", 50)
    pipeline, marketo, sink, report, _, commits = parts
    pipeline.leads.fetch(range(1, 10))  # identities known: events are built as they arrive
    feed(pipeline, [activity(n, lead=1 + n % 9) for n in range(1, 121)])
    assert [len(b) for b in sink.batches] == [50, 50]  # the partial third batch waits for more events
    # After each full batch the cursor points just past the last accepted activity, never beyond it.
    assert commits == [{"s": {"token": "T", "after": "50"}}, {"s": {"token": "T", "after": "100"}}]
    pipeline.flush()
    assert [len(b) for b in sink.batches] == [50, 50, 20]
    assert commits[-1] == {"s": {"token": "NEXT", "after": None}}
    assert report.counts["sent"] == 120


def test_oversize_event_is_rejected_with_reason_and_the_run_continues(parts, tmp_path):
    pipeline, _, sink, report, rejects, _ = parts
    huge = activity(2, lead=1, attributes={"Form Fields": "x" * 40_000})
    feed(pipeline, [activity(1, lead=1), huge, activity(3, lead=1)])
    pipeline.flush()
    rejects.close()
    assert report.counts["sent"] == 2
    assert report.counts["rejected"] == 1
    line = json.loads((tmp_path / "rejects.jsonl").read_text().splitlines()[0])
    assert "32,768" in line["reason"]
    assert line["marketoGUID"] == "2"
    assert line["messageId"].endswith("-2")


def test_skips_duplicates_unmapped_and_bad_records_into_their_buckets(parts):
    pipeline, _, _, report, _, _ = parts
    bad = BadActivity("leadId is not an integer", "leadId", "x")
    pipeline.add("s", {"token": "T", "after": None}, activity(1, lead=1), "p1")
    pipeline.add("s", {"token": "T", "after": "1"}, activity(1, lead=1), "p1")
    pipeline.add("s", {"token": "T", "after": "1"}, activity(2, lead=1, type_id=1), "p1")
    pipeline.add("s", {"token": "T", "after": "2"}, bad, "page 1")
    pipeline.flush()
    assert report.counts["activities_read"] == 4
    assert (report.counts["sent"], report.counts["skipped_duplicate"], report.counts["skipped_unmapped"],
            report.counts["rejected"]) == (1, 1, 1, 1)
    assert pipeline.skip_reasons == {"activity type Visit Webpage is not written back": 1}


def test_lead_missing_in_marketo_gets_an_anonymous_id(parts):
    pipeline, _, sink, report, _, _ = parts
    feed(pipeline, [activity(1, lead=404)])
    pipeline.flush()
    message = sink.batches[0][0]
    assert message["anonymousId"] == "marketo:404"
    assert "context" not in message


def test_abandon_counts_open_work_as_deferred(parts):
    pipeline, _, sink, report, _, commits = parts
    feed(pipeline, [activity(n, lead=n) for n in range(1, 6)])
    assert pipeline.abandon() == 5
    assert report.counts["deferred"] == 5
    assert not sink.batches
    assert not commits


def test_email_subjects_without_asset_permission_are_simply_unknown():
    from segmarketo_cli.errors import MarketoError

    class NoAssets:
        def envelope(self, method, path, params=None):
            raise MarketoError("603", "Access denied")

    assert email_subjects(NoAssets()) == {}

    class Broken:
        def envelope(self, method, path, params=None):
            raise MarketoError("610", "Requested resource not found")

    with pytest.raises(MarketoError):
        email_subjects(Broken())


def test_email_subjects_page_through_200_at_a_time():
    class Many:
        offsets: list[int] = []

        def envelope(self, method, path, params=None):
            self.offsets.append(params["offset"])
            start = params["offset"]
            rows = [{"id": i, "subject": f"S{i}"} for i in range(start, min(start + 200, 450))]
            return type("Env", (), {"result": rows})()

    client = Many()
    subjects = email_subjects(client)
    assert len(subjects) == 450
    assert subjects[449] == "S449"
    assert client.offsets == [0, 200, 400]
