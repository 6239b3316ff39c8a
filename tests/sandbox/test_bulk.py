"""Sandbox bulk APIs: lead import (queue, status, failures/warnings, listId), lead and activity extracts."""

from __future__ import annotations

import csv
import hashlib
import io
import time

from segmarketo_cli.sandbox import Sandbox, SandboxConfig
from tests.support.sandbox_api import make_api


def upload(api, text: str, **params) -> dict:
    return api("POST", "/bulk/v1/leads.json", params={"format": "csv", **params},
               files={"file": ("leads.csv", text.encode(), "text/csv")})


def poll(api, batch_id: int) -> list[str]:
    seen = []
    while not seen or seen[-1] not in ("Complete", "Failed"):
        seen.append(api("GET", f"/bulk/v1/leads/batch/{batch_id}.json")["result"][0]["status"])
    return seen


def test_import_progress_failures_warnings_and_list(box, api):
    list_id = box.marketo.add_list("Imported")
    existing = box.marketo.add_lead(email="a@example.com", firstName="Old")
    box.marketo.add_lead(email="dup@example.com")
    box.marketo.add_lead(email="dup@example.com")
    text = ('email,firstName,company,leadScore\r\n'
            'a@example.com,Able,"Baker, Inc.",10\r\n'
            'b@example.com,"Quote ""Q""",Acme,\r\n'
            'c@example.com,Cee,Acme,14.1\r\n'
            'dup@example.com,Dup,Acme,1\r\n'
            'd@example.com,' + "x" * 300 + ',Acme,2\r\n')
    created = upload(api, text, lookupField="email", listId=list_id)["result"][0]
    assert created["status"] == "Queued"
    assert created["importId"] == str(created["batchId"])
    assert poll(api, created["batchId"]) == ["Importing", "Complete"]
    status = api("GET", f"/bulk/v1/leads/batch/{created['batchId']}.json")["result"][0]
    assert (status["numOfLeadsProcessed"], status["numOfRowsFailed"], status["numOfRowsWithWarning"]) == (3, 2, 1)
    assert box.marketo.lead(existing)["firstName"] == "Able"
    assert box.marketo.lead(existing)["company"] == "Baker, Inc."
    assert box.marketo.find_leads("email", "b@example.com")[0]["firstName"] == 'Quote "Q"'
    members = box.marketo.list_members(list_id)
    assert existing in members
    assert len(members) == 3
    failures = list(csv.reader(io.StringIO(api("GET", f"/bulk/v1/leads/batch/{created['batchId']}/failures.json",
                                               raw=True).text)))
    assert failures[0] == ["email", "firstName", "company", "leadScore", "Import Failure Reason"]
    assert [row[0] for row in failures[1:]] == ["c@example.com", "dup@example.com"]
    assert "leadScore" in failures[1][-1]
    assert failures[2][-1] == "Multiple lead match lookup criteria"
    warnings = api("GET", f"/bulk/v1/leads/batch/{created['batchId']}/warnings.json", raw=True).text
    assert "d@example.com" in warnings
    assert "truncated" in warnings


def report_header(api, batch_id: int, kind: str = "failures") -> list[str]:
    text = api("GET", f"/bulk/v1/leads/batch/{batch_id}/{kind}.json", raw=True).text
    return next(csv.reader(io.StringIO(text)))


def test_failure_files_have_the_real_header_shape_and_the_other_shapes_on_request(box, api):
    # The real file (blog.teknkl.com): the lookup column that was empty in the failed row is not in the file.
    text = "firstName,phone,email\r\nJoe,212-555-1212,joe@example.com\r\nBenji,212-555-2323,\r\n"
    batch = upload(api, text, lookupField="email")["result"][0]["batchId"]
    poll(api, batch)
    failures = api("GET", f"/bulk/v1/leads/batch/{batch}/failures.json", raw=True).text
    assert list(csv.reader(io.StringIO(failures))) == [
        ["firstName", "phone", "Import Failure Reason"],
        ["Benji", "212-555-2323", "Value for lookup field 'email' not found"]]
    box.config.bulk_report_header = "echo"
    assert report_header(api, batch) == ["firstName", "phone", "email", "Import Failure Reason"]
    box.config.bulk_report_header = "keyless"
    batch = upload(api, "email,firstName,leadScore\r\nk@example.com,Kay,x\r\n")["result"][0]["batchId"]
    poll(api, batch)
    assert report_header(api, batch) == ["firstName", "leadScore", "Import Failure Reason"]


def test_warnings_files_list_the_rows_imported_with_warnings(box, api):
    text = "email,firstName,title\r\nw@example.com," + "x" * 300 + ",\r\nok@example.com,Ok,CEO\r\n"
    batch = upload(api, text)["result"][0]["batchId"]
    poll(api, batch)
    status = api("GET", f"/bulk/v1/leads/batch/{batch}.json")["result"][0]
    assert status["numOfRowsWithWarning"] == 1
    warnings = list(csv.reader(io.StringIO(api("GET", f"/bulk/v1/leads/batch/{batch}/warnings.json",
                                                raw=True).text)))
    assert warnings[0] == ["email", "firstName", "Import Warning Reason"]  # title was empty: left out
    assert warnings[1][0] == "w@example.com"
    assert "truncated" in warnings[1][-1]


def test_an_import_file_of_10_mb_or_more_gets_413(box, api):
    row = "a" * 90 + "@example.com\r\n"
    big = "email\r\n" + row * (10_000_000 // len(row) + 1)
    reply = api("POST", "/bulk/v1/leads.json", raw=True, params={"format": "csv"},
                files={"file": ("leads.csv", big.encode(), "text/csv")})
    assert reply.status_code == 413
    assert not box.bulk.imports


def test_import_queue_limit_gives_1016(box, api):
    batches = [upload(api, "email\nq@example.com\n")["result"][0]["batchId"] for _ in range(10)]
    refused = upload(api, "email\nq@example.com\n")
    assert refused["success"] is False
    assert refused["errors"][0]["code"] == "1016"
    assert api("GET", f"/bulk/v1/leads/batch/{batches[0]}.json")["result"][0]["status"] == "Importing"
    statuses = [box.bulk.imports[b].status for b in batches]
    assert statuses == ["Importing"] * 2 + ["Queued"] * 8  # two run at once, FIFO


def test_import_bad_header_fails_the_job_and_lookup_by_id(box, api):
    batch = upload(api, "email,bogus\nx@example.com,1\n")["result"][0]["batchId"]
    assert poll(api, batch)[-1] == "Failed"
    lead = box.marketo.add_lead(email="i@example.com")
    batch = upload(api, f"id,title\n{lead},CEO\n999999,CTO\n", lookupField="id")["result"][0]["batchId"]
    poll(api, batch)
    assert box.marketo.lead(lead)["title"] == "CEO"
    assert len(box.marketo.leads) == 1


def test_time_driven_import_steps():
    with Sandbox(config=SandboxConfig(bulk_step_s=0.2)) as box:
        api = make_api(box)
        batch = upload(api, "email\nt@example.com\n")["result"][0]["batchId"]
        assert api("GET", f"/bulk/v1/leads/batch/{batch}.json")["result"][0]["status"] == "Queued"
        time.sleep(0.45)
        assert api("GET", f"/bulk/v1/leads/batch/{batch}.json")["result"][0]["status"] == "Complete"


def test_lead_extract_by_static_list(box, api):
    list_id = box.marketo.add_list("Members")
    ids = [box.marketo.add_lead(email=f"e{i}@example.com", unsubscribed=i == 0) for i in range(3)]
    box.marketo.add_to_list(list_id, ids[:2])
    job = api("POST", "/bulk/v1/leads/export/create.json",
              json={"fields": ["id", "email", "unsubscribed", "firstName"], "format": "CSV",
                    "filter": {"staticListId": list_id}})["result"][0]
    assert job["status"] == "Created"
    base = f"/bulk/v1/leads/export/{job['exportId']}"
    assert api("GET", base + "/file.json", raw=True).status_code == 404
    assert api("POST", base + "/enqueue.json")["result"][0]["status"] == "Queued"
    assert api("POST", base + "/enqueue.json")["errors"][0]["code"] == "1029"
    statuses = [api("GET", base + "/status.json")["result"][0] for _ in range(2)]
    assert [s["status"] for s in statuses] == ["Processing", "Completed"]
    data = api("GET", base + "/file.json", raw=True).content
    assert data.decode().splitlines() == ["id,email,unsubscribed,firstName", f"{ids[0]},e0@example.com,true,null",
                                          f"{ids[1]},e1@example.com,false,null"]
    assert statuses[1]["numberOfRecords"] == 2
    assert statuses[1]["fileSize"] == len(data)
    assert statuses[1]["fileChecksum"] == "sha256:" + hashlib.sha256(data).hexdigest()
    probe = api("GET", base + "/file.json", raw=True, headers={"Range": "bytes=0-0"})
    assert probe.status_code == 206
    assert probe.content == b"i"


def test_extract_validation_quota_and_cancel():
    with Sandbox(config=SandboxConfig(export_daily_bytes=5)) as box:
        api = make_api(box)
        wide = {"createdAt": {"startAt": "2026-01-01T00:00:00Z", "endAt": "2026-03-01T00:00:00Z"}}
        assert api("POST", "/bulk/v1/leads/export/create.json",
                   json={"fields": ["id"], "filter": wide})["errors"][0]["code"] == "1003"
        assert api("POST", "/bulk/v1/leads/export/create.json",
                   json={"fields": ["id"], "filter": {"smartListId": 1}})["errors"][0]["code"] == "1035"
        box.marketo.add_lead(email="q@example.com")
        ok_window = {"createdAt": {"startAt": "2000-01-01T00:00:00Z", "endAt": "2000-01-31T00:00:00Z"}}
        first = api("POST", "/bulk/v1/leads/export/create.json", json={"fields": ["id", "email"],
                                                                       "filter": ok_window})["result"][0]
        base = f"/bulk/v1/leads/export/{first['exportId']}"
        api("POST", base + "/enqueue.json")
        api("GET", base + "/status.json")
        api("GET", base + "/status.json")
        second = api("POST", "/bulk/v1/leads/export/create.json", json={"fields": ["id"],
                                                                        "filter": ok_window})["result"][0]
        refused = api("POST", f"/bulk/v1/leads/export/{second['exportId']}/enqueue.json")
        assert refused["errors"][0]["code"] == "1029"
        assert "quota" in refused["errors"][0]["message"]
        cancelled = api("POST", f"/bulk/v1/leads/export/{second['exportId']}/cancel.json")["result"][0]
        assert cancelled["status"] == "Cancelled"


def test_activity_extract_columns_and_window(box, api):
    lead = box.marketo.add_lead(email="a@example.com")
    box.marketo.add_activity(lead, "Change Status in Progression", "2026-02-13T14:08:50Z",
                             primary_attribute_value_id=3569, primary_attribute_value="SuccessWebCPS",
                             campaign_id=17240,
                             attributes={"Old Status": "Not in Program", "New Status": "Attended", "Success": True})
    box.marketo.add_activity(lead, "Visit Webpage", "2026-02-14T00:00:00Z")
    window = {"startAt": "2026-02-01T00:00:00Z", "endAt": "2026-02-28T00:00:00Z"}
    job = api("POST", "/bulk/v1/activities/export/create.json",
              json={"format": "CSV", "filter": {"createdAt": window, "activityTypeIds": [104]}})["result"][0]
    base = f"/bulk/v1/activities/export/{job['exportId']}"
    api("POST", base + "/enqueue.json")
    api("GET", base + "/status.json")
    api("GET", base + "/status.json")
    rows = list(csv.reader(io.StringIO(api("GET", base + "/file.json", raw=True).text)))
    assert rows[0] == ["marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
                       "primaryAttributeValueId", "primaryAttributeValue", "attributes"]
    assert rows[1][1:7] == [str(lead), "2026-02-13T14:08:50Z", "104", "17240", "3569", "SuccessWebCPS"]
    assert rows[1][7] == '{"Old Status": "Not in Program", "New Status": "Attended", "Success": true}'
    assert len(rows) == 2
    too_wide = {"startAt": "2026-01-01T00:00:00Z", "endAt": "2026-02-05T00:00:00Z"}
    assert api("POST", "/bulk/v1/activities/export/create.json",
               json={"filter": {"createdAt": too_wide}})["errors"][0]["code"] == "1003"


def test_import_file_over_10_mb_is_413(box, api):
    big = "email,address\n" + "".join(f"b{i}@example.com,{'y' * 1000}\n" for i in range(10_500))
    reply = api("POST", "/bulk/v1/leads.json", raw=True, params={"format": "csv"},
                files={"file": ("leads.csv", big.encode(), "text/csv")})
    assert reply.status_code == 413
    assert box.bulk.imports == {}
