"""writeback end to end against the sandbox: events in Segment, cursor, re-runs, crash, dry run, --out, exits."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from segmarketo_cli import paths
from segmarketo_cli.endpoints import munchkin_id
from segmarketo_cli.segment import sender as sender_module
from segmarketo_cli.state import StateStore
from tests.support.writeback_helpers import EXPECTED_EVENT, EXTRA_TYPES, NOW, iso, populate


@pytest.fixture
def user_id_field(monkeypatch):
    monkeypatch.setenv("SEGMARKETO_USER_ID_FIELD", "segmentUserId")


def report_of(result) -> dict:
    return json.loads(result.stdout[result.stdout.index("{\n"):])


def test_sends_mapped_events_with_spec_properties_ids_and_integrations(sandbox, invoke, user_id_field):
    made = populate(sandbox)
    result = invoke("writeback", "--since", "3d", "--json")
    assert result.exit_code == 0, result.output
    report = report_of(result)
    counts = report["counts"]
    assert counts["activities_read"] == counts["sent"] == len(made)
    assert "imbalances" not in report
    assert report["details"]["mode"] == "rest"
    accepted = {m["messageId"]: m for m in sandbox.segment.accepted}
    munchkin = munchkin_id(sandbox.url)
    assert len(accepted) == len(made)
    assert not sandbox.segment.dropped
    for guid, type_name, lead in made:
        message = accepted[f"mkto-{munchkin}-{guid}"]
        assert message["event"] == EXPECTED_EVENT[type_name]
        assert message["integrations"] == {"Marketo V2": False, "Marketo Static Lists (Actions)": False}
        props = message["properties"]
        assert props["marketo_activity_id"] == guid
        assert props["marketo_lead_id"] == lead
        assert props["marketo_activity_type"] == type_name
        assert props["campaign_name"] == "Welcome Series"
        assert message["context"]["traits"]["email"].endswith("@example.com")
        user = sandbox.marketo.lead(lead).get("segmentUserId")
        assert message.get("userId") == user
        assert user or message["anonymousId"] == f"marketo:{lead}"
        if type_name == "Click Email":
            assert props["link_url"].startswith("https://shop.example.com/p/")
            assert props["link_id"].startswith("L")
        if type_name.startswith("Email Bounced"):
            assert props["bounce_type"] == ("soft" if type_name.endswith("Soft") else "hard")
        if type_name == "Open Email":
            assert message["context"]["userAgent"] == "Mozilla/5.0"
    sample = accepted[f"mkto-{munchkin}-{made[0][0]}"]
    assert sample["originalTimestamp"].endswith("Z")
    assert sample["properties"]["email_id"] == "1000"


def test_rerun_from_cursor_sends_only_new_activity(sandbox, invoke, user_id_field):
    populate(sandbox, 12)
    assert invoke("writeback", "--since", "3d").exit_code == 0
    requests = sandbox.segment.requests
    again = invoke("writeback", "--json")
    assert again.exit_code == 0, again.output
    assert report_of(again)["counts"]["sent"] == 0
    assert sandbox.segment.requests == requests
    lead = sandbox.marketo.leads[0]["id"]
    guid = sandbox.marketo.add_activity(lead, "Open Email", iso(datetime.now(timezone.utc)),
                                        primary_attribute_value_id=7)
    third = invoke("writeback", "--json")
    assert report_of(third)["counts"]["sent"] == 1
    assert sandbox.segment.accepted[-1]["properties"]["marketo_activity_id"] == guid
    assert len(sandbox.segment.accepted) == 13
    assert not sandbox.segment.dropped


def test_overlapping_since_resends_and_segment_dedupes_by_message_id(sandbox, invoke):
    made = populate(sandbox, 18)
    assert invoke("writeback", "--since", "3d").exit_code == 0
    again = invoke("writeback", "--since", "3d", "--json")
    assert again.exit_code == 0
    assert report_of(again)["counts"]["sent"] == len(made)
    assert len(sandbox.segment.accepted) == len(made)
    assert [reason for _, reason in sandbox.segment.dropped] == ["duplicate_message_id"] * len(made)


def test_unknown_activity_type_name_is_a_usage_error(sandbox, invoke):
    result = invoke("writeback", "--since", "1d", "--activity-types", "+Opened Emails=Opened")
    assert result.exit_code == 2
    assert "not found in Marketo: Opened Emails" in result.stderr


def test_crash_between_segment_200_and_cursor_commit_resends_at_most_one_batch(sandbox, invoke, monkeypatch):
    made = populate(sandbox, 35, with_noise=False)
    monkeypatch.setattr(sender_module, "MAX_BATCH_MESSAGES", 10)
    real_set_cursor = StateStore.set_cursor
    calls = {"n": 0}

    def crash_on_second_commit(self, instance, name, value):
        if name == "writeback":
            calls["n"] += 1
            if calls["n"] == 3:  # 1: the window start saved before the first read; 2: the first batch
                raise KeyboardInterrupt  # the process dies after Segment's 200, before the cursor is stored
        return real_set_cursor(self, instance, name, value)

    monkeypatch.setattr(StateStore, "set_cursor", crash_on_second_commit)
    first = invoke("writeback", "--since", "3d", "--json")
    assert first.exit_code == 130
    assert len(sandbox.segment.accepted) == 20  # two batches reached Segment, only the first was committed
    second = invoke("writeback", "--json")
    assert second.exit_code == 0, second.output
    duplicates = [reason for _, reason in sandbox.segment.dropped]
    assert duplicates == ["duplicate_message_id"] * 10  # exactly the uncommitted batch came again
    assert len(sandbox.segment.accepted) == len(made)


def test_dry_run_prints_jsonl_and_sends_nothing(sandbox, invoke):
    made = populate(sandbox, 9)
    result = invoke("writeback", "--since", "3d", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == len(made)
    assert {m["event"] for m in lines} == {EXPECTED_EVENT[type_name] for _, type_name, _ in made}
    assert all(m["messageId"].startswith("mkto-") and "sentAt" not in m for m in lines)
    assert sandbox.segment.requests == 0
    assert invoke("writeback").exit_code == 2  # no cursor was stored


def test_payloads_out_writes_batch_payloads_instead_of_sending(sandbox, invoke, tmp_path):
    made = populate(sandbox, 9)
    out = tmp_path / "batches.jsonl"
    result = invoke("writeback", "--since", "3d", "--payloads-out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert report_of(result)["counts"]["written"] == len(made)
    payloads = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(payloads) == 1
    assert len(payloads[0]["batch"]) == len(made)
    assert payloads[0]["integrations"] == {"Marketo V2": False, "Marketo Static Lists (Actions)": False}
    assert sandbox.segment.requests == 0


def test_user_id_only_skips_leads_without_user_id(sandbox, invoke, user_id_field):
    made = populate(sandbox, 16)
    result = invoke("writeback", "--since", "3d", "--identity", "user-id-only", "--json")
    assert result.exit_code == 0
    report = report_of(result)
    counts = report["counts"]
    with_user = sum(1 for _, _, lead in made if sandbox.marketo.lead(lead).get("segmentUserId"))
    assert counts["sent"] == with_user
    assert counts["skipped_no_identity"] == len(made) - with_user
    assert report["details"]["skipped"] == {"lead has no segmentUserId (user-id-only)": len(made) - with_user}
    assert all("userId" in m for m in sandbox.segment.accepted)


def test_oversize_activity_is_rejected_exit_3_and_the_rest_is_sent(sandbox, invoke, tmp_path):
    made = populate(sandbox, 5)
    lead = sandbox.marketo.leads[0]["id"]
    huge = sandbox.marketo.add_activity(lead, "Open Email", iso(NOW - timedelta(hours=1)),
                                        primary_attribute_value_id=7, attributes={"User Agent": "x" * 40_000})
    rejects = tmp_path / "rejects.jsonl"
    result = invoke("writeback", "--since", "3d", "--rejects", str(rejects), "--json")
    assert result.exit_code == 3, result.output
    counts = report_of(result)["counts"]
    assert counts["rejected"] == 1
    assert counts["sent"] == len(made)
    line = json.loads(rejects.read_text())
    assert line["marketoGUID"] == huge
    assert "32,768" in line["reason"]


def stored_cursor(box) -> str | None:
    store = StateStore(paths.state_dir(), "default")
    try:
        return store.get_cursor(box.url, "writeback")
    finally:
        store.close()


def test_request_level_400_stops_exit_1_keeps_the_cursor_and_rejects_nothing(sandbox, invoke, tmp_path):
    populate(sandbox, 6)
    assert invoke("writeback", "--since", "3d").exit_code == 0
    before = stored_cursor(sandbox)
    lead = sandbox.marketo.leads[0]["id"]
    new = [sandbox.marketo.add_activity(lead, "Open Email", iso(datetime.now(timezone.utc)),
                                        primary_attribute_value_id=7) for _ in range(5)]
    sandbox.config.segment_refuse_requests = "source_disabled"  # e.g. the source was disabled in Segment
    rejects = tmp_path / "rejects.jsonl"
    result = invoke("writeback", "--rejects", str(rejects), "--json")
    assert result.exit_code == 1, result.output
    report = report_of(result)
    assert report["status"] == "failed"
    assert "Segment refused a batch of 5 messages and both its halves with HTTP 400" in report["error"]
    assert "\n" not in report["error"]
    assert "Traceback" not in result.output
    counts = report["counts"]
    assert counts["rejected"] == 0
    assert counts["deferred"] == len(new)
    assert not rejects.exists() or rejects.read_text() == ""
    assert stored_cursor(sandbox) == before
    sandbox.config.segment_refuse_requests = ""  # fixed in Segment: the next run delivers what was held back
    again = invoke("writeback", "--json")
    assert again.exit_code == 0, again.output
    assert report_of(again)["counts"]["sent"] == len(new)
    assert [m["properties"]["marketo_activity_id"] for m in sandbox.segment.accepted[-5:]] == new


def test_request_level_400_after_an_accepted_batch_keeps_that_batch_committed(sandbox, invoke, monkeypatch):
    made = populate(sandbox, 25, with_noise=False)
    monkeypatch.setattr(sender_module, "MAX_BATCH_MESSAGES", 10)
    real_set_cursor = StateStore.set_cursor

    def refuse_after_first_commit(self, instance, name, value):
        real_set_cursor(self, instance, name, value)
        if sandbox.segment.accepted:  # the first run also stores its --since before reading: not a commit
            sandbox.config.segment_refuse_requests = "source_disabled"

    monkeypatch.setattr(StateStore, "set_cursor", refuse_after_first_commit)
    first = invoke("writeback", "--since", "3d", "--json")
    assert first.exit_code == 1, first.output
    counts = report_of(first)["counts"]
    assert counts["sent"] == 10
    assert counts["deferred"] == len(made) - 10
    assert counts["rejected"] == 0
    monkeypatch.setattr(StateStore, "set_cursor", real_set_cursor)
    sandbox.config.segment_refuse_requests = ""
    second = invoke("writeback", "--json")
    assert second.exit_code == 0, second.output
    assert report_of(second)["counts"]["sent"] == len(made) - 10
    assert len(sandbox.segment.accepted) == len(made)
    assert not sandbox.segment.dropped  # the committed batch was not sent again


def test_message_segment_refuses_is_isolated_and_rejected_the_rest_sent(sandbox, invoke, tmp_path):
    made = populate(sandbox, 8, with_noise=False)
    sandbox.config.segment_max_message = 4_000  # below the sender's own 32 KB check: only Segment refuses it
    lead = sandbox.marketo.leads[0]["id"]
    huge = sandbox.marketo.add_activity(lead, "Open Email", iso(NOW - timedelta(hours=1)),
                                        primary_attribute_value_id=7, attributes={"User Agent": "x" * 5_000})
    rejects = tmp_path / "rejects.jsonl"
    result = invoke("writeback", "--since", "3d", "--rejects", str(rejects), "--json")
    assert result.exit_code == 3, result.output
    counts = report_of(result)["counts"]
    assert counts["rejected"] == 1
    assert counts["sent"] == len(made)
    line = json.loads(rejects.read_text())
    assert line["marketoGUID"] == huge
    assert line["reason"].startswith("Segment refused the message: HTTP 400")
    assert len(sandbox.segment.accepted) == len(made)
    assert invoke("writeback", "--json").exit_code == 0  # the cursor moved past the rejected event
    assert len(sandbox.segment.accepted) == len(made)


def test_activity_types_flag_and_profile_table(sandbox, invoke, isolated_home):
    populate(sandbox, 18, extras=True)
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text(
        '[profiles.default.writeback.events]\n"Send Email" = false\n"Open Email" = "Marketo Email Opened"\n'
    )
    result = invoke("writeback", "--since", "3d", "--activity-types", "Open Email,Send Email=Sent,Click Email",
                    "--json")
    assert result.exit_code == 0, result.output
    names = {m["event"] for m in sandbox.segment.accepted}
    assert names == {"Marketo Email Opened", "Sent", "Email Link Clicked"}


SPEC_EVENTS = {"Email Delivered", "Email Opened", "Email Link Clicked", "Email Bounced", "Unsubscribed"}


def test_default_run_sends_only_segment_email_spec_events(sandbox, invoke):
    made = populate(sandbox, 27, extras=True)
    result = invoke("writeback", "--since", "3d", "--json")
    assert result.exit_code == 0, result.output
    report = report_of(result)
    assert {m["event"] for m in sandbox.segment.accepted} == SPEC_EVENTS
    spec = [guid for guid, type_name, _ in made if type_name not in EXTRA_TYPES]
    assert report["counts"]["sent"] == len(spec)
    assert not set(report["details"]["activity_types"]) & set(EXTRA_TYPES)


def test_marketo_extras_are_sent_when_the_profile_opts_in(sandbox, invoke, isolated_home):
    made = populate(sandbox, 27, extras=True)
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text("[profiles.default.writeback]\nmarketo_extras = true\n")
    result = invoke("writeback", "--since", "3d", "--json")
    assert result.exit_code == 0, result.output
    assert report_of(result)["counts"]["sent"] == len(made)
    names = {m["event"] for m in sandbox.segment.accepted}
    assert names == SPEC_EVENTS | {"Email Sent", "Program Status Changed", "Form Submitted"}


def test_marketo_extras_must_be_a_boolean(sandbox, invoke, isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text('[profiles.default.writeback]\nmarketo_extras = "yes"\n')
    result = invoke("writeback", "--since", "3d")
    assert result.exit_code == 2
    assert "marketo_extras must be true or false" in result.stderr
    assert sandbox.segment.requests == 0


def test_retention_warning_for_old_since(sandbox, invoke):
    populate(sandbox, 3)
    result = invoke("writeback", "--since", "100d", "--bulk-after", "365", "--json")
    assert result.exit_code == 0
    notes = " ".join(report_of(result).get("notes", []))
    assert "Email Delivered" in notes
    assert "90 days" in notes


def test_more_than_ten_types_page_as_separate_streams_and_resume(sandbox, invoke):
    made = populate(sandbox, 18, extras=True)  # also adds Visit Webpage noise
    lead = sandbox.marketo.leads[0]["id"]
    sandbox.marketo.add_activity(lead, "Change Score", iso(NOW - timedelta(hours=2)), attributes={"New Value": 5})
    sandbox.marketo.add_activity(lead, "Click Link", iso(NOW - timedelta(hours=2)), primary_attribute_value_id=4)
    added = ("+Send Email,+Change Status in Progression,+Fill Out Form,"
             "+Visit Webpage=Page Visited,+Change Score=Score Changed,+Click Link=Link Clicked")
    result = invoke("writeback", "--since", "3d", "--activity-types", added, "--json")
    assert result.exit_code == 0, result.output
    assert report_of(result)["counts"]["sent"] == len(made) * 2 + 2  # 12 types in two streams
    assert {"Page Visited", "Score Changed", "Link Clicked"} <= {m["event"] for m in sandbox.segment.accepted}
    again = invoke("writeback", "--activity-types", added, "--json")
    assert report_of(again)["counts"]["sent"] == 0
    assert not sandbox.segment.dropped


def test_pages_through_empty_pages_while_more_result(sandbox, invoke):
    lead = sandbox.marketo.add_lead(email="late@example.com")
    for n in range(700):  # 700 activities nobody writes back: the first scans come back empty
        sandbox.marketo.add_activity(lead, "Visit Webpage", iso(NOW - timedelta(hours=5, seconds=-n)))
    guid = sandbox.marketo.add_activity(lead, "Open Email", iso(NOW - timedelta(hours=1)),
                                        primary_attribute_value_id=9)
    result = invoke("writeback", "--since", "1d", "--json")
    report = report_of(result)
    assert report["counts"]["sent"] == 1
    assert report["details"]["pages"] >= 3
    assert sandbox.segment.accepted[0]["properties"]["marketo_activity_id"] == guid


def test_integrations_are_configurable_per_profile(sandbox, invoke, isolated_home):
    populate(sandbox, 4)
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text(
        '[profiles.default.writeback.integrations]\nAll = false\n"Google Analytics 4" = true\n'
    )
    assert invoke("writeback", "--since", "3d").exit_code == 0
    assert all(m["integrations"] == {"All": False, "Google Analytics 4": True} for m in sandbox.segment.accepted)
    assert all(b["integrations"] == {"All": False, "Google Analytics 4": True} for b in sandbox.segment.batches)


def test_unwritable_out_file_is_one_clear_line(sandbox, invoke, tmp_path):
    populate(sandbox, 3)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = invoke("writeback", "--since", "3d", "--out", str(blocker / "batches.jsonl"))
    assert result.exit_code == 1
    assert "cannot be written" in result.output
    assert "Traceback" not in result.output
    assert sandbox.segment.requests == 0
