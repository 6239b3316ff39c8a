"""apply-events crash safety: a score or campaign write that Marketo confirmed but the state store never recorded."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli import paths
from segmarketo_cli.errors import ServiceUnavailable
from segmarketo_cli.marketo.client import MarketoClient
from segmarketo_cli.state import StateStore
from tests.support.rules import SCORE_AND_CAMPAIGN, write_rules


def track(mid, event, minute, props=None, user="u-ann"):
    return {"type": "track", "messageId": mid, "event": event, "userId": user, "properties": props or {},
            "timestamp": f"2026-11-20T10:{minute:02d}:00Z"}


MESSAGES = [
    {"type": "identify", "userId": "u-ann", "traits": {"email": "ann@example.com"},
     "timestamp": "2026-11-20T09:00:00Z"},
    {"type": "identify", "userId": "u-bob", "traits": {"email": "bob@example.com"},
     "timestamp": "2026-11-20T09:00:00Z"},
    track("s1", "Report Created", 1, {"weight": 3}),
    track("s2", "Report Created", 2),
    track("s3", "Report Created", 3, {"weight": 2}, user="u-bob"),
    track("c1", "Trial Started", 4),
    track("c2", "Trial Started", 5, user="u-bob"),
]


@pytest.fixture
def world(sandbox, tmp_path):
    m = sandbox.marketo
    ids = {"ann": m.add_lead(email="ann@example.com", productScore=10), "bob": m.add_lead(email="bob@example.com"),
           "welcome": m.add_campaign("Trial Welcome", type="trigger")}
    rules = write_rules(tmp_path, SCORE_AND_CAMPAIGN)
    export = tmp_path / "events.jsonl"
    export.write_text("".join(json.dumps(message) + "\n" for message in MESSAGES))
    return sandbox.marketo, ids, ["apply-events", str(export), "--rules", str(rules), "--json"]


@pytest.fixture
def pending(sandbox):
    """The pending rows the profile's state store holds for the sandbox instance."""
    return lambda: StateStore(paths.state_dir(), "default").pending(sandbox.url)


def crash_when_recording(monkeypatch, scope):
    """The process dies right after Marketo confirmed a write of rule `scope`, before the store records it."""
    original = StateStore.mark_processed

    def mark_processed(self, instance, name, message_ids):
        if name == scope:
            raise SystemExit(137)
        return original(self, instance, name, message_ids)

    monkeypatch.setattr(StateStore, "mark_processed", mark_processed)
    return lambda: monkeypatch.setattr(StateStore, "mark_processed", original)


def test_score_written_before_a_crash_is_not_added_again(world, pending, invoke, monkeypatch):
    m, ids, args = world
    restore = crash_when_recording(monkeypatch, "usage")
    first = invoke(*args)
    assert first.exit_code == 137
    assert m.lead(ids["ann"])["productScore"] == 18
    assert m.lead(ids["bob"])["productScore"] == 2
    assert {r["message_id"] for r in pending()} == {"s1", "s2", "s3"}
    restore()
    second = invoke(*args)
    report = json.loads(second.stdout)
    assert second.exit_code == 0, second.output
    assert m.lead(ids["ann"])["productScore"] == 18
    assert m.lead(ids["bob"])["productScore"] == 2
    assert report["counts"]["usage.already_applied"] == 3
    assert report["counts"]["usage.applied"] == 0
    assert report["details"]["recovered"] == {"score_written": 3, "score_not_written": 0, "campaigns_uncertain": 0}
    assert any("found in Marketo and recorded as applied" in note for note in report["notes"])
    assert pending() == []


def test_score_write_that_never_reached_marketo_applies_on_the_next_run(world, pending, invoke, monkeypatch):
    m, ids, args = world
    original = MarketoClient.sync_leads

    def lost(self, records, **kwargs):
        if kwargs.get("action") == "updateOnly":
            raise ServiceUnavailable("Marketo kept failing (connection reset)")
        return original(self, records, **kwargs)

    monkeypatch.setattr(MarketoClient, "sync_leads", lost)
    first = invoke(*args)
    assert first.exit_code == 75, first.output
    assert m.lead(ids["ann"])["productScore"] == 10
    assert len(pending()) == 3
    monkeypatch.setattr(MarketoClient, "sync_leads", original)
    second = invoke(*args)
    report = json.loads(second.stdout)
    assert second.exit_code == 0, second.output
    assert m.lead(ids["ann"])["productScore"] == 18
    assert m.lead(ids["bob"])["productScore"] == 2
    assert report["counts"]["usage.applied"] == 3
    assert report["details"]["recovered"]["score_not_written"] == 3
    assert pending() == []


def test_campaign_request_cut_off_by_a_crash_is_uncertain_and_never_repeated(world, pending, invoke, monkeypatch):
    m, ids, args = world
    restore = crash_when_recording(monkeypatch, "welcome")
    first = invoke(*args)
    assert first.exit_code == 137
    assert len(m.campaign_requests(ids["welcome"])) == 1  # Marketo ran it for both leads
    restore()
    second = invoke(*args)
    report = json.loads(second.stdout)
    assert second.exit_code == 0, second.output
    assert len(m.campaign_requests(ids["welcome"])) == 1  # at most once: not requested again
    assert report["counts"]["uncertain"] == 2
    assert report["counts"]["welcome.already_applied"] == 2
    assert {(u["messageId"], u["leadId"], u["campaignId"]) for u in report["details"]["uncertain"]} == {
        ("c1", ids["ann"], ids["welcome"]), ("c2", ids["bob"], ids["welcome"])}
    assert any("may or may not have been triggered" in note for note in report["notes"])
    assert m.lead(ids["ann"])["productScore"] == 18  # the scores were recorded before the crash
    third = invoke(*args)
    assert json.loads(third.stdout)["counts"]["uncertain"] == 0
    assert len(m.campaign_requests(ids["welcome"])) == 1


def test_a_refused_campaign_request_is_not_left_pending(world, pending, invoke, sandbox):
    m, ids, args = world
    sandbox.faults.add("607", path="/rest/v1/campaigns/")
    assert invoke(*args).exit_code == 75
    assert pending() == []  # Marketo answered: nothing was triggered
    second = invoke(*args)
    assert json.loads(second.stdout)["counts"]["welcome.applied"] == 2
    assert len(m.campaign_requests(ids["welcome"])) == 1


def test_store_clears_pending_rows_in_the_transaction_that_marks_processed(tmp_path):
    s = StateStore(tmp_path, "t")
    s.add_pending("i", [("score", "r", "m1", 7, "productScore", 18), ("campaign", "c", "m2", 7, None, 3)])
    assert sorted((r["kind"], r["message_id"], r["lead_id"], r["field"], r["value"]) for r in s.pending("i")) == [
        ("campaign", "m2", 7, None, 3), ("score", "m1", 7, "productScore", 18)]
    s.mark_processed("i", "r", ["m1"])
    assert [r["message_id"] for r in s.pending("i")] == ["m2"]
    assert s.processed("i", "r", ["m1"]) == {"m1"}
    s.clear_pending("i", [("c", "m2")])
    assert s.pending("i") == []
    assert s.processed("i", "c", ["m2"]) == set()
