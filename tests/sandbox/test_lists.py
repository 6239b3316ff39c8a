"""Sandbox wire behaviour: static lists, folders, create (709), member paging, add/remove/ismember."""

from __future__ import annotations

import json

from segmarketo_cli.sandbox import Sandbox, SandboxConfig
from tests.support.sandbox_api import make_api


def test_lead_db_lists_by_name_and_id(box, api):
    first = box.marketo.add_list("Alpha")
    box.marketo.add_list("Beta")
    assert [r["name"] for r in api("GET", "/rest/v1/lists.json")["result"]] == ["Alpha", "Beta"]
    named = api("GET", "/rest/v1/lists.json", params={"name": "Beta"})["result"]
    assert len(named) == 1
    assert named[0]["workspaceName"] == "Default"
    assert api("GET", f"/rest/v1/lists/{first}.json")["result"][0]["name"] == "Alpha"
    missing = api("GET", "/rest/v1/lists/99999.json")
    assert missing["success"] is False
    assert missing["errors"][0]["code"] == "1013"


def test_asset_by_name_hit_and_miss(box, api):
    list_id = box.marketo.add_list("Gamma", folder="Segment Audiences")
    hit = api("GET", "/rest/asset/v1/staticList/byName.json", params={"name": "Gamma"})
    assert hit["result"][0]["id"] == list_id
    assert hit["result"][0]["createdAt"].endswith("Z+0000")
    miss = api("GET", "/rest/asset/v1/staticList/byName.json", params={"name": "Nope"})
    assert miss["success"] is True
    assert "result" not in miss
    assert miss["warnings"] == ["No assets found for the given search criteria."]


def test_folder_by_name_returns_every_match(box, api):
    box.marketo.add_folder("Shared")
    box.marketo.add_folder("Shared", parent="Other")
    rows = api("GET", "/rest/asset/v1/folder/byName.json", params={"name": "Shared"})["result"]
    assert len(rows) == 2
    assert rows[0]["folderId"]["type"] == "FOLDER"  # as in Adobe's Get Folder by Name example


def test_folder_by_name_also_returns_programs_and_design_studio_folders(box, api):
    folder = box.marketo.add_folder("Webinars", folder_id=12)
    email_folder = box.marketo.add_folder("Webinars", folder_type="Email", folder_id=13)
    program = box.marketo.add_program("Webinars", program_id=12)
    rows = api("GET", "/rest/asset/v1/folder/byName.json", params={"name": "Webinars"})["result"]
    found = sorted((r["folderId"]["type"], r["folderId"]["id"], r["folderType"]) for r in rows)
    assert found == [("FOLDER", folder, "Marketing Folder"), ("FOLDER", email_folder, "Email"),
                     ("Program", program, "Program")]
    only_programs = api("GET", "/rest/asset/v1/folder/byName.json", params={"name": "Webinars", "type": "Program"})
    assert [r["folderId"] for r in only_programs["result"]] == [{"id": 12, "type": "Program"}]


def test_create_list_keeps_folder_and_program_ids_apart(box, api):
    box.marketo.add_folder("Other", folder_id=12)
    box.marketo.add_folder("Email Stuff", folder_type="Email", folder_id=13)
    program = box.marketo.add_program("Q3 Webinar", program_id=12)

    def create(name: str, folder: dict) -> dict:
        return api("POST", "/rest/asset/v1/staticLists.json", data={"name": name, "folder": json.dumps(folder)})

    in_program = create("In program", {"id": program, "type": "Program"})
    assert in_program["result"][0]["folder"] == {"id": program, "type": "Program"}
    assert box.marketo.list_parent(box.marketo.list_id("In program")) == ("Program", program)
    program_row = api("GET", "/rest/v1/lists.json", params={"name": "In program"})["result"][0]
    assert program_row["programName"] == "Q3 Webinar"
    in_folder = create("In folder 12", {"id": 12, "type": "Folder"})  # the program's number names another folder
    assert box.marketo.list_parent(in_folder["result"][0]["id"]) == ("Folder", 12)
    assert create("Upper case", {"id": 12, "type": "FOLDER"})["success"] is True
    assert create("No such folder", {"id": 2001, "type": "Folder"})["errors"][0]["code"] == "710"
    assert create("No such program", {"id": 13, "type": "Program"})["errors"][0]["code"] == "710"
    design_studio = create("Design Studio", {"id": 13, "type": "Folder"})
    assert design_studio["errors"][0] == {"code": "711", "message": "Incompatible folder type"}
    assert create("No type", {"id": 12})["errors"][0]["code"] == "1003"
    browse = api("GET", "/rest/asset/v1/staticLists.json", params={"folder": json.dumps({"id": 12, "type": "Program"})})
    assert [r["name"] for r in browse["result"]] == ["In program"]


def test_create_list_with_json_folder_and_709_on_duplicate(box, api):
    folder_id = box.marketo.add_folder("Segment Audiences")
    form = {"name": "VIPs", "folder": json.dumps({"id": folder_id, "type": "Folder"}), "description": "d"}
    created = api("POST", "/rest/asset/v1/staticLists.json", data=form)
    assert created["success"] is True
    assert created["result"][0]["folder"] == {"id": folder_id, "type": "Folder"}
    assert box.marketo.list_id("VIPs") == created["result"][0]["id"]
    again = api("POST", "/rest/asset/v1/staticLists.json", data=form)
    assert again["errors"][0] == {"code": "709", "message": "Static List with the same name already exists"}
    bare = api("POST", "/rest/asset/v1/staticLists.json", data={"name": "Other", "folder": str(folder_id)})
    assert bare["success"] is False  # a bare numeric folder is refused by default (UNCONFIRMED)
    no_folder = api("POST", "/rest/asset/v1/staticLists.json",
                    data={"name": "X", "folder": json.dumps({"id": 999, "type": "Folder"})})
    assert no_folder["errors"][0]["code"] == "710"


def test_add_remove_ismember_results_by_id(box, api):
    list_id = box.marketo.add_list("L")
    a = box.marketo.add_lead(email="a@example.com")
    b = box.marketo.add_lead(email="b@example.com")
    added = api("POST", f"/rest/v1/lists/{list_id}/leads.json", json={"input": [{"id": a}, {"id": 777777}]})
    not_found = {"id": 777777, "status": "skipped", "reasons": [{"code": "1004", "message": "Lead not found"}]}
    assert added["result"] == [{"id": a, "status": "added"}, not_found]
    assert box.marketo.list_members(list_id) == {a}
    member = api("GET", f"/rest/v1/lists/{list_id}/leads/ismember.json", params={"id": [a, b]})
    assert [r["status"] for r in member["result"]] == ["memberof", "notmemberof"]
    removed = api("DELETE", f"/rest/v1/lists/{list_id}/leads.json", params={"id": [a, b]})
    assert removed["result"][0] == {"id": a, "status": "removed"}
    assert removed["result"][1]["reasons"][0] == {"code": "1015", "message": "Lead not in list"}
    box.marketo.add_to_list(list_id, [b])
    via_post = api("POST", f"/rest/v1/lists/{list_id}/leads.json?_method=DELETE", json={"input": [{"id": b}]})
    assert via_post["result"] == [{"id": b, "status": "removed"}]
    assert box.marketo.list_members(list_id) == set()
    assert api("POST", "/rest/v1/lists/424242/leads.json", json={"input": [{"id": a}]})["errors"][0]["code"] == "1013"
    over = api("POST", f"/rest/v1/lists/{list_id}/leads.json", json={"input": [{"id": i} for i in range(301)]})
    assert over["success"] is False
    assert over["errors"][0]["code"] == "1003"


def test_member_paging_with_opaque_tokens(box, api):
    list_id = box.marketo.add_list("Big")
    ids = [box.marketo.add_lead(email=f"m{i}@example.com") for i in range(650)]
    box.marketo.add_to_list(list_id, ids)
    seen, tokens, calls = [], [], 0
    while True:
        params = {"fields": "id,email", "batchSize": 300, **({"nextPageToken": tokens[-1]} if tokens else {})}
        page = api("GET", f"/rest/v1/lists/{list_id}/leads.json", params=params)
        calls += 1
        seen.extend(page["result"])
        if not page.get("nextPageToken"):
            break
        tokens.append(page["nextPageToken"])
    assert calls == 3
    assert [r["id"] for r in seen] == ids
    assert seen[0] == {"id": ids[0], "email": "m0@example.com"}
    assert len(set(tokens)) == 2
    for token in tokens:  # opaque: neither a bare position nor its readable payload
        assert not token.isdigit()
        assert ":" not in token
        assert str(ids[299]) not in token
    legacy = api("GET", f"/rest/v1/list/{list_id}/leads.json", params={"batchSize": 1})
    assert len(legacy["result"]) == 1
    assert legacy["nextPageToken"]


def test_folder_types_and_list_parents_survive_a_restart(tmp_path):
    data = tmp_path / "data"
    with Sandbox(data_dir=data) as first:
        email_folder = first.marketo.add_folder("Emails", folder_type="Email")
        program = first.marketo.add_program("Q3 Webinar")
        list_id = first.marketo.assets.add_list("In program", program, folder_type="Program")
    again = Sandbox(data_dir=data)
    assert again.marketo.assets.folders[email_folder].folder_type == "Email"
    assert again.marketo.list_parent(list_id) == ("Program", program)


def test_member_batch_size_is_capped_by_the_records_a_call_may_carry():
    with Sandbox(client_id="sandbox-client", client_secret="sandbox-secret",
                 config=SandboxConfig(max_records_per_call=2)) as small:
        api = make_api(small)
        list_id = small.marketo.add_list("Small")
        small.marketo.add_to_list(list_id, [small.marketo.add_lead(email=f"s{i}@example.com") for i in range(3)])
        path = f"/rest/v1/lists/{list_id}/leads.json"
        over = api("GET", path, params={"batchSize": 3})
        assert over["success"] is False
        assert over["errors"][0] == {"code": "1003", "message": "batchSize must be between 1 and 2"}
        first = api("GET", path)  # no batchSize: as many as a call may carry
        assert len(first["result"]) == 2
        assert first["nextPageToken"]
