"""`runs undo` after sync-audience, end to end against the sandbox: the list's members and the leads the run created
come back exactly as they were; a membership changed in between is already as the undo wants it."""

from __future__ import annotations

import json

from tests.support.undo_world import snapshot, undo
from tests.sync_audience.test_cli import audience_csv, world  # noqa: F401  (the fixture)

AUDIENCE = ["p0@example.com", "p1@example.com", "p5@example.com", "p6@example.com", "new1@example.com",
            "new2@example.com"]


def sync(invoke, path: str, *args: str) -> dict:
    result = invoke("sync-audience", path, "--list", "VIP", "--force", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_undo_with_delete_created_gives_back_the_list_and_the_leads_exactly(world, sandbox, invoke,  # noqa: F811
                                                                               tmp_path):
    ids, list_id = world
    initial = snapshot(sandbox)
    report = sync(invoke, audience_csv(tmp_path, AUDIENCE), "--create-missing")
    assert (report["counts"]["added"], report["counts"]["removed"]) == (5, 3)
    assert sandbox.marketo.list_members(list_id) != initial["lists"][list_id]
    code, undone = undo(invoke, report["run_id"], "--delete-created")
    assert code == 0, undone
    assert snapshot(sandbox) == initial
    counts = undone["counts"]
    assert counts["restored"] == 8  # 5 adds removed, 3 removes added back
    assert counts["deleted"] == 2  # new1, new2
    assert counts["conflicts"] == 0


def test_without_delete_created_the_created_leads_stay_and_leave_the_list(world, sandbox, invoke,  # noqa: F811
                                                                         tmp_path):
    ids, list_id = world
    initial = snapshot(sandbox)
    report = sync(invoke, audience_csv(tmp_path, AUDIENCE), "--create-missing")
    code, undone = undo(invoke, report["run_id"])
    assert code == 0, undone
    assert undone["counts"]["created_kept"] == 2
    assert sandbox.marketo.list_members(list_id) == initial["lists"][list_id]
    created = {int(sandbox.marketo.find_leads("email", f"new{i}@example.com")[0]["id"]) for i in (1, 2)}
    assert set(snapshot(sandbox)["leads"]) == set(initial["leads"]) | created


def test_membership_changed_in_between_is_left_as_the_undo_wants_it(world, sandbox, invoke, tmp_path):  # noqa: F811
    ids, list_id = world
    initial = snapshot(sandbox)
    report = sync(invoke, audience_csv(tmp_path, AUDIENCE[:4]))
    # In between, someone takes p0 out of the list again and puts p7 back.
    sandbox.marketo.assets.lists[list_id].members.discard(ids["p0"])
    sandbox.marketo.add_to_list(list_id, [ids["p7"]])
    code, undone = undo(invoke, report["run_id"])
    assert code == 0, undone
    counts = undone["counts"]
    assert counts["unchanged"] == 2  # no call for p0 and p7: the list already holds what the undo restores
    assert counts["restored"] == 4  # p1 and its duplicate removed, p8 and p9 added back
    assert counts["conflicts"] == 0
    assert snapshot(sandbox) == initial


def test_a_second_undo_and_a_dry_run_change_nothing(world, sandbox, invoke, tmp_path):  # noqa: F811
    ids, list_id = world
    report = sync(invoke, audience_csv(tmp_path, AUDIENCE[:4]))
    after_run = snapshot(sandbox)
    code, planned = undo(invoke, report["run_id"], "--dry-run")
    assert code == 0, planned
    assert planned["counts"]["restored"] == 6
    assert snapshot(sandbox) == after_run
    assert undo(invoke, report["run_id"])[0] == 0
    undone = snapshot(sandbox)
    code, again = undo(invoke, report["run_id"])
    assert code == 0, again
    assert again["counts"]["already_undone"] == again["counts"]["changes"] == 6
    assert snapshot(sandbox) == undone


def test_a_list_the_run_created_is_listed_as_kept_and_emptied(sandbox, invoke, tmp_path):
    box = sandbox.marketo
    box.add_lead(email="a@example.com")
    box.add_folder("Audiences")
    path = audience_csv(tmp_path, ["a@example.com"])
    result = invoke("sync-audience", path, "--list", "Segment VIP", "--create-list", "--folder", "Audiences",
                    "--json")
    assert result.exit_code == 0, result.output
    code, undone = undo(invoke, json.loads(result.stdout)["run_id"], "--delete-created")
    assert code == 0, undone
    assert box.list_members(box.list_id("Segment VIP")) == set()
    assert undone["counts"]["restored"] == 1
    assert undone["counts"]["created_kept"] == 1
    assert "list" in " ".join(undone["notes"])


def test_undo_last_skips_dry_runs_and_undos_so_running_it_again_never_undoes_the_undo(world, sandbox,  # noqa: F811
                                                                                       invoke, tmp_path):
    ids, list_id = world
    initial = snapshot(sandbox)
    report = sync(invoke, audience_csv(tmp_path, AUDIENCE[:4]))
    code, planned = undo(invoke, "last", "--dry-run")
    assert code == 0, planned
    assert planned["details"]["undoes"]["run_id"] == report["run_id"]
    code, undone = undo(invoke, "last")  # not the dry run just made: the sync
    assert code == 0, undone
    assert undone["details"]["undoes"]["run_id"] == report["run_id"]
    assert snapshot(sandbox) == initial
    code, again = undo(invoke, "last")  # again: still the sync, all done already; the undo is not undone
    assert code == 0, again
    assert again["details"]["undoes"]["run_id"] == report["run_id"]
    assert again["counts"]["already_undone"] == again["counts"]["changes"]
    assert snapshot(sandbox) == initial
    shown = json.loads(invoke("runs", "show", "last", "--json").stdout)
    assert shown["command"] == "runs undo"  # `runs show last` still names the newest run of any kind
