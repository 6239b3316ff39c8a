"""sync-audience end to end against the sandbox: the list ends up equal to the audience, guards, dry runs."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.jobs.changes import PLAN_COLUMNS
from segmarketo_cli.jobs.sync_audience import execute_create, members, session

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
WRITE_PATH = re.compile(r"^/rest/v1/(lists/\d+/leads|leads)\.json$|^/rest/asset/v1/staticLists\.json$|"
                        r"^/bulk/v1/leads\.json$")


@pytest.fixture
def calls(sandbox, monkeypatch):
    """Every (method, path) the sandbox answers, after `_method` rewriting."""
    seen: list[tuple[str, str]] = []
    original = sandbox.dispatch

    def spy(request):
        seen.append((request.method, request.path))
        return original(request)

    monkeypatch.setattr(sandbox, "dispatch", spy)
    return seen


def writes(calls: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(m, p) for m, p in calls if m in ("POST", "DELETE") and WRITE_PATH.match(p)]


@pytest.fixture
def world(sandbox):
    """Ten leads p0..p9, a duplicate of p1, and list 'VIP' holding p5..p9."""
    box = sandbox.marketo
    ids = {f"p{i}": box.add_lead(email=f"p{i}@example.com", firstName=f"P{i}") for i in range(10)}
    ids["p1-dup"] = box.add_lead(email="P1@example.com")
    list_id = box.add_list("VIP")
    box.add_to_list(list_id, [ids[f"p{i}"] for i in range(5, 10)])
    return ids, list_id


def audience_csv(tmp_path: Path, emails: list[str], name: str = "aud.csv") -> str:
    path = tmp_path / name
    path.write_text("key,email\n" + "".join(f"k{i},{e}\n" for i, e in enumerate(emails)), encoding="utf-8")
    return str(path)


def report(result) -> dict:
    return json.loads(result.stdout)


def test_mirror_makes_the_list_equal_to_the_audience_and_a_rerun_writes_nothing(world, sandbox, invoke, tmp_path,
                                                                                calls):
    ids, list_id = world
    path = audience_csv(tmp_path, ["p0@example.com", "p1@example.com", "p5@example.com", "p6@example.com"])
    result = invoke("sync-audience", path, "--list", "VIP", "--force", "--json")
    assert result.exit_code == 0, result.output
    expected = {ids["p0"], ids["p1"], ids["p1-dup"], ids["p5"], ids["p6"]}
    assert sandbox.marketo.list_members(list_id) == expected
    counts = report(result)["counts"]
    assert counts["audience_rows"] == 4
    assert counts["resolved"] == 4
    assert counts["duplicate_emails"] == 1
    assert (counts["added"], counts["removed"], counts["unchanged"]) == (3, 3, 2)
    assert counts["current_members"] == 5
    assert "imbalances" not in report(result)
    assert len(writes(calls)) == 2  # one add call, one remove call

    calls.clear()
    again = invoke("sync-audience", path, "--list", "VIP", "--json")
    assert again.exit_code == 0, again.output
    assert writes(calls) == []
    assert not any(p == "/rest/v1/leads.json" for _, p in calls)  # every person came from the lead-id cache
    second = report(again)["counts"]
    assert (second["added"], second["removed"], second["unchanged"]) == (0, 0, 5)
    assert sandbox.marketo.list_members(list_id) == expected


def test_mass_removal_is_refused_with_exit_4_and_nothing_written(world, sandbox, invoke, tmp_path, calls):
    ids, list_id = world
    before = sandbox.marketo.list_members(list_id)
    path = audience_csv(tmp_path, ["p0@example.com", "p5@example.com"])
    result = invoke("sync-audience", path, "--list", "VIP", "--max-removals", "3")
    assert result.exit_code == 4
    assert "removes 4 of 5 members" in result.stderr
    assert "nothing was written" in result.stderr
    assert writes(calls) == []
    assert sandbox.marketo.list_members(list_id) == before
    allowed = invoke("sync-audience", path, "--list", "VIP", "--max-removals", "80%")
    assert allowed.exit_code == 0
    assert sandbox.marketo.list_members(list_id) == {ids["p0"], ids["p5"]}


def test_empty_audience_is_refused_before_any_call(world, sandbox, invoke, tmp_path, calls):
    _, list_id = world
    path = tmp_path / "empty.csv"
    path.write_text("email\n", encoding="utf-8")
    result = invoke("sync-audience", str(path), "--list", "VIP", "--json")
    assert result.exit_code == 4
    assert report(result)["status"] == "refused"
    assert "audience is empty" in report(result)["error"]
    assert calls == []
    assert len(sandbox.marketo.list_members(list_id)) == 5


def test_dry_run_prints_the_plan_and_plan_out_lists_every_change(world, sandbox, invoke, tmp_path, calls):
    ids, list_id = world
    path = audience_csv(tmp_path, ["p0@example.com", "p5@example.com", "p6@example.com", "p7@example.com",
                                   "p8@example.com", "new@example.com"])
    plan_file = tmp_path / "plan.csv"
    result = invoke("sync-audience", path, "--list", "VIP", "--dry-run", "--plan-out", str(plan_file),
                    "--create-missing", "--max-removals", "1")
    assert result.exit_code == 0, result.output
    assert "add 1, remove 1, create 1" in result.stdout
    assert f"add     lead {ids['p0']}  p0@example.com  in audience (key: email)" in result.stdout
    assert f"remove  lead {ids['p9']}  p9@example.com  not in audience (key: email)" in result.stdout
    assert writes(calls) == []
    assert sandbox.marketo.list_members(list_id) == {ids[f"p{i}"] for i in range(5, 10)}
    assert not sandbox.marketo.find_leads("email", "new@example.com")
    with plan_file.open(encoding="utf-8") as handle:
        rows = [(r["action"], r["lead_id"], r["key"], r["target"], r["field"], r["after"])
                for r in csv.DictReader(handle)]
    assert rows == [("create", "", "new@example.com", "", "email", "new@example.com"),
                    ("add", str(ids["p0"]), "p0@example.com", str(list_id), "", ""),
                    ("add", "", "new@example.com", str(list_id), "", ""),
                    ("remove", str(ids["p9"]), "p9@example.com", str(list_id), "", "")]


def test_unresolved_people_are_reported_and_strict_exits_3(world, sandbox, invoke, tmp_path):
    path = audience_csv(tmp_path, [f"p{i}@example.com" for i in range(5, 10)] + ["ghost@example.com"])
    rejects = tmp_path / "rejects.jsonl"
    result = invoke("sync-audience", path, "--list", "VIP", "--json", "--rejects", str(rejects))
    assert result.exit_code == 0
    counts = report(result)["counts"]
    assert counts["unresolved"] == 1
    assert counts["rejected"] == 0  # not a bad row: the person is counted in the people balance instead
    assert counts["people"] == counts["resolved"] + counts["unresolved"]
    assert any("not in Marketo" in n for n in report(result)["notes"])
    [line] = rejects.read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {"reason": "not in Marketo", "origin": f"{path}:7", "field": "email",
                                "value": "ghost@example.com"}
    plan_file = tmp_path / "plan.csv"
    dry = invoke("sync-audience", path, "--list", "VIP", "--dry-run", "--plan-out", str(plan_file),
                 "--rejects", str(tmp_path / "dry.jsonl"))
    assert f"not in Marketo: ghost@example.com  not in Marketo (key: email)  ({path}:7)" in dry.stdout
    with plan_file.open(encoding="utf-8") as handle:
        [row] = [r for r in csv.DictReader(handle) if r["action"] == "unresolved"]
    assert (row["key"], row["reason"], row["origin"]) == ("ghost@example.com", "not in Marketo (key: email)",
                                                          f"{path}:7")
    strict = invoke("sync-audience", path, "--list", "VIP", "--strict", "--json")
    assert strict.exit_code == 3
    assert report(strict)["status"] == "partial"


def test_bad_rows_are_rejected_with_file_line_field_value_and_exit_3(world, sandbox, invoke, tmp_path):
    path = audience_csv(tmp_path, [f"p{i}@example.com" for i in range(5, 10)] + ["not-an-email"])
    rejects = tmp_path / "rejects.jsonl"
    result = invoke("sync-audience", path, "--list", "VIP", "--json", "--rejects", str(rejects))
    assert result.exit_code == 3
    assert report(result)["counts"]["rejected"] == 1
    [line] = rejects.read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {"reason": "not an e-mail address", "origin": f"{path}:7", "field": "email",
                                "value": "not-an-email"}


def test_create_list_in_a_folder_then_reuse_it(sandbox, invoke, tmp_path):
    box = sandbox.marketo
    a, b = box.add_lead(email="a@example.com"), box.add_lead(email="b@example.com")
    box.add_folder("Audiences")
    path = audience_csv(tmp_path, ["a@example.com", "b@example.com"])
    missing = invoke("sync-audience", path, "--list", "Segment VIP")
    assert missing.exit_code == 2
    assert "--create-list" in missing.stderr
    nofolder = invoke("sync-audience", path, "--list", "Segment VIP", "--create-list", "--folder", "Nope")
    assert nofolder.exit_code == 2
    assert "folder 'Nope' not found" in nofolder.stderr
    result = invoke("sync-audience", path, "--list", "Segment VIP", "--create-list", "--folder", "Audiences",
                    "--json")
    assert result.exit_code == 0, result.output
    list_id = box.list_id("Segment VIP")
    assert list_id is not None
    assert box.list_members(list_id) == {a, b}
    again = invoke("sync-audience", path, "--list-id", str(list_id), "--json")
    assert again.exit_code == 0
    assert report(again)["counts"]["unchanged"] == 2


def test_create_list_in_a_program_uses_the_program_id_namespace(sandbox, invoke, tmp_path):
    box = sandbox.marketo
    a = box.add_lead(email="a@example.com")
    box.add_folder("Unrelated", folder_id=12)  # a marketing folder whose id equals the program's id
    program = box.add_program("Q3 Webinar", program_id=12)
    path = audience_csv(tmp_path, ["a@example.com"])
    result = invoke("sync-audience", path, "--list", "Q3 attendees", "--create-list", "--folder", "Q3 Webinar")
    assert result.exit_code == 0, result.output
    list_id = box.list_id("Q3 attendees")
    assert box.list_parent(list_id) == ("Program", program)
    assert box.list_members(list_id) == {a}


def test_create_list_ignores_design_studio_folders_and_reads_upper_case_types(sandbox, invoke, tmp_path):
    box = sandbox.marketo
    box.add_lead(email="a@example.com")
    folder = box.add_folder("Audiences")  # answered with folderId.type "FOLDER", as in Adobe's example
    box.add_folder("Audiences", folder_type="Email")
    path = audience_csv(tmp_path, ["a@example.com"])
    result = invoke("sync-audience", path, "--list", "Segment VIP", "--create-list", "--folder", "Audiences")
    assert result.exit_code == 0, result.output
    assert box.list_parent(box.list_id("Segment VIP")) == ("Folder", folder)
    design_only = box.add_folder("Newsletters", folder_type="Email")
    refused = invoke("sync-audience", path, "--list", "Other", "--create-list", "--folder", "Newsletters")
    assert refused.exit_code == 2
    assert "folder 'Newsletters' cannot hold a static list (it is a Email folder)" in refused.stderr
    by_id = invoke("sync-audience", path, "--list", "Other", "--create-list", "--folder", f"folder:{design_only}")
    assert by_id.exit_code == 2
    assert f"cannot create list 'Other' in folder {design_only}: Incompatible folder type (Marketo 711)" \
        in by_id.stderr
    assert box.list_id("Other") is None


def test_ambiguous_folder_name_is_refused_before_any_write_and_says_how_to_choose(sandbox, invoke, tmp_path, calls):
    box = sandbox.marketo
    box.add_lead(email="a@example.com")
    folder = box.add_folder("Webinars", parent="Events")
    program = box.add_program("Webinars", folder="Programs")
    path = audience_csv(tmp_path, ["a@example.com"])
    result = invoke("sync-audience", path, "--list", "Attendees", "--create-list", "--folder", "Webinars")
    assert result.exit_code == 2
    assert "folder name 'Webinars' is ambiguous, 2 matches" in result.stderr
    assert f"--folder folder:{folder} or --folder program:{program}" in result.stderr
    assert writes(calls) == []
    assert box.list_id("Attendees") is None
    by_path = invoke("sync-audience", path, "--list", "Attendees", "--create-list", "--folder",
                     "/Marketing Activities/Default/Programs/Webinars")
    assert by_path.exit_code == 0, by_path.output
    assert box.list_parent(box.list_id("Attendees")) == ("Program", program)
    by_option = invoke("sync-audience", path, "--list", "Attendees 2", "--create-list", "--folder", f"folder:{folder}")
    assert by_option.exit_code == 0, by_option.output
    assert box.list_parent(box.list_id("Attendees 2")) == ("Folder", folder)


def test_create_missing_with_create_only(world, sandbox, invoke, tmp_path):
    ids, list_id = world
    emails = [f"p{i}@example.com" for i in range(5, 10)] + ["new1@example.com", "new2@example.com"]
    result = invoke("sync-audience", audience_csv(tmp_path, emails), "--list", "VIP", "--create-missing", "--json")
    assert result.exit_code == 0, result.output
    new = {sandbox.marketo.find_leads("email", e)[0]["id"] for e in ("new1@example.com", "new2@example.com")}
    assert sandbox.marketo.list_members(list_id) == {ids[f"p{i}"] for i in range(5, 10)} | new
    counts = report(result)["counts"]
    assert counts["created"] == 2
    assert counts["added"] == 2
    assert counts["unresolved"] == 0


def test_create_missing_sends_the_partition_on_create_only_and_bulk_import(world, sandbox, invoke, tmp_path,
                                                                          monkeypatch):
    ids, list_id = world
    sandbox.marketo.add_partition("EMEA")
    monkeypatch.setenv("SEGMARKETO_PARTITION", "EMEA")
    rest = invoke("sync-audience", audience_csv(tmp_path, ["new1@example.com"], "rest.csv"), "--list", "VIP",
                  "--mode", "add-only", "--create-missing")
    assert rest.exit_code == 0, rest.output
    monkeypatch.setattr(execute_create, "BULK_CREATE_MIN", 2)
    monkeypatch.setattr(execute_create, "IMPORT_POLL_S", (0.0,))
    bulk = invoke("sync-audience", audience_csv(tmp_path, ["bulk1@example.com", "bulk2@example.com"], "bulk.csv"),
                  "--list", "VIP", "--mode", "add-only", "--create-missing")
    assert bulk.exit_code == 0, bulk.output
    for email in ("new1@example.com", "bulk1@example.com", "bulk2@example.com"):
        [lead] = sandbox.marketo.find_leads("email", email)
        assert sandbox.marketo.lead_partition(lead["id"]) == "EMEA"
        assert lead["id"] in sandbox.marketo.list_members(list_id)


def test_unknown_partition_stops_create_missing_before_the_list_is_created(sandbox, invoke, tmp_path, calls):
    sandbox.marketo.add_folder("Audiences")
    path = audience_csv(tmp_path, ["new@example.com"])
    result = invoke("sync-audience", path, "--list", "New", "--create-list", "--folder", "Audiences",
                    "--create-missing", "--partition", "APAC")
    assert result.exit_code == 2
    assert "lead partition 'APAC' does not exist" in result.stderr
    assert writes(calls) == []
    assert sandbox.marketo.list_id("New") is None


def test_create_missing_with_bulk_import(world, sandbox, invoke, tmp_path, monkeypatch, calls):
    ids, list_id = world
    monkeypatch.setattr(execute_create, "BULK_CREATE_MIN", 2)
    monkeypatch.setattr(execute_create, "IMPORT_POLL_S", (0.0,))
    emails = [f"p{i}@example.com" for i in range(5, 10)] + [f"bulk{i}@example.com" for i in range(3)]
    result = invoke("sync-audience", audience_csv(tmp_path, emails), "--list", "VIP", "--create-missing", "--json")
    assert result.exit_code == 0, result.output
    assert ("POST", "/bulk/v1/leads.json") in calls
    new = {sandbox.marketo.find_leads("email", f"bulk{i}@example.com")[0]["id"] for i in range(3)}
    assert sandbox.marketo.list_members(list_id) == {ids[f"p{i}"] for i in range(5, 10)} | new
    assert report(result)["counts"]["created"] == 3
    assert "imbalances" not in report(result)


def test_bulk_extract_reads_membership_above_the_threshold(world, sandbox, invoke, tmp_path, monkeypatch, calls):
    ids, list_id = world
    monkeypatch.setattr(members, "EXTRACT_POLL_S", (0.0,))
    path = audience_csv(tmp_path, [f"p{i}@example.com" for i in range(4, 10)])
    result = invoke("sync-audience", path, "--list", "VIP", "--extract-threshold", "1", "--json")
    assert result.exit_code == 0, result.output
    assert report(result)["details"]["membership_read"] == "bulk extract"
    assert ("POST", "/bulk/v1/leads/export/create.json") in calls
    assert not any(p.endswith(f"/lists/{list_id}/leads.json") and m == "GET" for m, p in calls)
    assert report(result)["counts"]["current_members"] == 5
    assert report(result)["counts"]["added"] == 1
    assert sandbox.marketo.list_members(list_id) == {ids[f"p{i}"] for i in range(4, 10)}


def test_delta_mode_from_audience_events(world, sandbox, invoke, tmp_path):
    ids, list_id = world
    events = [
        {"type": "track", "event": "Audience Entered", "userId": "u0", "timestamp": "2024-05-06T09:00:00Z",
         "properties": {"audience_key": "vip", "vip": True}, "context": {"traits": {"email": "p0@example.com"}}},
        {"type": "track", "event": "Audience Exited", "userId": "u9", "timestamp": "2024-05-06T09:00:00Z",
         "properties": {"audience_key": "vip", "vip": False}, "context": {"traits": {"email": "p9@example.com"}}},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")
    mirror = invoke("sync-audience", str(path), "--list", "VIP", "--mode", "mirror")
    assert mirror.exit_code == 2
    assert "--mode delta" in mirror.stderr
    result = invoke("sync-audience", str(path), "--list", "VIP", "--json")
    assert result.exit_code == 0, result.output
    assert sandbox.marketo.list_members(list_id) == {ids[f"p{i}"] for i in (0, 5, 6, 7, 8)}
    counts = report(result)["counts"]
    assert (counts["added"], counts["removed"], counts["exited"], counts["kept"]) == (1, 1, 1, 4)


def test_stale_cached_id_is_looked_up_again_and_counted_by_id(world, sandbox, invoke, tmp_path, calls):
    ids, list_id = world
    app = AppContext()
    app.store.remember_lead_ids(sandbox.url, "email", [("p0@example.com", [987654])])  # a lead merged away
    app.close()
    path = audience_csv(tmp_path, [f"p{i}@example.com" for i in (0, 5, 6, 7, 8, 9)])
    result = invoke("sync-audience", path, "--list", "VIP", "--json")
    assert result.exit_code == 0, result.output
    counts = report(result)["counts"]
    assert counts["not_found"] == 1
    assert counts["added"] == 1
    assert "imbalances" not in report(result)
    assert sandbox.marketo.list_members(list_id) == {ids[f"p{i}"] for i in (0, 5, 6, 7, 8, 9)}


def test_flag_errors_are_one_line_usage_errors(world, invoke, tmp_path):
    path = audience_csv(tmp_path, ["p0@example.com"])
    for args, text in [((), "exactly one of --list"), (("--list", "VIP", "--list-id", "3"), "exactly one"),
                       (("--list", "VIP", "--max-removals", "lots"), "--max-removals"),
                       (("--list", "VIP", "--create-list"), "--folder"),
                       (("--list-id", "424242"), "not found")]:
        result = invoke("sync-audience", path, *args)
        assert result.exit_code == 2, (args, result.output)
        assert text in result.stderr
        assert "Traceback" not in result.output


@pytest.mark.parametrize("sample", ["engage_audience_formatted.csv", "engage_audience_unformatted.csv"])
def test_sample_engage_downloads_mirror_onto_the_seeded_list(sandbox, invoke, calls, sample):
    sandbox.load_seed(SAMPLES / "sandbox")
    box = sandbox.marketo
    list_id = box.list_id("High Value Users")
    path = str(SAMPLES / sample)
    refused = invoke("sync-audience", path, "--list", "High Value Users")
    assert refused.exit_code == 4
    assert writes(calls) == []
    result = invoke("sync-audience", path, "--list", "High Value Users", "--max-removals", "6", "--json")
    assert result.exit_code == 0, result.output
    wanted = {"ann.adams0", "bo.haddad1", "chen.obrien2", "emeka.muller4", "farah.diaz5", "hana.brown7", "ivan.ito8",
              "lea.nakamura11", "mo.evans12", "nia.lopez13", "pat.duplicate"}
    expected = {lead["id"] for lead in box.leads if lead.get("email", "").split("@")[0] in wanted}
    assert len(expected) == 12  # both pat.duplicate leads
    assert box.list_members(list_id) == expected
    counts = report(result)["counts"]
    assert counts["duplicate_emails"] == 1
    assert counts["removed"] == 6
    assert counts["unchanged"] == 1
    calls.clear()
    assert invoke("sync-audience", path, "--list", "High Value Users").exit_code == 0
    assert writes(calls) == []


def test_sample_audience_events_apply_as_delta_on_the_seeded_list(sandbox, invoke):
    sandbox.load_seed(SAMPLES / "sandbox")
    box = sandbox.marketo
    list_id = box.list_id("High Value Users")
    before = box.list_members(list_id)
    result = invoke("sync-audience", str(SAMPLES / "audience_events.jsonl"), "--list", "High Value Users", "--json")
    assert result.exit_code == 0, result.output
    ids = {lead["email"]: lead["id"] for lead in box.leads}
    entered = {ids[e] for e in ("ann.adams0@example.com", "bo.haddad1@example.com", "emeka.muller4@example.com")}
    exited = {ids[e] for e in ("chen.obrien2@example.com", "gus.khan6@example.com")}
    assert box.list_members(list_id) == (before | entered) - exited
    assert report(result)["details"]["input"]["audience"] == "high_value_users"


def test_quota_exhausted_mid_run_exits_75_and_a_rerun_finishes_the_job(world, sandbox, invoke, tmp_path, monkeypatch):
    ids, list_id = world
    monkeypatch.setattr(members, "EXTRACT_POLL_S", (0.0,))
    monkeypatch.setattr(session, "CALL_SIZE", 2)  # several add calls, so the quota can run out between them
    path = audience_csv(tmp_path, [f"p{i}@example.com" for i in range(10)])
    # Members are read by bulk extract, so the first request under the list's path is the first add call.
    sandbox.faults.add("607", times=1, path=f"/rest/v1/lists/{list_id}/leads.json")
    first = invoke("sync-audience", path, "--list", "VIP", "--extract-threshold", "1", "--json")
    assert first.exit_code == 75
    assert report(first)["status"] == "deferred"
    wanted = {ids[f"p{i}"] for i in range(10)} | {ids["p1-dup"]}
    # Add calls already in flight when the quota ran out still land (and are counted); the refused one does not.
    partial = sandbox.marketo.list_members(list_id)
    assert {ids[f"p{i}"] for i in range(5, 10)} <= partial < wanted
    assert len(partial) - 5 == report(first)["counts"]["added"]
    second = invoke("sync-audience", path, "--list", "VIP", "--extract-threshold", "1", "--json")
    assert second.exit_code == 0, second.output
    assert sandbox.marketo.list_members(list_id) == wanted
    assert report(first)["counts"]["added"] + report(second)["counts"]["added"] == 6


def test_a_64mb_memory_limit_gives_the_same_plan_buckets_rejects_and_list(sandbox, invoke, tmp_path):
    """The planning engine at a tiny limit: the same plan-out rows, buckets, rejects and final list."""
    box = sandbox.marketo
    ids = [box.add_lead(email=f"m{i}@example.com") for i in range(1_200)]
    duplicate = box.add_lead(email="M107@EXAMPLE.COM")  # a second lead with m107's address
    list_id = box.add_list("Big")
    box.add_to_list(list_id, ids[:1_000])
    emails = [f"  M{i}@Example.com " if i % 50 == 0 else f"m{i}@example.com" for i in range(100, 1_150)]
    emails += ["ghost@example.com", "not-an-email", "m120@example.com"]  # not in Marketo, a reject, a repeat
    path = audience_csv(tmp_path, emails)

    def dry_run(limit: str | None) -> tuple[dict, str, list[dict]]:
        plan_file, rejects_file = tmp_path / f"plan-{limit}.csv", tmp_path / f"rejects-{limit}.jsonl"
        extra = ("--memory-limit", limit) if limit else ()
        result = invoke("sync-audience", path, "--list", "Big", "--dry-run", "--json", "--max-removals", "20%",
                        "--plan-out", str(plan_file), "--rejects", str(rejects_file), *extra)
        assert result.exit_code == 3, result.output  # the rejected row
        rejects = [{k: v for k, v in json.loads(line).items() if k not in ("ts", "run_id")}
                   for line in rejects_file.read_text(encoding="utf-8").splitlines()]
        return report(result)["counts"], plan_file.read_text(encoding="utf-8"), rejects

    small, default = dry_run("64MB"), dry_run(None)
    assert small == default
    counts, plan_out, rejects = small
    assert (counts["added"], counts["removed"], counts["unresolved"], counts["duplicate_emails"]) == (151, 100, 1, 1)
    assert (counts["repeated"], counts["rejected"]) == (1, 1)
    assert plan_out.count(",add,") == 151
    assert [r["reason"] for r in rejects] == ["not an e-mail address", "not in Marketo"]
    result = invoke("sync-audience", path, "--list", "Big", "--max-removals", "20%", "--memory-limit", "64MB")
    assert result.exit_code == 3, result.output
    assert box.list_members(list_id) == {*ids[100:1_150], duplicate}


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet", ".jsonl"])
def test_plan_out_format_follows_the_extension(world, sandbox, invoke, tmp_path, suffix):
    import pandas as pd

    ids, list_id = world
    path = audience_csv(tmp_path, ["p0@example.com", "p5@example.com", "ghost@example.com"])
    plan_file = tmp_path / f"plan{suffix}"
    result = invoke("sync-audience", path, "--list", "VIP", "--dry-run", "--force", "--plan-out", str(plan_file))
    assert result.exit_code == 0, result.output
    if suffix == ".xlsx":
        frame = pd.read_excel(plan_file, dtype=str, keep_default_na=False, engine="openpyxl")
    elif suffix == ".parquet":
        frame = pd.read_parquet(plan_file)
    else:
        frame = pd.read_json(plan_file, lines=True, dtype=False)
    assert list(frame.columns) == PLAN_COLUMNS
    rows = sorted((r["action"], r["key"]) for r in frame.to_dict(orient="records"))
    assert rows == [("add", "p0@example.com"), *[("remove", f"p{i}@example.com") for i in range(6, 10)],
                    ("unresolved", "ghost@example.com")]


def test_plan_out_with_an_unknown_extension_is_exit_2_before_any_call(world, sandbox, invoke, tmp_path, calls):
    path = audience_csv(tmp_path, ["p0@example.com"])
    result = invoke("sync-audience", path, "--list", "VIP", "--dry-run", "--plan-out", str(tmp_path / "plan.xls"))
    assert result.exit_code == 2
    assert "unknown file type '.xls'" in result.output
    assert calls == []


def test_create_missing_streams_the_people_in_call_batches_at_a_64mb_limit(world, sandbox, invoke, tmp_path, calls,
                                                                          monkeypatch):
    """41 people to create, 7 per createOnly call and 14 per window out of the engine; one of them created by
    someone else after the lookup (1005), found again. Every new lead ends in the list, each counted once."""
    ids, list_id = world
    monkeypatch.setattr(session, "CALL_SIZE", 7)
    monkeypatch.setattr(session, "BATCH_ROWS", 14)
    emails = [f"new{i:02d}@example.com" for i in range(40)] + ["late@example.com"]
    late: list[int] = []
    create_people = execute_create.create_people

    def someone_else_creates_late_first(*args):
        late.append(sandbox.marketo.add_lead(email="late@example.com"))
        return create_people(*args)

    monkeypatch.setattr("segmarketo_cli.jobs.sync_audience.run.create_people", someone_else_creates_late_first)
    result = invoke("sync-audience", audience_csv(tmp_path, emails), "--list", "VIP", "--mode", "add-only",
                    "--create-missing", "--memory-limit", "64MB", "--json")
    assert result.exit_code == 0, result.output
    new = {sandbox.marketo.find_leads("email", e)[0]["id"] for e in emails}
    assert late[0] in new
    assert sandbox.marketo.list_members(list_id) == {ids[f"p{i}"] for i in range(5, 10)} | new
    counts = report(result)["counts"]
    assert (counts["created"], counts["audience_leads"], counts["added"]) == (40, 41, 41)
    assert counts["create_failed"] == 0
    assert sum(1 for method, path in calls if path == "/rest/v1/leads.json" and method == "POST") == 6
