"""Sandbox lead partitions: the partitions endpoint, partitionName on Sync Leads and Bulk Import, 1008/1009/1010."""

from __future__ import annotations

import csv
import io

from segmarketo_cli.sandbox import Sandbox


def sync(api, records: list[dict], **body) -> list[dict]:
    reply = api("POST", "/rest/v1/leads.json", json={"input": records, **body})
    assert reply["success"] is True, reply
    return reply["result"]


def codes(rows: list[dict]) -> list[str | None]:
    return [row["reasons"][0]["code"] if row["status"] == "skipped" else row["status"] for row in rows]


def test_partitions_endpoint_lists_the_instance_partitions(box, api):
    emea = box.marketo.add_partition("EMEA", "Europe")
    reply = api("GET", "/rest/v1/leads/partitions.json")
    assert reply["result"] == [{"id": 1, "name": "Default", "description": "Initial system lead partition"},
                               {"id": emea, "name": "EMEA", "description": "Europe"}]


def test_sync_leads_creates_in_the_named_partition_and_refuses_the_rest(box, api):
    box.marketo.add_partition("EMEA")
    box.marketo.add_partition("Restricted")
    home = box.marketo.add_lead(email="home@example.com")
    away = box.marketo.add_lead(email="away@example.com", partition="Restricted")
    box.marketo.restrict_partitions(["Default", "EMEA"])
    rows = sync(api, [{"email": "new@example.com"}, {"email": "home@example.com"}, {"email": "away@example.com"}],
                partitionName="EMEA")
    assert codes(rows) == ["created", "1010", "1008"]
    assert rows[1]["reasons"][0]["message"] == "Partition update not allowed"
    assert rows[2]["reasons"][0]["message"] == "Access denied to partition 'Restricted'"
    assert box.marketo.lead_partition(rows[0]["id"]) == "EMEA"
    unknown = sync(api, [{"email": "other@example.com"}], partitionName="APAC", action="createOnly")
    assert unknown[0]["reasons"][0] == {"code": "1008", "message": "Access denied to partition 'APAC'"}
    assert box.marketo.find_leads("email", "other@example.com") == []
    default = sync(api, [{"email": "home@example.com", "firstName": "H"}, {"email": "plain@example.com"}])
    assert codes(default) == ["updated", "created"]
    assert box.marketo.lead_partition(default[1]["id"]) == "Default"
    # updateOnly ignores partitionName (Adobe: it works only with createOnly / createOrUpdate).
    update_only = sync(api, [{"email": "home@example.com", "firstName": "U"}], action="updateOnly",
                       partitionName="EMEA")
    assert codes(update_only) == ["updated"]
    assert box.marketo.lead(home)["firstName"] == "U"
    assert box.marketo.lead(away).get("firstName") is None


def test_a_create_without_partition_name_needs_the_default_partition(box, api):
    box.marketo.add_partition("EMEA")
    box.marketo.restrict_partitions(["EMEA"])
    rows = sync(api, [{"email": "new@example.com"}])
    assert rows[0]["reasons"][0] == {"code": "1009", "message": "Partition name must be specified"}
    assert codes(sync(api, [{"email": "new@example.com"}], partitionName="EMEA")) == ["created"]


def test_bulk_import_uses_partition_name(box, api):
    box.marketo.add_partition("EMEA")
    box.marketo.add_lead(email="home@example.com")
    text = "email,firstName\r\nnew@example.com,N\r\nhome@example.com,H\r\n"
    job = api("POST", "/bulk/v1/leads.json", params={"format": "csv", "partitionName": "EMEA"},
              files={"file": ("leads.csv", text.encode(), "text/csv")})["result"][0]
    status = {}
    while status.get("status") not in ("Complete", "Failed"):
        status = api("GET", f"/bulk/v1/leads/batch/{job['batchId']}.json")["result"][0]
    assert status["numOfRowsFailed"] == 1
    [new] = box.marketo.find_leads("email", "new@example.com")
    assert box.marketo.lead_partition(new["id"]) == "EMEA"
    failures = api("GET", f"/bulk/v1/leads/batch/{job['batchId']}/failures.json", raw=True).text
    [row] = list(csv.DictReader(io.StringIO(failures)))
    assert "Partition update not allowed" in row.values()


def test_partitions_survive_a_restart(tmp_path):
    data = tmp_path / "data"
    with Sandbox(data_dir=data) as box:
        lead = box.marketo.add_lead(email="eu@example.com", partition="EMEA")
        box.marketo.restrict_partitions(["EMEA"])
    again = Sandbox(data_dir=data)
    assert again.marketo.lead_partition(lead) == "EMEA"
    assert again.marketo.partitions.reachable == {"EMEA"}
