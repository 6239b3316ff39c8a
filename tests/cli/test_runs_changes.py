"""`runs show RUN --changes`, `runs prune --older-than` and the keep_changes retention every real run applies."""

from __future__ import annotations

import csv
import json
import time

import pytest

from segmarketo_cli import paths
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.state import StateStore
from segmarketo_cli.state.change_log import UNKNOWN, Change

INSTANCE = "https://123-abc-456.mktorest.com"
DAY = 86400.0


def logged_run(run_id: str, changes: list[Change], *, started: float, dry_run: bool = False) -> None:
    store = StateStore(paths.state_dir(), "default")
    try:
        store.start_run(run_id, "backfill-leads", started)
        store.change_log.writer(run_id, INSTANCE).record(changes)
        report = RunReport(command="backfill-leads", run_id=run_id, dry_run=dry_run)
        store.finish_run(run_id, "ok", report.to_dict())
    finally:
        store.close()


def updates(n: int) -> list[Change]:
    return [Change("update", f"p{i}@example.com", 100 + i, fields={"firstName": (f"Old{i}", f"New{i}")},
                   origin=f"people.csv:{i + 2}") for i in range(n)]


@pytest.fixture
def big_run() -> str:
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 3600)) + "-aaaaaa"
    logged_run(run_id, [*updates(24), Change("create", "new@example.com", 900,
                                             fields={"email": (None, "new@example.com"), "company": (None, "Acme")}),
                        Change("add", "p0@example.com", 100, target="1001"),
                        Change("update", "p1@example.com", 101, fields={"company": (UNKNOWN, "Bobco")})],
               started=time.time() - 3600)
    return run_id


def test_show_changes_counts_per_action_then_the_first_rows(invoke, big_run):
    result = invoke("runs", "show", big_run[:20], "--changes")
    assert result.exit_code == 0, result.output
    assert f"backfill-leads run {big_run}: add 1, create 1, update 25" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KEY", "/", "LEAD", "ACTION", "TARGET", "FIELD", "BEFORE", "→", "AFTER"]
    assert lines[2].split() == ["p0@example.com", "/", "100", "update", "firstName", "Old0", "→", "New0"]
    assert len([line for line in lines if "@example.com" in line]) == 20
    assert lines[-1] == "… and 8 more (write all with --plan-out FILE)"


def test_show_changes_plan_out_writes_every_row(invoke, big_run, tmp_path):
    out = tmp_path / "changes.csv"
    result = invoke("runs", "show", big_run, "--changes", "--plan-out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"… and 8 more (all 28 rows in {out})"
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 28
    assert rows[0] == {"key": "p0@example.com", "lead_id": "100", "action": "update", "target": "",
                       "field": "firstName", "before": "Old0", "after": "New0", "reason": "", "origin": "people.csv:2"}
    assert rows[24]["action"] == "create"
    assert rows[26] == {"key": "p0@example.com", "lead_id": "100", "action": "add", "target": "1001", "field": "",
                        "before": "", "after": "", "reason": "", "origin": ""}
    assert rows[27]["before"] == "unknown"
    assert out.stat().st_mode & 0o777 == 0o600


def test_show_changes_json(invoke, big_run):
    data = json.loads(invoke("runs", "show", big_run, "--changes", "--json").stdout)
    assert data["counts"] == {"add": 1, "create": 1, "update": 25}
    assert len(data["changes"]) == 20


def test_show_changes_of_a_run_without_changes_says_so_in_one_line(invoke):
    logged_run("20261101T100000Z-bbbbbb", [], started=time.time() - 60, dry_run=True)
    result = invoke("runs", "show", "20261101T100000Z-bbbbbb", "--changes")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.strip() == "run 20261101T100000Z-bbbbbb has no changes in the log (it was a dry run)"


def test_plan_out_without_changes_is_a_usage_error(invoke, big_run, tmp_path):
    result = invoke("runs", "show", big_run, "--plan-out", str(tmp_path / "x.csv"))
    assert result.exit_code == 2
    assert "--plan-out goes with --changes" in result.stderr


def test_prune_drops_the_change_logs_of_old_runs_and_keeps_the_runs(invoke, big_run):
    old = "20260101T100000Z-cccccc"
    logged_run(old, updates(3), started=time.time() - 120 * DAY)
    dry = invoke("runs", "prune", "--older-than", "90d", "--dry-run")
    assert dry.exit_code == 0
    assert dry.stderr.startswith("would drop the change logs of 1 run(s) (3 changes) started before ")
    assert "update 3" in invoke("runs", "show", old, "--changes").stderr
    result = invoke("runs", "prune", "--older-than", "90d", "--json")
    data = json.loads(result.stdout)
    assert data["runs"] == 1
    assert data["changes"] == 3
    assert data["dry_run"] is False
    assert "has no changes in the log" in invoke("runs", "show", old, "--changes").stderr
    assert invoke("runs", "show", old).exit_code == 0  # the run and its report stay
    assert "update 25" in invoke("runs", "show", big_run, "--changes").stderr


@pytest.mark.parametrize("age", ["ninety", "0d", "90", "-3d"])
def test_prune_refuses_bad_durations_with_exit_2_in_one_line(invoke, age):
    result = invoke("runs", "prune", "--older-than", age)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "is not a duration" in result.stderr


def test_a_real_run_drops_changes_older_than_keep_changes(invoke, sandbox, tmp_path, monkeypatch):
    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 10 * DAY)) + "-dddddd"
    recent = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 2 * DAY)) + "-eeeeee"
    logged_run(old, updates(2), started=time.time() - 10 * DAY)
    logged_run(recent, updates(2), started=time.time() - 2 * DAY)
    monkeypatch.setenv("SEGMARKETO_KEEP_CHANGES", "7d")
    sandbox.marketo.add_list("VIP")
    audience = tmp_path / "audience.csv"
    audience.write_text("email\n", encoding="utf-8")
    invoke("sync-audience", str(audience), "--list", "VIP", "--dry-run")
    assert "update 2" in invoke("runs", "show", old, "--changes").stderr  # a dry run drops nothing
    invoke("sync-audience", str(audience), "--list", "VIP")
    assert "has no changes in the log" in invoke("runs", "show", old, "--changes").stderr
    assert "update 2" in invoke("runs", "show", recent, "--changes").stderr


def test_a_bad_keep_changes_is_exit_2_in_one_line(invoke, monkeypatch):
    monkeypatch.setenv("SEGMARKETO_KEEP_CHANGES", "forever")
    result = invoke("runs", "list")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("segmarketo: error: environment variable SEGMARKETO_KEEP_CHANGES: "
                                     "'keep_changes' 'forever' is not a duration (e.g. 90d, 12w, 24h)")
