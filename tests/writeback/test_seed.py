"""writeback over the committed sandbox seed (sample_data/sandbox, activities from make_activities.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from segmarketo_cli.jobs.writeback.plan import DEFAULT_EVENTS, KNOWN_EVENTS
from segmarketo_cli.sandbox.box import DEFAULT_SEED_DIR

SEED = Path(DEFAULT_SEED_DIR)
WINDOW = ["--since", "2026-10-01", "--until", "2026-11-21T00:00:00Z"]


def seed_activities() -> list[dict]:
    return [json.loads(line) for line in (SEED / "activities.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture
def seeded(sandbox, monkeypatch):
    sandbox.load_seed(SEED)
    monkeypatch.setenv("SEGMARKETO_USER_ID_FIELD", "segmentUserId")
    return sandbox


def test_fixture_covers_every_mapped_type_for_seed_leads():
    activities = seed_activities()
    leads = {lead["id"] for lead in json.loads((SEED / "leads.json").read_text())}
    assert 200 <= len(activities) <= 600
    assert set(KNOWN_EVENTS) <= {a["type"] for a in activities}
    assert {a["leadId"] for a in activities} <= leads
    campaigns = {c["id"] for c in json.loads((SEED / "campaigns.json").read_text())}
    assert {a["campaignId"] for a in activities if "campaignId" in a} <= campaigns


def test_seed_window_written_back_with_names_subjects_and_identities(seeded, invoke, isolated_home):
    activities = seed_activities()
    mapped = [a for a in activities if a["type"] in KNOWN_EVENTS]
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text("[profiles.default.writeback]\nmarketo_extras = true\n")
    result = invoke("writeback", *WINDOW, "--bulk-after", "90", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["counts"]["activities_read"] == report["counts"]["sent"] == len(mapped)
    accepted = seeded.segment.accepted
    assert Counter(m["event"] for m in accepted) == Counter(KNOWN_EVENTS[a["type"]] for a in mapped)
    welcome = next(m for m in accepted if m["properties"].get("email_id") == "5001")
    assert welcome["properties"]["email_subject"] == "Welcome to Acme!"
    assert welcome["properties"]["email_name"] == "Welcome.Email 1"
    assert welcome["properties"]["campaign_name"] == "Send Welcome Email"
    by_lead = {m["properties"]["marketo_lead_id"]: m for m in accepted}
    assert by_lead[1]["userId"] == "user-0000"
    assert by_lead[31]["anonymousId"] == "marketo:31"
    assert "userId" not in by_lead[31]
    assert by_lead[31]["context"]["traits"]["email"] == "pat.duplicate@example.com"
    attended = [m for m in accepted if m["event"] == "Program Status Changed"
                and m["properties"]["new_status"] == "Attended"]
    assert attended
    assert attended[0]["properties"]["program_name"] == "2026 Spring Product Webinar"
    unsubscribed = {m["properties"]["marketo_lead_id"] for m in accepted if m["event"] == "Unsubscribed"}
    assert {7, 20} <= unsubscribed  # the seed's unsubscribed leads


def test_seed_user_id_only_skips_the_leads_without_segment_user_id(seeded, invoke):
    mapped = [a for a in seed_activities() if a["type"] in DEFAULT_EVENTS]
    without = sum(1 for a in mapped if a["leadId"] in (31, 33))
    result = invoke("writeback", *WINDOW, "--bulk-after", "90", "--identity", "user-id-only", "--json")
    counts = json.loads(result.stdout)["counts"]
    assert counts["skipped_no_identity"] == without > 0
    assert counts["sent"] == len(mapped) - without
