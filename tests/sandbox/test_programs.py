"""Sandbox wire behaviour: programs, channels, program member status, campaigns and Request Campaign."""

from __future__ import annotations


def test_program_lookup_browse_and_channels(box, api):
    program_id = box.marketo.add_program("Spring Webinar", channel="Webinar")
    found = api("GET", "/rest/asset/v1/program/byName.json", params={"name": "Spring Webinar"})["result"][0]
    assert found["id"] == program_id
    assert found["channel"] == "Webinar"
    assert found["type"] == "Event"
    miss = api("GET", "/rest/asset/v1/program/byName.json", params={"name": "Nope"})
    assert "result" not in miss
    assert miss["warnings"]
    assert [p["id"] for p in api("GET", "/rest/asset/v1/programs.json", params={"maxReturn": 200})["result"]] \
        == [program_id]
    channel = api("GET", "/rest/asset/v1/channel/byName.json", params={"name": "Webinar"})["result"][0]
    assert [s["name"] for s in channel["progressionStatuses"]][:4] == ["Not in Program", "Invited", "Registered",
                                                                         "Attended"]
    assert {c["name"] for c in api("GET", "/rest/asset/v1/channels.json")["result"]} >= {"Webinar", "Nurture"}


def test_member_status_upsert_1037_1025_and_activity(box, api):
    program_id = box.marketo.add_program("Webinar A", channel="Webinar")
    a = box.marketo.add_lead(email="a@example.com")
    b = box.marketo.add_lead(email="b@example.com")
    path = f"/rest/v1/programs/{program_id}/members/status.json"
    first = api("POST", path, json={"statusName": "Registered", "input": [{"leadId": a}]})
    assert first["result"] == [{"seq": 0, "status": "created", "leadId": a}]
    second = api("POST", path, json={"statusName": "registered", "input": [{"leadId": a}, {"leadId": b},
                                                                            {"leadId": 999999}]})
    assert second["result"][0]["reasons"][0]["code"] == "1037"
    assert second["result"][1] == {"seq": 1, "status": "created", "leadId": b}
    assert second["result"][2]["reasons"][0]["code"] == "1004"
    third = api("POST", path, json={"statusName": "Attended", "input": [{"leadId": a}]})
    assert third["result"] == [{"seq": 0, "status": "updated", "leadId": a}]
    assert box.marketo.program_members(program_id) == {a: "Attended", b: "Registered"}
    unknown = api("POST", path, json={"statusName": "Bogus", "input": [{"leadId": a}]})
    assert unknown["success"] is False
    assert unknown["errors"][0]["code"] == "1025"
    assert api("POST", "/rest/v1/programs/1/members/status.json",
               json={"statusName": "Invited", "input": [{"leadId": a}]})["errors"][0]["code"] == "1013"
    changes = [r for r in box.marketo.activities.rows.values() if r["activityTypeId"] == 104]
    attrs = {x["name"]: x["value"] for x in changes[-1]["attributes"]}
    assert len(changes) == 3
    assert attrs["Old Status"] == "Registered"
    assert attrs["New Status"] == "Attended"
    assert attrs["Success"] is True
    assert changes[-1]["primaryAttributeValueId"] == program_id
    members = api("GET", f"/rest/v1/programs/{program_id}/members.json",
                  params={"filterType": "leadId", "filterValues": str(a)})["result"]
    assert members[0]["statusName"] == "Attended"
    assert members[0]["reachedSuccess"] is True


def test_custom_statuses_define_a_channel(box, api):
    program_id = box.marketo.add_program("Trial Nurture", statuses=["Not in Program", "Member", "Converted"])
    lead = box.marketo.add_lead(email="n@example.com")
    reply = api("POST", f"/rest/v1/programs/{program_id}/members/status.json",
                json={"statusName": "Converted", "input": [{"leadId": lead}]})
    assert reply["result"][0]["status"] == "created"


def test_campaigns_and_request_campaign(box, api):
    trigger = box.marketo.add_campaign("Send Welcome", type="trigger")
    batch = box.marketo.add_campaign("Weekly Digest", type="batch")
    inactive = box.marketo.add_campaign("Old", active=False)
    rows = api("GET", "/rest/v1/campaigns.json")["result"]
    assert {(r["name"], r["type"], r["active"]) for r in rows} == {
        ("Send Welcome", "trigger", True), ("Weekly Digest", "batch", True), ("Old", "trigger", False)}
    assert [r["id"] for r in api("GET", "/rest/v1/campaigns.json", params={"name": "Old"})["result"]] == [inactive]
    lead = box.marketo.add_lead(email="c@example.com")
    body = {"input": {"leads": [{"id": lead}], "tokens": [{"name": "{{my.message}}", "value": "Hi"}]}}
    assert api("POST", f"/rest/v1/campaigns/{trigger}/trigger.json", json=body)["result"] == [{"id": trigger}]
    assert box.marketo.campaign_requests(trigger)[0]["leadIds"] == [lead]
    assert box.marketo.campaign_requests(trigger)[0]["tokens"] == [{"name": "{{my.message}}", "value": "Hi"}]
    assert api("POST", f"/rest/v1/campaigns/{batch}/trigger.json", json=body)["errors"][0]["code"] == "1003"
    assert api("POST", f"/rest/v1/campaigns/{inactive}/trigger.json", json=body)["errors"][0]["code"] == "1003"
    many = {"input": {"leads": [{"id": lead}] * 101}}
    assert api("POST", f"/rest/v1/campaigns/{trigger}/trigger.json", json=many)["errors"][0]["code"] == "1003"
    assert api("POST", "/rest/v1/campaigns/1/trigger.json", json=body)["errors"][0]["code"] == "1013"
    assert len(box.marketo.campaign_requests(trigger)) == 1
