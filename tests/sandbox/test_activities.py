"""Sandbox activities: types.json, paging tokens, and the scan-300-of-every-type paging of activities.json."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def drain(api, token: str, type_ids: str) -> tuple[list[dict], list[dict], str]:
    rows, pages = [], []
    while True:
        page = api("GET", "/rest/v1/activities.json", params={"nextPageToken": token, "activityTypeIds": type_ids})
        pages.append(page)
        rows.extend(page.get("result", []))
        token = page["nextPageToken"]
        if not page["moreResult"]:
            return rows, pages, token


def test_types_table(api):
    types = {t["name"]: t for t in api("GET", "/rest/v1/activities/types.json")["result"]}
    assert types["Email Delivered"]["id"] == 7
    assert types["Change Status in Progression"]["id"] == 104
    assert {"name": "Link", "dataType": "string"} in types["Click Email"]["attributes"]
    assert types["Open Email"]["primaryAttribute"] == {"name": "Mailing ID", "dataType": "integer"}
    assert {"Category", "Details", "Email"} <= {a["name"] for a in types["Email Bounced"]["attributes"]}


def test_scan_window_pages_empty_pages_and_cursor(box, api):
    lead = box.marketo.add_lead(email="a@example.com")
    for i in range(700):  # 700 "Visit Webpage" noise, with 3 deliveries spread in it
        box.marketo.add_activity(lead, "Visit Webpage", at(i))
    guids = [box.marketo.add_activity(lead, "Email Delivered", at(m), primary_attribute_value_id=1042,
                                      primary_attribute_value="Welcome", campaign_id=3001,
                                      attributes={"Campaign Run ID": 5}) for m in (10, 350, 690)]
    since = api("GET", "/rest/v1/activities/pagingtoken.json", params={"sinceDatetime": at(0)})
    assert since["success"] is True
    assert since["nextPageToken"]
    rows, pages, cursor = drain(api, since["nextPageToken"], "7")
    assert [r["marketoGUID"] for r in rows] == guids
    assert all(isinstance(r["marketoGUID"], str) for r in rows)
    assert rows[0] == {"id": int(guids[0]), "marketoGUID": guids[0], "leadId": lead, "activityDate": at(10),
                       "activityTypeId": 7, "campaignId": 3001, "primaryAttributeValueId": 1042,
                       "primaryAttributeValue": "Welcome", "attributes": [{"name": "Campaign Run ID", "value": 5}]}
    assert len(pages) == 3  # 703 activities scanned 300 at a time, whatever the filter matches
    box.marketo.add_activity(lead, "Email Delivered", at(800))
    box.marketo.add_activity(lead, "Visit Webpage", at(801))
    more, _, _ = drain(api, cursor, "7")
    assert len(more) == 1
    assert more[0]["activityDate"] == at(800)
    empty = api("GET", "/rest/v1/activities.json", params={"nextPageToken": since["nextPageToken"],
                                                           "activityTypeIds": "9"})
    assert empty["moreResult"] is True
    assert "result" not in empty
    assert empty["nextPageToken"]


def test_since_filters_and_limits(box, api):
    a = box.marketo.add_lead(email="a@example.com")
    b = box.marketo.add_lead(email="b@example.com")
    box.marketo.add_activity(a, "Open Email", at(1))
    box.marketo.add_activity(b, "Open Email", at(2))
    box.marketo.add_activity(b, "Click Email", at(3), attributes={"Link": "https://x.example"})
    token = api("GET", "/rest/v1/activities/pagingtoken.json", params={"sinceDatetime": "2026-01-01T00:02:00Z"})
    page = api("GET", "/rest/v1/activities.json", params={"nextPageToken": token["nextPageToken"],
                                                          "activityTypeIds": "10,11", "leadIds": str(b)})
    assert [r["activityTypeId"] for r in page["result"]] == [10, 11]
    assert page["moreResult"] is False
    too_many = api("GET", "/rest/v1/activities.json", params={"nextPageToken": token["nextPageToken"],
                                                              "activityTypeIds": ",".join(map(str, range(1, 12)))})
    assert too_many["errors"][0]["code"] == "1003"
    assert api("GET", "/rest/v1/activities/pagingtoken.json", params={"sinceDatetime": "nope"})["errors"][0][
        "code"] == "704"
    assert api("GET", "/rest/v1/activities.json", params={"nextPageToken": "garbage!",
                                                          "activityTypeIds": "7"})["errors"][0]["code"] == "1003"
