"""MarketoClient endpoint methods against the sandbox: lists, programs, campaigns, activities, bulk, usage."""

from __future__ import annotations

import csv
import io

import pytest

from segmarketo_cli.errors import ConfigError, MarketoError
from segmarketo_cli.marketo import ActivityPager, Limiter, MarketoClient
from segmarketo_cli.marketo.codes import record_bucket
from segmarketo_cli.marketo.exceptions import BulkFileNotReady, MarketoPayloadTooLarge
from segmarketo_cli.marketo.lists import ListParent, list_parents
from segmarketo_cli.sandbox import Sandbox, SandboxConfig


def client_for(box: Sandbox) -> MarketoClient:
    limiter = Limiter(calls=100, window_s=1.0, max_concurrency=5)
    return MarketoClient(box.url, box.client_id, box.client_secret, limiter=limiter, sleep=lambda _s: None)


def test_list_lookup_create_and_membership(sandbox):
    m = sandbox.marketo
    folder = m.add_folder("Audiences")
    a, b = m.add_lead(email="a@example.com"), m.add_lead(email="b@example.com")
    client = client_for(sandbox)
    assert client.find_list_by_name("Trial users") is None
    assert client.get_list(424242) is None
    assert [f["id"] for f in client.find_folders_by_name("Audiences")] == [folder]
    created = client.create_list("Trial users", folder, description="from segmarketo")
    with pytest.raises(MarketoError) as info:
        client.create_list("Trial users", folder)
    assert info.value.code == "709"
    assert client.find_list_by_name("Trial users")["id"] == created["id"]
    assert client.get_list(created["id"])["name"] == "Trial users"

    added = client.add_to_list(created["id"], [a, b, 999999])
    assert [(r["id"], record_bucket(r)) for r in added] == [(a, "added"), (b, "added"), (999999, "not_found")]
    assert m.list_members(created["id"]) == {a, b}
    membership = client.list_ismember(created["id"], [a, 999999])
    assert [r["status"] for r in membership] == ["memberof", "skipped"]
    removed = client.remove_from_list(created["id"], [a])
    assert [r["status"] for r in removed] == ["removed"]
    assert m.list_members(created["id"]) == {b}
    assert [row["id"] for row in client.iter_list_members(created["id"])] == [b]
    assert client.add_to_list(created["id"], []) == []


def test_list_parents_from_folder_by_name(sandbox):
    m = sandbox.marketo
    folder = m.add_folder("Spring", folder_id=40)
    m.add_folder("Spring", folder_type="Landing Page")
    program = m.add_program("Spring", program_id=40)
    client = client_for(sandbox)
    usable, other = list_parents(client.find_folders_by_name("Spring"), "Spring")
    assert sorted((p.type, p.id) for p in usable) == [("Folder", folder), ("Program", program)]
    assert [row["folderType"] for row in other] == ["Landing Page"]
    created = client.create_list("Spring list", program, folder_type="PROGRAM")
    assert created["folder"] == {"id": program, "type": "Program"}
    assert m.list_parent(created["id"]) == ("Program", program)
    with pytest.raises(ValueError):
        client.create_list("Bad", folder, folder_type="Email")


def test_list_parent_from_a_folder_row():
    row = {"name": "A", "folderId": {"id": 454, "type": "FOLDER"}, "folderType": "Marketing Folder", "path": "/M/A"}
    assert ListParent.from_folder(row) == ListParent(454, "Folder", "/M/A")
    assert ListParent.from_folder({**row, "folderType": "Zone"}) is None
    assert ListParent.from_folder({**row, "folderType": "Email"}) is None
    assert ListParent.from_folder({**row, "folderId": {"id": 454, "type": "Tag"}}) is None


def test_program_status_and_campaign_request(sandbox):
    m = sandbox.marketo
    program = m.add_program("Spring Webinar")
    campaign = m.add_campaign("Send welcome", type="trigger")
    batch_campaign = m.add_campaign("Monthly newsletter", type="batch")
    lead = m.add_lead(email="p@example.com")
    client = client_for(sandbox)

    found = client.find_program_by_name("Spring Webinar")
    assert found["id"] == program
    assert client.get_program(program)["name"] == "Spring Webinar"
    assert client.find_program_by_name("No such program") is None
    channel = client.get_channel(found["channel"])
    statuses = [s["name"] for s in channel["progressionStatuses"]]
    assert "Attended" in statuses

    rows = client.sync_program_member_status(program, "Attended", [lead])
    assert [r["status"] for r in rows] == ["created"]
    assert m.program_members(program) == {lead: "Attended"}
    again = client.sync_program_member_status(program, "Registered", [lead])
    assert record_bucket(again[0]) == "unchanged"  # 1037: already past that status

    assert {c["name"] for c in client.get_campaigns()} >= {"Send welcome", "Monthly newsletter"}
    assert [c["id"] for c in client.get_campaigns(name="Send welcome")] == [campaign]
    client.request_campaign(campaign, [lead], tokens={"{{my.greeting}}": "Hello"})
    [request] = m.campaign_requests(campaign)
    assert request["leadIds"] == [lead]
    assert request["tokens"] == [{"name": "{{my.greeting}}", "value": "Hello"}]
    with pytest.raises(MarketoError) as info:
        client.request_campaign(batch_campaign, [lead])
    assert info.value.code == "1003"
    assert "batch campaign" in str(info.value)
    assert m.campaign_requests(batch_campaign) == []


def test_associate_lead_records_the_cookie(sandbox):
    lead = sandbox.marketo.add_lead(email="c@example.com")
    cookie = "id:287-GTJ-838&token:_mch-marketo.com-1396310362214-46169"
    client_for(sandbox).associate_lead(lead, cookie)
    assert sandbox.marketo.associations == [(lead, cookie)]


def test_activity_pages_with_empty_scans_reach_every_activity():
    config = SandboxConfig(activity_scan_window=5)
    with Sandbox(config=config) as box:
        m = box.marketo
        lead = m.add_lead(email="act@example.com")
        for i in range(12):
            m.add_activity(lead, "Visit Webpage", f"2026-01-01T00:{i:02d}:00Z")
        opens = [m.add_activity(lead, "Open Email", f"2026-01-01T01:{i:02d}:00Z") for i in range(3)]
        client = client_for(box)
        types = {t["name"]: t["id"] for t in client.get_activity_types()}
        token = client.get_paging_token("2025-12-31T00:00:00Z")
        pager = ActivityPager(client, token, [types["Open Email"]])
        pages = list(pager)
        got = [a["marketoGUID"] for page in pages for a in page.activities]
        assert got == opens
        assert any(not page.activities and page.more_result for page in pages)  # scans with no match
        assert not pager.capped
        assert not pages[-1].more_result

        capped = ActivityPager(client, token, [types["Open Email"]], max_empty_pages=1)
        assert [p.activities for p in capped] == [[]]
        assert capped.capped
        assert capped.token != token  # resume point moved past the scanned page


def test_bulk_import_status_and_failures(sandbox):
    list_id = sandbox.marketo.add_list("Imported")
    client = client_for(sandbox)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([["email", "company"], ["i1@example.com", "Baker, Inc."], ["", "No Email Ltd"]])
    job = client.bulk_import_leads(buffer.getvalue().encode(), list_id=list_id)
    status = job
    for _ in range(10):
        status = client.bulk_import_status(job["batchId"])
        if status["status"] in ("Complete", "Failed"):
            break
    assert status["status"] == "Complete"
    assert status["numOfRowsFailed"] == 1
    failures = list(csv.reader(io.StringIO(client.bulk_import_failures(job["batchId"]))))
    # The real shape: the lookup column, empty in the failed row, is not in the file.
    assert failures == [["company", "Import Failure Reason"],
                        ["No Email Ltd", "Value for lookup field 'email' not found"]]
    assert client.bulk_import_warnings(job["batchId"]).strip().count("\n") == 0
    lead = sandbox.marketo.find_leads("email", "i1@example.com")[0]
    assert lead["company"] == "Baker, Inc."
    assert sandbox.marketo.list_members(list_id) == {lead["id"]}
    calls = client.calls
    with pytest.raises(MarketoPayloadTooLarge):
        client.bulk_import_leads(b"x" * 9_500_001)
    assert client.calls == calls  # refused before sending


def test_bulk_extract_create_enqueue_status_file_cancel(sandbox):
    list_id = sandbox.marketo.add_list("Export me")
    ids = [sandbox.marketo.add_lead(email=f"e{i}@example.com") for i in range(3)]
    sandbox.marketo.add_to_list(list_id, ids)
    client = client_for(sandbox)
    export_id = client.bulk_extract_create("leads", fields=["id", "email"], filter={"staticListId": list_id})
    with pytest.raises(BulkFileNotReady):
        client.bulk_extract_file("leads", export_id)
    client.bulk_extract_enqueue("leads", export_id)
    status = {}
    for _ in range(10):
        status = client.bulk_extract_status("leads", export_id)
        if status["status"] == "Completed":
            break
    assert status["status"] == "Completed"
    assert status["numberOfRecords"] == 3
    body = client.bulk_extract_file("leads", export_id).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert sorted(int(r["id"]) for r in rows) == ids
    assert client.bulk_extract_file("leads", export_id, byte_range=(0, 1)) == body[:2].encode()

    other = client.bulk_extract_create("leads", fields=["id"], filter={"staticListId": list_id})
    assert client.bulk_extract_cancel("leads", other)["status"] in ("Cancelled", "Canceled")
    with pytest.raises(ValueError):
        client.bulk_extract_create("opportunities", filter={})


def test_usage_today_counts_our_calls(sandbox):
    client = client_for(sandbox)
    client.describe_leads2()
    usage = client.usage_today()
    assert usage["total"] >= 1
    assert usage["date"]
    assert client.calls == 2


def test_client_partition_is_checked_once_and_sent_only_on_creates(sandbox, monkeypatch):
    m = sandbox.marketo
    m.add_partition("EMEA")
    home = m.add_lead(email="home@example.com")
    client = client_for(sandbox)
    assert [p["name"] for p in client.get_lead_partitions()] == ["Default", "EMEA"]
    client.partition_name = "EMEA"
    seen: list[str] = []
    original = sandbox.dispatch
    monkeypatch.setattr(sandbox, "dispatch", lambda request: (seen.append(request.path), original(request))[1])
    created = client.sync_leads([{"email": "a@example.com"}], action="createOnly")
    client.sync_leads([{"email": "b@example.com"}])
    updated = client.sync_leads([{"email": "home@example.com", "firstName": "H"}], action="updateOnly")
    assert seen.count("/rest/v1/leads/partitions.json") == 1
    assert m.lead_partition(created[0]["id"]) == "EMEA"
    assert m.lead_partition(m.find_leads("email", "b@example.com")[0]["id"]) == "EMEA"
    assert updated == [{"id": home, "status": "updated"}]  # updateOnly sends no partitionName, so no 1010
    client.partition_name = "Nowhere"
    with pytest.raises(ConfigError, match=r"lead partition 'Nowhere' does not exist .*\(partitions: Default, EMEA\)"):
        client.bulk_import_leads(b"email\nc@example.com\n")
