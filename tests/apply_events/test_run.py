"""apply-events end to end against the sandbox: every action, exactly once, rejects, dry run, exit codes."""

from __future__ import annotations

import json
import textwrap

import pytest

from segmarketo_cli.marketo.client import MarketoClient
from tests.support.reliability_world import RequestHook
from tests.support.rules import EVERY_ACTION, write_rules


def track(mid, event, ts, props=None, user="u-ann", anon=None, email=None):
    message = {"type": "track", "messageId": mid, "event": event, "timestamp": f"2026-11-20T10:{ts:02d}:00Z",
               "properties": props or {}}
    if user:
        message["userId"] = user
    if anon:
        message["anonymousId"] = anon
    if email:
        message["context"] = {"traits": {"email": email}}
    return message


def identify(user, email, anon=None, ts=0):
    message = {"type": "identify", "messageId": f"id-{user}-{ts}", "userId": user, "traits": {"email": email},
               "timestamp": f"2026-11-20T09:{ts:02d}:00Z"}
    if anon:
        message["anonymousId"] = anon
    return message


@pytest.fixture
def world(sandbox, tmp_path):
    m = sandbox.marketo
    ids = {
        "ann": m.add_lead(email="ann@example.com", productScore=10),
        "bob": m.add_lead(email="bob@example.com"),
        "dup1": m.add_lead(email="dup@example.com"),
        "dup2": m.add_lead(email="dup@example.com"),
    }
    ids["newsletter"] = m.add_list("Newsletter")
    m.add_to_list(ids["newsletter"], [ids["ann"], ids["dup1"], ids["dup2"]])
    ids["webinar"] = m.add_program("Q4 Webinar", channel="Webinar")
    ids["welcome"] = m.add_campaign("Trial Welcome", type="trigger")
    return sandbox, ids, write_rules(tmp_path, EVERY_ACTION)


def write_export(tmp_path, messages, name="events.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    return path


MESSAGES = [
    identify("u-ann", "Ann@Example.com", anon="anon-ann"),
    identify("u-bob", "bob@example.com"),
    identify("u-dup", "dup@example.com"),
    track("e1", "Report Created", 1, {"plan": "pro", "weight": 3}),
    track("e2", "Dashboard Shared", 2, {"plan": "pro"}, user=None, anon="anon-ann"),  # anonymous, identified later
    track("e3", "Report Created", 3, {"plan": "free"}),  # where does not match
    track("e4", "Webinar Registered", 4, user="u-bob"),
    track("e5", "Trial Started", 5, {"plan": "pro"}, user="u-bob"),
    track("e6", "Trial Started", 6, {"plan": "team"}),
    track("e7", "Unsubscribed", 7, {"why": "too many e-mails"}, user="u-dup"),
    track("e8", "Subscription Started", 8, {"mrr": "49.5"}, user="u-bob"),
    track("e9", "Report Created", 9, {"plan": "pro"}, user="u-nobody"),  # person without e-mail
    track("e10", "Report Created", 10, {"plan": "pro"}, user=None, email="ghost@example.com"),  # no lead
    track("e11", "Subscription Started", 11, {"mrr": "lots"}, user="u-bob"),  # bad value
]


def counts(result):
    return json.loads(result.stdout)["counts"]


def test_every_action_applies_once_and_rerun_adds_nothing(world, invoke, tmp_path):
    box, ids, rules = world
    m = box.marketo
    export = write_export(tmp_path, MESSAGES)
    rejects = tmp_path / "rejects.jsonl"
    result = invoke("apply-events", str(export), "--rules", str(rules), "--json", "--rejects", str(rejects))
    assert result.exit_code == 3, result.output  # some events rejected
    c = counts(result)
    assert m.lead(ids["ann"])["productScore"] == 10 + 3 + 5
    assert sorted(m.program_members(ids["webinar"]).items()) == [(ids["bob"], "Registered")]
    requests = m.campaign_requests(ids["welcome"])
    assert sorted((r["leadIds"][0], r["tokens"][0]["value"]) for r in requests) == [
        (ids["ann"], "team"), (ids["bob"], "pro")]
    assert all(r["tokens"][0]["name"] == "{{my.plan}}" for r in requests)
    for dup in ("dup1", "dup2"):
        lead = m.lead(ids[dup])
        assert lead["unsubscribed"] is True
        assert lead["unsubscribedReason"] == "too many e-mails"
    assert m.list_members(ids["newsletter"]) == {ids["ann"]}
    bob = m.lead(ids["bob"])
    assert (bob["lifecycleStage"], bob["isCustomer"], float(bob["mrr"])) == ("Customer", True, 49.5)
    assert c["messages"] == 14
    assert c["other_messages"] == 3
    assert c["events_unmatched"] == 1
    assert (c["usage.matched"], c["usage.applied"], c["usage.rejected"]) == (4, 2, 2)
    assert (c["webinar.applied"], c["welcome.applied"], c["opt-out.applied"]) == (1, 2, 1)
    assert (c["stage.matched"], c["stage.applied"], c["stage.rejected"]) == (2, 1, 1)
    assert c["rejected"] == 3
    assert c["malformed"] == 0
    assert "imbalances" not in json.loads(result.stdout)
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    reasons = {line["messageId"]: line for line in lines}
    assert "no email known for the person with userId u-nobody" in reasons["e9"]["reason"]
    assert reasons["e10"]["reason"] == "no Marketo lead with email ghost@example.com"
    assert reasons["e11"]["field"] == "mrr"
    assert reasons["e11"]["value"] == "lots"
    assert reasons["e11"]["origin"] == f"{export}:14"
    assert reasons["e11"]["rule"] == "stage"

    calls_before = m.calls
    requests = RequestHook(box).paths
    again = invoke("apply-events", str(export), "--rules", str(rules), "--json")
    c2 = counts(again)
    assert m.lead(ids["ann"])["productScore"] == 18
    assert len(m.campaign_requests(ids["welcome"])) == 2
    assert (c2["usage.already_applied"], c2["welcome.already_applied"], c2["opt-out.already_applied"]) == (2, 2, 1)
    assert c2["usage.applied"] == c2["welcome.applied"] == 0
    writes = m.calls - calls_before
    assert writes <= 6, writes  # describe + program/campaign/list lookups only
    assert {method for method, _ in requests} == {"GET"}  # no write call


def test_overlapping_files_and_reprocess(world, invoke, tmp_path):
    box, ids, rules = world
    m = box.marketo
    first = write_export(tmp_path, MESSAGES[:4], "a.jsonl")
    second = write_export(tmp_path, MESSAGES[:5], "b.jsonl")  # overlaps a.jsonl
    assert invoke("apply-events", str(first), "--rules", str(rules), "--json").exit_code == 0
    assert m.lead(ids["ann"])["productScore"] == 13
    result = invoke("apply-events", str(first), str(second), "--rules", str(rules), "--json")
    c = counts(result)
    assert m.lead(ids["ann"])["productScore"] == 18  # only e2 is new
    assert c["duplicates"] == 4
    assert c["usage.already_applied"] == 1
    assert c["usage.applied"] == 1
    again = invoke("apply-events", str(second), "--rules", str(rules), "--reprocess", "--json")
    assert counts(again)["usage.applied"] == 2
    assert m.lead(ids["ann"])["productScore"] == 26


def test_program_status_already_past_is_unchanged(world, invoke, tmp_path):
    box, ids, rules = world
    m = box.marketo
    attended = box.marketo.add_lead(email="att@example.com")
    export = write_export(tmp_path, [identify("u-att", "att@example.com"), identify("u-bob", "bob@example.com"),
                                     track("w1", "Webinar Registered", 1, user="u-att"),
                                     track("w2", "Webinar Registered", 2, user="u-bob")])
    # att already attended: Marketo answers 1037 for the lower "Registered" status
    client = MarketoClient(box.url, "sandbox-client", "sandbox-secret-0123456789")
    client.sync_program_member_status(ids["webinar"], "Attended", [attended])
    result = invoke("apply-events", str(export), "--rules", str(rules), "--json")
    c = counts(result)
    assert result.exit_code == 0
    assert (c["webinar.matched"], c["webinar.applied"], c["webinar.unchanged"]) == (2, 1, 1)
    assert m.program_members(ids["webinar"]) == {attended: "Attended", ids["bob"]: "Registered"}
    rerun = counts(invoke("apply-events", str(export), "--rules", str(rules), "--json"))
    assert rerun["webinar.already_applied"] == 2


def test_dry_run_prints_plan_and_writes_nothing(world, invoke, tmp_path):
    box, ids, rules = world
    m = box.marketo
    export = write_export(tmp_path, MESSAGES)
    result = invoke("apply-events", str(export), "--rules", str(rules), "--dry-run")
    assert result.exit_code == 3
    assert result.stdout == (
        "Plan (dry run, nothing written):\n"
        "  usage: score: +8 points to productScore on 1 lead(s)\n"
        f"  webinar: program-status: 1 lead(s) to 'Registered' in program {ids['webinar']}\n"
        f"  welcome: trigger-campaign: campaign {ids['welcome']} for 2 lead(s) in 2 token group(s), 2 call(s)\n"
        f"  opt-out: suppress: unsubscribe 2 lead(s), remove from list(s) {ids['newsletter']}\n"
        "  stage: set-fields: isCustomer, lifecycleStage, mrr on 1 lead(s)\n"
        "Write calls: sync_leads 1, remove_from_list 1, program_status 1, request_campaign 2\n"
        "Changes: 11 row(s): score 1, unsubscribe 2, update 3, remove 2, status 1, campaign 2\n"
        "  ann@example.com (lead 1)         score       productScore: 10 → 18\n"
        "  dup@example.com (lead 3)         unsubscribe unsubscribed: (empty) → true\n"
        "  dup@example.com (lead 4)         unsubscribe unsubscribed: (empty) → true\n"
        "  bob@example.com (lead 2)         update      lifecycleStage: (empty) → Customer\n"
        "  bob@example.com (lead 2)         update      isCustomer: (empty) → true\n"
        f"  dup@example.com (lead 3)         remove      from list {ids['newsletter']}  (opt-out)\n"
        f"  dup@example.com (lead 4)         remove      from list {ids['newsletter']}  (opt-out)\n"
        "  bob@example.com (lead 2)         status      status: unknown → Registered\n"
        f"  bob@example.com (lead 2)         campaign    campaign {ids['welcome']}  (welcome: {{{{my.plan}}}}=pro)\n"
        f"  ann@example.com (lead 1)         campaign    campaign {ids['welcome']}  (welcome: {{{{my.plan}}}}=team)\n"
        "  … and 1 more: write all rows with --plan-out FILE\n"
    )
    assert m.lead(ids["ann"])["productScore"] == 10
    assert m.campaign_requests(ids["welcome"]) == []
    assert m.program_members(ids["webinar"]) == {}
    assert m.list_members(ids["newsletter"]) == {ids["ann"], ids["dup1"], ids["dup2"]}
    real = invoke("apply-events", str(export), "--rules", str(rules), "--json")
    assert counts(real)["usage.applied"] == 2  # the dry run recorded nothing as applied


def test_create_true_creates_the_lead(world, invoke, tmp_path):
    box, ids, rules = world
    rules.write_text(EVERY_ACTION.replace('tokens = { "my.plan"', 'create = true\ntokens = { "my.plan"'))
    export = write_export(tmp_path, [track("n1", "Trial Started", 1, {"plan": "pro"}, user=None,
                                           email="New.Person@example.com")])
    result = invoke("apply-events", str(export), "--rules", str(rules), "--json")
    assert result.exit_code == 0, result.output
    [lead] = box.marketo.find_leads("email", "new.person@example.com")
    assert counts(result)["leads_created"] == 1
    assert box.marketo.campaign_requests(ids["welcome"])[0]["leadIds"] == [lead["id"]]


def test_created_lead_goes_to_the_partition_given_by_flag(world, invoke, tmp_path):
    box, ids, rules = world
    box.marketo.add_partition("EMEA")
    rules.write_text(EVERY_ACTION.replace('tokens = { "my.plan"', 'create = true\ntokens = { "my.plan"'))
    export = write_export(tmp_path, [track("n1", "Trial Started", 1, {"plan": "pro"}, user=None,
                                           email="eu.person@example.com")])
    result = invoke("apply-events", str(export), "--rules", str(rules), "--partition", "EMEA", "--json")
    assert result.exit_code == 0, result.output
    [lead] = box.marketo.find_leads("email", "eu.person@example.com")
    assert box.marketo.lead_partition(lead["id"]) == "EMEA"


def test_suppress_all_lists(world, invoke, tmp_path):
    box, ids, rules = world
    m = box.marketo
    other = m.add_list("Events")
    m.add_to_list(other, [ids["bob"]])
    rules.write_text(EVERY_ACTION.replace('remove_from_lists = ["Newsletter"]', 'remove_from_lists = "all"'))
    export = write_export(tmp_path, [identify("u-bob", "bob@example.com"), identify("u-ann", "ann@example.com"),
                                     track("s1", "Unsubscribed", 1, user="u-bob"),
                                     track("s2", "Unsubscribed", 2, user="u-ann")])
    result = invoke("apply-events", str(export), "--rules", str(rules), "--json")
    assert result.exit_code == 0, result.output
    assert m.list_members(other) == set()
    assert m.list_members(ids["newsletter"]) == {ids["dup1"], ids["dup2"]}
    assert m.lead(ids["bob"])["unsubscribedReason"] == "Segment event 'Unsubscribed'"
    assert counts(result)["opt-out.applied"] == 2


def test_rules_from_profile(world, invoke, tmp_path, isolated_home):
    box, ids, _ = world
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text(textwrap.dedent("""
        [profiles.default]
        [[profiles.default.rules]]
        name = "bonus"
        event = "Report Created"
        action = "score"
        field = "leadScore"
        points = 7
    """))
    export = write_export(tmp_path, MESSAGES[:4])
    result = invoke("apply-events", str(export), "--json")
    assert result.exit_code == 0, result.output
    assert box.marketo.lead(ids["ann"])["leadScore"] == 7


def test_quota_stop_mid_run_then_resume_applies_each_event_once(world, invoke, tmp_path):
    box, ids, rules = world
    m = box.marketo
    export = write_export(tmp_path, MESSAGES)
    box.faults.add("607", path="/rest/v1/campaigns/")  # the day's quota runs out at the campaign stage
    first = invoke("apply-events", str(export), "--rules", str(rules), "--json")
    assert first.exit_code == 75, first.output
    c = counts(first)
    assert c["usage.applied"] == 2
    assert c["welcome.deferred"] == 2
    assert m.lead(ids["ann"])["productScore"] == 18
    assert m.campaign_requests(ids["welcome"]) == []
    assert "imbalances" not in json.loads(first.stdout)
    second = invoke("apply-events", str(export), "--rules", str(rules), "--json")
    c2 = counts(second)
    assert second.exit_code == 3  # only the events rejected for their content remain
    assert c2["usage.already_applied"] == 2
    assert c2["welcome.applied"] == 2
    assert m.lead(ids["ann"])["productScore"] == 18
    assert len(m.campaign_requests(ids["welcome"])) == 2


def test_lookup_by_user_id_field(world, invoke, tmp_path, monkeypatch):
    box, ids, rules = world
    m = box.marketo
    carol = m.add_lead(email="carol@example.com", segmentUserId="u-carol", productScore=1)
    monkeypatch.setenv("SEGMARKETO_USER_ID_FIELD", "segmentUserId")
    export = write_export(tmp_path, [track("c1", "Report Created", 1, {"plan": "pro"}, user="u-carol"),
                                     track("c2", "Report Created", 2, {"plan": "pro"}, user=None, anon="anon-x")])
    result = invoke("apply-events", str(export), "--rules", str(rules), "--lookup-field", "segmentUserId", "--json")
    c = counts(result)
    assert m.lead(carol)["productScore"] == 6  # found by userId without any identify in the export
    assert (c["usage.applied"], c["usage.rejected"]) == (1, 1)
    assert result.exit_code == 3
    bad = invoke("apply-events", str(export), "--rules", str(rules), "--lookup-field", "firstName")
    assert bad.exit_code == 2
    assert "lookup field 'firstName' is not searchable" in bad.stderr


def test_warehouse_tracks_csv_and_timestamp_order(world, invoke, tmp_path):
    box, ids, rules = world
    m = box.marketo
    csv_path = tmp_path / "tracks.csv"
    csv_path.write_text(
        "id,user_id,email,event,timestamp,plan,weight,mrr\n"
        "w1,u-bob,bob@example.com,Report Created,2026-11-20T10:00:00Z,pro,4,\n"
        "w2,u-bob,bob@example.com,Subscription Started,2026-11-20T12:00:00Z,pro,,199\n"
        "w3,u-bob,bob@example.com,Subscription Started,2026-11-20T11:00:00Z,pro,,49\n"  # older, listed later
    )
    result = invoke("apply-events", str(csv_path), "--rules", str(rules), "--json")
    assert result.exit_code == 0, result.output
    bob = m.lead(ids["bob"])
    assert bob["productScore"] == 4
    assert float(bob["mrr"]) == 199.0  # the latest event wins, whatever the file order
    assert counts(result)["stage.applied"] == 2
