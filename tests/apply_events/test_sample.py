"""The shipped sample: sample_data/rules.toml over sample_data/track_events.jsonl against the sandbox seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.reliability_world import RequestHook

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"


@pytest.fixture
def seeded(sandbox):
    sandbox.load_seed(SAMPLE / "sandbox")
    return sandbox


def run(invoke, *extra):
    return invoke("apply-events", str(SAMPLE / "track_events.jsonl"), "--rules", str(SAMPLE / "rules.toml"),
                  "--json", *extra)


def test_sample_rules_use_every_action():
    from segmarketo_cli.jobs.apply_events.rules import load_rules_file

    rules = load_rules_file(SAMPLE / "rules.toml")
    assert {r.action for r in rules} == {"score", "program-status", "trigger-campaign", "suppress", "set-fields"}


def test_sample_export_exercises_every_rule(seeded, invoke, tmp_path):
    m = seeded.marketo
    before = {n: dict(m.lead(n)) for n in (1, 2, 5, 11, 21, 31, 32)}
    rejects = tmp_path / "rejects.jsonl"
    result = run(invoke, "--rejects", str(rejects))
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    c = report["counts"]
    assert "imbalances" not in report
    assert (c["messages"], c["duplicates"], c["other_messages"], c["events_unmatched"]) == (32, 1, 10, 3)

    assert m.lead(1)["productScore"] == before[1]["productScore"] + 5 + 8
    assert m.lead(21)["productScore"] == before[21]["productScore"] + 5 + 2  # the aliased anonymous event counts
    assert m.lead(11)["leadScore"] == before[11]["leadScore"] + 4
    assert (c["product-usage.applied"], c["product-usage.rejected"]) == (4, 2)

    webinar = m.program_members(2001)
    assert (webinar[1], webinar[2], webinar[3], webinar[6]) == ("Registered", "Attended", "Attended", "Registered")
    assert (c["webinar-registered.applied"], c["webinar-registered.unchanged"]) == (2, 1)

    [new_lead] = m.find_leads("email", "new.trial@example.com")
    requests = m.campaign_requests(3001)
    assert sorted(r["leadIds"][0] for r in requests) == sorted([10, new_lead["id"]])
    tokens = {r["leadIds"][0]: {t["name"]: t["value"] for t in r["tokens"]} for r in requests}
    assert tokens[10] == {"{{my.plan}}": "pro", "{{my.signup_source}}": "pricing-page"}
    assert tokens[new_lead["id"]] == {"{{my.plan}}": "team", "{{my.signup_source}}": "product"}
    assert c["leads_created"] == 1
    assert new_lead["lifecycleStage"] == "trial"
    assert new_lead["trialStartDate"] == "2026-11-20"

    for lead in (5, 31, 32):
        assert m.lead(lead)["unsubscribed"] is True
    assert m.lead(5)["unsubscribedReason"] == "Too many emails"
    assert 5 not in m.list_members(1001)
    assert m.lead(3)["unsubscribedReason"] == "Account deleted in the product"
    assert all(3 not in m.list_members(list_id) for list_id in (1001, 1002, 1003))

    assert (m.lead(2)["lifecycleStage"], m.lead(2)["isCustomer"], float(m.lead(2)["mrr"])) == ("customer", True, 99.0)
    assert c["became-customer.rejected"] == 1

    reasons = {line["messageId"]: line["reason"] for line in map(json.loads, rejects.read_text().splitlines())}
    assert reasons["evt-0018"] == "no Marketo lead with email stranger@example.com"
    assert "anonymousId anon-ghost" in reasons["evt-0019"]
    assert reasons["evt-0017"].startswith("field mrr: 'ninety-nine' is not currency")

    calls = m.calls
    requests = RequestHook(seeded).paths
    again = json.loads(run(invoke).stdout)["counts"]
    assert again["product-usage.already_applied"] == 4
    assert again["trial-welcome.already_applied"] == 2
    assert again["leads_created"] == 0
    assert len(m.campaign_requests(3001)) == 2
    assert m.calls - calls <= 8  # rule resolution and lookups only
    assert {method for method, _ in requests} == {"GET"}  # no write call


def test_sample_dry_run(seeded, invoke):
    result = invoke("apply-events", str(SAMPLE / "track_events.jsonl"), "--rules", str(SAMPLE / "rules.toml"),
                    "--dry-run")
    assert result.exit_code == 3
    assert "leads to create (create = true): 1" in result.stdout
    assert "account-deleted: suppress: unsubscribe 1 lead(s), remove from every static list" in result.stdout
    assert seeded.marketo.find_leads("email", "new.trial@example.com") == []
