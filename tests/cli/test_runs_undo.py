"""`segmarketo runs undo RUN` against the sandbox: change logs written as the jobs write them (Change rows plus the
sandbox state the run left), then undone."""

from __future__ import annotations

import csv
import json
import time

import pytest

from segmarketo_cli import paths
from segmarketo_cli.endpoints import normalize_endpoint
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.state import StateStore
from segmarketo_cli.state.change_log import UNKNOWN, Change

RUN = "20261201T100000Z-aaaaaa"


def logged_run(instance: str, changes: list[Change], *, run_id: str = RUN, command: str = "backfill-leads",
               status: str = "ok", started: float | None = None) -> None:
    """Record a finished run of `command` whose change log holds `changes`."""
    store = StateStore(paths.state_dir(), "default")
    try:
        store.start_run(run_id, command, started or time.time() - 60)
        store.change_log.writer(run_id, instance).record(changes)
        if status != "running":
            report = RunReport(command=command, run_id=run_id)
            store.finish_run(run_id, status, report.to_dict())
    finally:
        store.close()


@pytest.fixture
def instance(sandbox) -> str:
    return normalize_endpoint(sandbox.url)


@pytest.fixture
def world(sandbox, instance):
    """Three leads a backfill updated (ada, bob) and created (cyd), a list it added ada to and removed bob from, a
    score apply-events raised, and a program status it set."""
    mk = sandbox.marketo
    ada = mk.add_lead(email="ada@example.com", firstName="Ada", company="Acme 2", leadScore=15)
    bob = mk.add_lead(email="bob@example.com", firstName="Robert", company="Bobco")
    cyd = mk.add_lead(email="cyd@example.com", firstName="Cyd")
    vip = mk.add_list("VIP")
    mk.add_to_list(vip, [ada])
    logged_run(instance, [
        Change("update", "ada@example.com", ada, fields={"company": ("Acme", "Acme 2"),
                                                         "firstName": (None, "Ada")}),
        Change("update", "bob@example.com", bob, fields={"firstName": ("Bob", "Robert"),
                                                         "company": (UNKNOWN, "Bobco")}),
        Change("create", "cyd@example.com", cyd, fields={"email": (None, "cyd@example.com"),
                                                         "firstName": (None, "Cyd")}),
        Change("add", "ada@example.com", ada, target=str(vip)),
        Change("remove", "bob@example.com", bob, target=str(vip)),
        Change("score", "ada@example.com", ada, fields={"leadScore": (5, 15)}),
        Change("status", "ada@example.com", ada, target="1001", fields={"status": ("Invited", "Registered")}),
    ])
    return {"ada": ada, "bob": bob, "cyd": cyd, "vip": vip}


def test_undo_restores_the_exact_earlier_values_and_reverses_lists_and_scores(invoke, sandbox, world):
    result = invoke("runs", "undo", RUN, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    mk = sandbox.marketo
    ada, bob = mk.lead(world["ada"]), mk.lead(world["bob"])
    assert ada["company"] == "Acme"
    assert "firstName" not in ada  # it had none before the run
    assert ada["leadScore"] == 5
    assert bob["firstName"] == "Bob"
    assert bob["company"] == "Bobco"  # before unknown: listed, not restored
    assert mk.list_members(world["vip"]) == {world["bob"]}
    assert mk.lead(world["cyd"]) is not None  # created leads stay without --delete-created
    counts = report["counts"]
    assert counts["changes"] == 9
    assert counts["restored"] == 6
    assert counts["before_unknown"] == 1
    assert counts["created_kept"] == 1
    assert counts["not_reversible"] == 1
    assert counts["conflicts"] == 0
    assert "imbalances" not in report
    assert report["status"] == "ok"


def test_a_field_changed_in_between_is_a_conflict_and_left_alone(invoke, sandbox, world):
    sandbox.marketo.store.update(world["ada"], {"company": "Acme Renamed"})
    result = invoke("runs", "undo", RUN, "--json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["counts"]["conflicts"] == 1
    assert report["status"] == "partial"
    ada = sandbox.marketo.lead(world["ada"])
    assert ada["company"] == "Acme Renamed"
    assert "firstName" not in ada  # the other field of the same change is restored
    with open(report["rejects_file"], encoding="utf-8") as handle:
        rejects = [json.loads(line) for line in handle]
    assert rejects == [{"reason": "conflict: changed since: Marketo holds 'Acme Renamed', the run wrote 'Acme 2'",
                        "lead_id": world["ada"], "field": "company", "current": "Acme Renamed",
                        "origin": f"{RUN}#1"}]


def test_a_second_undo_changes_nothing_and_never_subtracts_a_score_twice(invoke, sandbox, world):
    assert invoke("runs", "undo", RUN).exit_code == 0
    sandbox.marketo.store.update(world["ada"], {"leadScore": 40})  # a person adds points after the undo
    second = invoke("runs", "undo", RUN, "--json")
    assert second.exit_code == 0, second.output
    counts = json.loads(second.stdout)["counts"]
    assert counts["already_undone"] == 6
    assert counts["restored"] == 0
    assert sandbox.marketo.lead(world["ada"])["leadScore"] == 40
    assert "undone by an earlier undo" in " ".join(json.loads(second.stdout)["notes"])


def test_dry_run_writes_nothing_and_its_plan_equals_the_real_runs_change_log(invoke, sandbox, world, tmp_path):
    before = {lead["id"]: dict(lead) for lead in sandbox.marketo.leads}
    dry = invoke("runs", "undo", RUN, "--dry-run", "--plan-out", str(tmp_path / "plan.csv"))
    assert dry.exit_code == 0, dry.output
    assert "Undo plan (dry run, nothing written)" in dry.stdout
    assert "Acme 2 → Acme" in dry.stdout
    assert {lead["id"]: dict(lead) for lead in sandbox.marketo.leads} == before
    assert sandbox.marketo.list_members(world["vip"]) == {world["ada"]}
    with open(tmp_path / "plan.csv", newline="", encoding="utf-8") as handle:
        planned = list(csv.DictReader(handle))
    assert [row["action"] for row in planned] == ["update", "update", "update", "before-unknown", "created-kept",
                                                  "remove", "add", "score", "not-reversible"]
    real = json.loads(invoke("runs", "undo", RUN, "--json").stdout)
    shown = invoke("runs", "show", real["run_id"], "--changes", "--plan-out", str(tmp_path / "done.csv"))
    assert shown.exit_code == 0, shown.output
    with open(tmp_path / "done.csv", newline="", encoding="utf-8") as handle:
        done = list(csv.DictReader(handle))
    writes = [row for row in planned if row["action"] in ("update", "add", "remove", "score", "delete")]
    def order(row: dict[str, str]) -> tuple[str, str]:
        return row["origin"], row["field"]

    assert sorted(done, key=order) == sorted(writes, key=order)  # the log is in the order Marketo confirmed


def test_delete_created_deletes_exactly_the_created_leads(invoke, sandbox, world):
    result = invoke("runs", "undo", RUN, "--delete-created", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["deleted"] == 1
    assert sandbox.marketo.lead(world["cyd"]) is None
    assert sandbox.marketo.lead(world["ada"]) is not None
    assert sandbox.marketo.lead(world["bob"]) is not None


def test_undoing_an_undo_puts_the_runs_values_back(invoke, sandbox, world):
    undo = json.loads(invoke("runs", "undo", RUN, "--json").stdout)
    result = invoke("runs", "undo", undo["run_id"], "--json")
    assert result.exit_code == 0, result.output
    ada = sandbox.marketo.lead(world["ada"])
    assert ada["company"] == "Acme 2"
    assert ada["firstName"] == "Ada"
    assert ada["leadScore"] == 15
    assert sandbox.marketo.list_members(world["vip"]) == {world["ada"]}


def test_undo_refuses_unknown_running_and_other_instance_runs_with_exit_2(invoke, sandbox, instance):
    unknown = invoke("runs", "undo", "nope")
    assert unknown.exit_code == 2
    assert unknown.stderr.strip() == ("segmarketo: error: no run 'nope' in profile 'default' "
                                      "(see 'segmarketo runs list')")
    logged_run(instance, [Change("add", "a@example.com", 1, target="5")], run_id="20261202T100000Z-bbbbbb",
               status="running")
    running = invoke("runs", "undo", "20261202T100000Z-bbbbbb")
    assert running.exit_code == 2
    assert "is still running" in running.stderr
    logged_run("https://123-abc-456.mktorest.com", [Change("add", "a@example.com", 1, target="5")],
               run_id="20261203T100000Z-cccccc")
    other = invoke("runs", "undo", "20261203T100000Z-cccccc")
    assert other.exit_code == 2
    assert "wrote to Marketo instance https://123-abc-456.mktorest.com" in other.stderr
    for result in (unknown, running, other):
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_undo_of_a_run_without_changes_says_so(invoke, sandbox, instance):
    logged_run(instance, [], run_id="20261204T100000Z-dddddd")
    result = invoke("runs", "undo", "20261204T100000Z-dddddd")
    assert result.exit_code == 2
    assert "nothing to undo in run 20261204T100000Z-dddddd" in result.stderr
