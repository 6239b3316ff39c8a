"""sync-audience's plan file against its change log: a dry run's rows are what the real run then logged."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.jobs.changes import plan_rows
from segmarketo_cli.jobs.sync_audience import execute_create
from tests.sync_audience.test_cli import audience_csv, world  # noqa: F401  (the fixture)

COMPARED = ("key", "action", "target", "field", "after")
WRITES = ("create", "add", "remove")


def logged_rows(run_id: str) -> list[dict[str, str]]:
    """The run's change log as plan rows."""
    app = AppContext()
    try:
        return list(plan_rows(app.store.change_log.changes(run_id)))
    finally:
        app.close()


def planned_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def compared(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return sorted(tuple(row[name] for name in COMPARED) for row in rows if row["action"] in WRITES)


@pytest.mark.parametrize("creation", ["createOnly", "bulk import"])
def test_a_dry_runs_plan_rows_are_the_real_runs_change_log(world, sandbox, invoke, tmp_path,  # noqa: F811
                                                           monkeypatch, creation):
    ids, list_id = world
    if creation == "bulk import":
        monkeypatch.setattr(execute_create, "BULK_CREATE_MIN", 2)
        monkeypatch.setattr(execute_create, "IMPORT_POLL_S", (0.0,))
    path = audience_csv(tmp_path, ["p0@example.com", "p1@example.com", "p5@example.com", "p6@example.com",
                                   "new1@example.com", "new2@example.com", "not-an-email"])
    args = ("sync-audience", path, "--list", "VIP", "--create-missing", "--force", "--json")
    plan_file = tmp_path / "plan.csv"
    dry = invoke(*args, "--dry-run", "--plan-out", str(plan_file))
    assert dry.exit_code == 3, dry.output  # the rejected row
    planned = planned_rows(plan_file)
    real = invoke(*args)
    assert real.exit_code == 3, real.output
    logged = logged_rows(json.loads(real.stdout)["run_id"])

    assert compared(planned) == compared(logged)
    assert compared(logged) == sorted([
        *[(f"new{i}@example.com", "create", "", "email", f"new{i}@example.com") for i in (1, 2)],
        *[(key, "add", str(list_id), "", "") for key in ("p0@example.com", "p1@example.com", "p1@example.com",
                                                          "new1@example.com", "new2@example.com")],
        *[(f"p{i}@example.com", "remove", str(list_id), "", "") for i in (7, 8, 9)]])
    assert [(r["action"], r["key"], r["reason"]) for r in planned if r["action"] == "reject"] == [
        ("reject", "not-an-email", "not an e-mail address (key: email)")]
    new = {sandbox.marketo.find_leads("email", f"new{i}@example.com")[0]["id"] for i in (1, 2)}
    expected = {ids["p0"], ids["p1"], ids["p1-dup"], ids["p5"], ids["p6"], *new}
    assert sandbox.marketo.list_members(list_id) == expected
    by_action = {(r["action"], r["lead_id"]) for r in logged}
    if creation == "createOnly":  # Marketo answered with the new ids
        assert {("create", str(i)) for i in new} <= by_action
        assert {("add", str(i)) for i in expected - {ids["p5"], ids["p6"]}} <= by_action
    else:  # Bulk Import's files name no lead ids
        assert {lead_id for action, lead_id in by_action if action == "create"} == {""}
    assert {("remove", str(ids[f"p{i}"])) for i in (7, 8, 9)} <= by_action
    assert all(r["reason"].endswith("(key: email)") for r in logged)
    origins = {r["key"]: r["origin"] for r in logged if r["action"] == "add"}
    assert origins["p0@example.com"] == f"{path}:2"


def test_a_list_the_run_creates_is_logged_and_its_adds_name_it(sandbox, invoke, tmp_path):
    box = sandbox.marketo
    a = box.add_lead(email="a@example.com")
    folder = box.add_folder("Audiences")
    path = audience_csv(tmp_path, ["a@example.com"])
    args = ("sync-audience", path, "--list", "Segment VIP", "--create-list", "--folder", "Audiences", "--json")
    plan_file = tmp_path / "plan.csv"
    dry = invoke(*args, "--dry-run", "--plan-out", str(plan_file))
    assert dry.exit_code == 0, dry.output
    assert [(r["action"], r["key"], r["target"], r["lead_id"]) for r in planned_rows(plan_file)] == [
        ("create", "Segment VIP", "list:", ""), ("add", "a@example.com", "", str(a))]
    real = invoke(*args)
    assert real.exit_code == 0, real.output
    list_id = box.list_id("Segment VIP")
    logged = logged_rows(json.loads(real.stdout)["run_id"])
    assert [(r["action"], r["key"], r["target"], r["lead_id"], r["reason"]) for r in logged] == [
        ("create", "Segment VIP", f"list:{list_id}", "", f"--create-list in folder {folder}"),
        ("add", "a@example.com", str(list_id), str(a), "in audience (key: email)")]


def test_an_add_that_replaced_a_stale_id_is_logged_with_its_person(world, sandbox, invoke, tmp_path):  # noqa: F811
    ids, list_id = world
    app = AppContext()
    app.store.remember_lead_ids(sandbox.url, "email", [("p0@example.com", [987654])])  # a lead merged away
    app.close()
    path = audience_csv(tmp_path, [f"p{i}@example.com" for i in (0, 5, 6, 7, 8, 9)])
    result = invoke("sync-audience", path, "--list", "VIP", "--json")
    assert result.exit_code == 0, result.output
    logged = logged_rows(json.loads(result.stdout)["run_id"])
    assert [(r["action"], r["key"], r["lead_id"], r["origin"]) for r in logged] == [
        ("add", "p0@example.com", str(ids["p0"]), f"{path}:2")]


def test_a_run_that_changes_nothing_logs_nothing_and_a_dry_run_logs_nothing(world, sandbox, invoke,  # noqa: F811
                                                                             tmp_path):
    path = audience_csv(tmp_path, [f"p{i}@example.com" for i in range(5, 10)])
    for extra in ((), ("--dry-run",)):
        result = invoke("sync-audience", path, "--list", "VIP", "--json", *extra)
        assert result.exit_code == 0, result.output
        assert logged_rows(json.loads(result.stdout)["run_id"]) == []
    dry = invoke("sync-audience", audience_csv(tmp_path, ["p0@example.com"], "one.csv"), "--list", "VIP",
                 "--mode", "add-only", "--dry-run", "--json")
    assert json.loads(dry.stdout)["counts"]["added"] == 1
    assert logged_rows(json.loads(dry.stdout)["run_id"]) == []
