"""Sandbox wire behaviour: identity, envelope, Sync Leads, Get Leads by Filter, describe, associate."""

from __future__ import annotations

import gzip
import json
import re

import pytest
import requests

from segmarketo_cli.sandbox import Sandbox, SandboxConfig

CID, SECRET = "cid", "secret"


@pytest.fixture
def box():
    with Sandbox(client_id=CID, client_secret=SECRET) as sandbox:
        yield sandbox


def token(box: Sandbox) -> str:
    reply = requests.get(f"{box.url}/identity/oauth/token",
                         params={"grant_type": "client_credentials", "client_id": CID, "client_secret": SECRET})
    return reply.json()["access_token"]


def call(box: Sandbox, method: str, path: str, tok: str | None = None, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    headers["Authorization"] = f"Bearer {tok or token(box)}"
    return requests.request(method, box.url + path, headers=headers, timeout=10, **kwargs)


def sync(box: Sandbox, records, **body) -> dict:
    return call(box, "POST", "/rest/v1/leads.json", json={"input": records, **body}).json()


def test_token_is_reused_with_decreasing_expiry_and_post_form_works(box):
    first = requests.get(f"{box.url}/identity/oauth/token",
                         params={"grant_type": "client_credentials", "client_id": CID, "client_secret": SECRET}).json()
    second = requests.post(f"{box.url}/identity/oauth/token",
                           data={"grant_type": "client_credentials", "client_id": CID, "client_secret": SECRET}).json()
    assert first["access_token"] == second["access_token"]
    assert first["token_type"] == "bearer"
    assert 0 < second["expires_in"] <= first["expires_in"] <= 3600
    assert box.identity.issued == 1


def test_bad_credentials_are_http_401(box):
    reply = requests.get(f"{box.url}/identity/oauth/token",
                         params={"grant_type": "client_credentials", "client_id": CID, "client_secret": "wrong"})
    assert reply.status_code == 401
    assert reply.json()["error"] == "unauthorized"


def test_token_ttl_expiry_and_hooks():
    with Sandbox(client_id=CID, client_secret=SECRET, config=SandboxConfig(token_ttl_s=1)) as sandbox:
        tok = token(sandbox)
        sandbox.identity.clock = lambda: 10**12  # far in the future: the token has expired
        reply = call(sandbox, "GET", "/rest/v1/leads/describe.json", tok).json()
        assert reply["errors"][0]["code"] == "602"
    with Sandbox(client_id=CID, client_secret=SECRET) as sandbox:
        tok = token(sandbox)
        sandbox.expire_token()
        assert call(sandbox, "GET", "/rest/v1/leads/describe.json", tok).json()["errors"][0]["code"] == "602"
        fresh = token(sandbox)
        assert fresh != tok
        assert call(sandbox, "GET", "/rest/v1/leads/describe.json", fresh).json()["success"] is True
        sandbox.revoke_token()
        assert call(sandbox, "GET", "/rest/v1/leads/describe.json", fresh).json()["errors"][0]["code"] == "601"
        assert sandbox.marketo.calls == 1  # 601/602 are not counted


def test_missing_bearer_and_query_token_give_601(box):
    tok = token(box)
    reply = requests.get(f"{box.url}/rest/v1/leads/describe.json", params={"access_token": tok}).json()
    assert reply["success"] is False
    assert reply["errors"] == [{"code": "601", "message": "Access token invalid"}]
    assert re.fullmatch(r"[0-9a-f]+#[0-9a-f]+", reply["requestId"])
    assert requests.get(f"{box.url}/rest/v1/leads/describe.json").json()["errors"][0]["code"] == "601"


def test_sync_leads_positional_results_and_type_checks(box):
    box.marketo.add_lead(email="dup@example.com")
    box.marketo.add_lead(email="dup@example.com")
    existing = box.marketo.add_lead(email="b@example.com", firstName="Bob")
    reply = sync(box, [
        {"email": "a@example.com", "firstName": "Ann", "leadScore": 10},
        {"email": "B@example.com", "leadScore": 40},
        {"email": "dup@example.com", "firstName": "D"},
        {"email": "bademail"},
        {"email": "c@example.com", "leadScore": 14.1},
        {"email": "d@example.com", "unsubscribed": "other"},
        {"email": "e@example.com", "mrr": "100%"},
        {"email": "f@example.com", "dateOfBirth": "yesterday"},
        {"email": "g@example.com", "noSuchField": 1},
        {"email": "h@example.com", "createdAt": "2020-01-01T00:00:00Z"},
        {"email": "i@example.com", "firstName": "x" * 256},
    ])
    results = reply["result"]
    assert reply["success"] is True
    assert len(results) == 11
    assert results[0]["status"] == "created"
    assert isinstance(results[0]["id"], int)
    assert results[1] == {"id": existing, "status": "updated"}
    assert results[2] == {"status": "skipped", "reasons": [{"code": "1007",
                                                             "message": "Multiple lead match lookup criteria"}]}
    codes = [r["reasons"][0]["code"] for r in results[3:]]
    assert codes == ["1003", "1003", "1003", "1003", "1003", "1006", "1003", "1003"]
    assert all("id" not in r for r in results[2:])
    assert box.marketo.lead(existing)["leadScore"] == 40
    assert box.marketo.find_leads("email", "a@example.com")[0]["firstName"] == "Ann"
    assert len(box.marketo.leads) == 4


def test_sync_actions_and_lookup_fields(box):
    lead_id = box.marketo.add_lead(email="x@example.com", segmentUserId="u1")
    assert sync(box, [{"email": "x@example.com"}], action="createOnly")["result"][0]["reasons"][0]["code"] == "1005"
    assert sync(box, [{"email": "y@example.com"}], action="updateOnly")["result"][0]["reasons"][0]["code"] == "1004"
    dup = sync(box, [{"email": "x@example.com"}], action="createDuplicate")["result"][0]
    assert dup["status"] == "created"
    assert dup["id"] != lead_id
    by_id = sync(box, [{"id": lead_id, "lastName": "Z"}], action="updateOnly", lookupField="id")["result"][0]
    assert by_id == {"id": lead_id, "status": "updated"}
    assert sync(box, [{"id": lead_id}], action="createOnly", lookupField="id")["result"][0]["reasons"][0]["code"] \
        == "1003"
    by_user = sync(box, [{"segmentUserId": "u1", "title": "CTO"}], lookupField="segmentUserId")["result"][0]
    assert by_user == {"id": lead_id, "status": "updated"}
    assert box.marketo.lead(lead_id)["title"] == "CTO"
    refused = sync(box, [{"firstName": "A"}], lookupField="firstName")
    assert refused["success"] is False
    assert refused["errors"][0]["code"] == "1011"
    too_many = sync(box, [{"email": f"n{i}@example.com"} for i in range(301)])
    assert too_many["success"] is False
    assert too_many["errors"][0]["code"] == "1003"


def test_created_and_updated_at_are_maintained(box):
    lead_id = sync(box, [{"email": "t@example.com"}])["result"][0]["id"]
    lead = box.marketo.lead(lead_id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lead["createdAt"])
    assert lead["updatedAt"]
    box.marketo.store.leads[lead_id]["updatedAt"] = "2000-01-01T00:00:00Z"
    sync(box, [{"email": "t@example.com", "city": "Paris"}])
    assert box.marketo.lead(lead_id)["updatedAt"] > "2000-01-01T00:00:00Z"
    assert box.marketo.lead(lead_id)["createdAt"] == lead["createdAt"]


def test_durable_unsubscribe_spreads_to_duplicates(box):
    first = box.marketo.add_lead(email="u@example.com")
    second = box.marketo.add_lead(email="u@example.com")
    sync(box, [{"id": first, "unsubscribed": True}], action="updateOnly", lookupField="id")
    assert box.marketo.lead(second)["unsubscribed"] is True


def test_get_leads_by_filter_returns_every_duplicate_with_fields_and_paging(box):
    a = box.marketo.add_lead(email="dup@example.com", firstName="A")
    b = box.marketo.add_lead(email="DUP@example.com", firstName="B")
    reply = call(box, "GET", "/rest/v1/leads.json",
                 params={"filterType": "email", "filterValues": "dup@example.com,none@example.com",
                         "fields": "id,email,firstName,unsubscribed"}).json()
    assert reply["success"] is True
    assert sorted(r["id"] for r in reply["result"]) == [a, b]
    assert all("unsubscribed" not in r for r in reply["result"])  # absent field omitted
    for i in range(5):
        box.marketo.add_lead(email=f"p{i}@example.com", segmentUserId="same")
    pages, tok = [], None
    while True:
        params = {"filterType": "segmentUserId", "filterValues": "same", "batchSize": 2}
        if tok:
            params["nextPageToken"] = tok
        page = call(box, "GET", "/rest/v1/leads.json", params=params).json()
        pages.append(page["result"])
        tok = page.get("nextPageToken")
        if not tok:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    empty = call(box, "GET", "/rest/v1/leads.json", params={"filterType": "email", "filterValues": "z@z.com"}).json()
    assert empty == {"requestId": empty["requestId"], "success": True, "result": []}


def test_filter_over_1000_matches_and_bad_filter_type(box):
    for _ in range(1001):
        box.marketo.add_lead(email="many@example.com")
    reply = call(box, "GET", "/rest/v1/leads.json", params={"filterType": "email", "filterValues": "many@example.com"})
    assert reply.json()["errors"][0] == {"code": "1003", "message": "Too many results match the filter"}
    bad = call(box, "GET", "/rest/v1/leads.json", params={"filterType": "firstName", "filterValues": "x"}).json()
    assert bad["errors"][0]["code"] == "1003"


def test_long_url_fallback_post_method_get_with_form_body(box):
    emails = [f"person-number-{i:04d}@long-domain-example.com" for i in range(300)]
    for email in emails[:3]:
        box.marketo.add_lead(email=email)
    query = "filterType=email&filterValues=" + ",".join(emails)
    assert call(box, "GET", "/rest/v1/leads.json?" + query).status_code == 414
    reply = call(box, "POST", "/rest/v1/leads.json?_method=GET", data=query,
                 headers={"Content-Type": "application/x-www-form-urlencoded"}).json()
    assert sorted(r["email"] for r in reply["result"]) == sorted(emails[:3])


def test_gzip_request_body_and_413(box):
    body = gzip.compress(json.dumps({"input": [{"email": "g@example.com"}]}).encode())
    reply = call(box, "POST", "/rest/v1/leads.json", data=body,
                 headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}).json()
    assert reply["result"][0]["status"] == "created"
    big = {"input": [{"email": f"x{i}@example.com", "address": "y" * 5000} for i in range(250)]}
    assert call(box, "POST", "/rest/v1/leads.json", json=big).status_code == 413


def test_lead_by_id_describe_and_describe2(box):
    lead_id = box.marketo.add_lead(email="d@example.com", firstName="Dee")
    got = call(box, "GET", f"/rest/v1/lead/{lead_id}.json", params={"fields": "email,firstName"}).json()
    assert got["result"] == [{"id": lead_id, "email": "d@example.com", "firstName": "Dee"}]
    assert call(box, "GET", "/rest/v1/lead/999999.json").json()["result"] == []
    described = {f["rest"]["name"]: f for f in call(box, "GET", "/rest/v1/leads/describe.json").json()["result"]}
    assert described["email"]["dataType"] == "email"
    assert described["email"]["length"] == 255
    assert described["updatedAt"]["rest"]["readOnly"] is True
    assert described["productScore"]["dataType"] == "integer"
    assert described["mrr"]["dataType"] == "currency"
    lead2 = call(box, "GET", "/rest/v1/leads/describe2.json").json()["result"][0]
    assert ["email"] in lead2["searchableFields"]
    assert ["segmentUserId"] in lead2["searchableFields"]
    assert {"name": "email", "updateable": True}.items() <= next(
        f for f in lead2["fields"] if f["name"] == "email").items()


def test_associate_lead_records_the_cookie(box):
    lead_id = box.marketo.add_lead(email="c@example.com")
    cookie = "id:287-GTJ-838&token:_mch-marketo.com-1396310362214-46169"
    reply = call(box, "POST", f"/rest/v1/leads/{lead_id}/associate.json", params={"cookie": cookie}).json()
    assert reply["success"] is True
    assert "result" not in reply
    assert box.marketo.associations == [(lead_id, cookie)]
    found = call(box, "GET", "/rest/v1/leads.json", params={"filterType": "cookies", "filterValues": cookie}).json()
    assert [r["id"] for r in found["result"]] == [lead_id]
    missing = call(box, "POST", "/rest/v1/leads/424242/associate.json", params={"cookie": "x"}).json()
    assert missing["errors"][0]["code"] == "1004"


def test_unknown_path_and_method(box):
    assert call(box, "GET", "/rest/v1/nothing.json").json()["errors"][0]["code"] == "610"
    assert call(box, "DELETE", "/rest/v1/leads/describe.json").json()["errors"][0]["code"] == "605"


def test_delete_leads_answers_per_id_in_input_order_and_takes_leads_out_of_lists(box):
    gone = box.marketo.add_lead(email="gone@example.com")
    kept = box.marketo.add_lead(email="kept@example.com")
    vip = box.marketo.add_list("VIP")
    box.marketo.add_to_list(vip, [gone, kept])
    reply = call(box, "POST", "/rest/v1/leads/delete.json", json={"input": [{"id": gone}, {"id": 999}]}).json()
    assert reply["success"] is True
    assert reply["result"] == [{"id": gone, "status": "deleted"},
                               {"id": 999, "status": "skipped", "reasons": [{"code": "1004",
                                                                             "message": "Lead not found"}]}]
    assert box.marketo.lead(gone) is None
    assert box.marketo.lead(kept) is not None
    assert box.marketo.list_members(vip) == {kept}
    too_many = call(box, "POST", "/rest/v1/leads/delete.json", json={"input": [{"id": i} for i in range(301)]}).json()
    assert too_many["success"] is False
    assert too_many["errors"][0]["code"] == "1003"
