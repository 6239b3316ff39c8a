"""apply-events --plan-out and the change log: a dry run's write rows are the rows the real run then logged
(`runs show RUN --changes --plan-out`), in every plan-file format, with the rejects as reject rows."""

from __future__ import annotations

import json
import stat

import pytest

from segmarketo_cli.state.change_log import ACTIONS
from tests.apply_events.test_run import MESSAGES, world, write_export  # noqa: F401  (the fixture)
from tests.support.plan_files import read_plan


def writes(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows of writes, in a stable order (the log keeps the order Marketo confirmed them in)."""
    return sorted((row for row in rows if row["action"] in ACTIONS),
                  key=lambda row: (row["action"], row["key"], row["lead_id"], row["target"], row["field"]))


def test_a_dry_runs_plan_rows_are_the_real_runs_change_log(world, invoke, tmp_path):  # noqa: F811
    box, ids, rules = world
    export = write_export(tmp_path, MESSAGES)
    plan_file = tmp_path / "plan.csv"
    dry = invoke("apply-events", str(export), "--rules", str(rules), "--dry-run", "--plan-out", str(plan_file))
    assert dry.exit_code == 3, dry.output
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    planned = read_plan(plan_file)
    real = invoke("apply-events", str(export), "--rules", str(rules), "--json")
    assert real.exit_code == 3, real.output
    run_id = json.loads(real.stdout)["run_id"]
    done_file = tmp_path / "done.csv"
    shown = invoke("runs", "show", run_id, "--changes", "--plan-out", str(done_file))
    assert shown.exit_code == 0, shown.output
    logged = read_plan(done_file)

    assert writes(planned) == writes(logged)
    assert [row["action"] for row in logged if row["action"] not in ACTIONS] == []
    by_action: dict[str, int] = {}
    for row in writes(logged):
        by_action[row["action"]] = by_action.get(row["action"], 0) + 1
    assert by_action == {"score": 1, "update": 3, "unsubscribe": 2, "remove": 2, "status": 1, "campaign": 2}
    score = next(row for row in logged if row["action"] == "score")
    assert (score["key"], score["lead_id"], score["field"]) == ("ann@example.com", str(ids["ann"]), "productScore")
    assert (score["before"], score["after"]) == ("10", "18")
    assert score["origin"] == f"{export}:4"  # the first event that scored
    status = next(row for row in logged if row["action"] == "status")
    assert (status["target"], status["before"], status["after"]) == (str(ids["webinar"]), "unknown", "Registered")


def test_rejects_are_reject_rows_with_their_file_and_line(world, invoke, tmp_path):  # noqa: F811
    box, ids, rules = world
    export = write_export(tmp_path, [*MESSAGES[:4], *MESSAGES[11:14]])  # e1 scores; e9, e10, e11 are rejected
    with export.open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    plan_file = tmp_path / "plan.jsonl"
    dry = invoke("apply-events", str(export), "--rules", str(rules), "--dry-run", "--plan-out", str(plan_file))
    assert dry.exit_code == 3, dry.output
    rows = [json.loads(line) for line in plan_file.read_text(encoding="utf-8").splitlines()]
    assert [row["action"] for row in rows] == ["score", "reject", "reject", "reject", "reject"]  # rejects last
    rejected = {row["origin"]: row for row in rows if row["action"] == "reject"}
    assert sorted(rejected) == [f"{export}:{line}" for line in (5, 6, 7, 8)]
    assert rejected[f"{export}:5"]["reason"] == "usage: no email known for the person with userId u-nobody"
    assert rejected[f"{export}:6"]["reason"] == "usage: no Marketo lead with email ghost@example.com"
    bad_value = rejected[f"{export}:7"]  # refused when read, before the person is known: no key
    assert (bad_value["field"], bad_value["after"]) == ("mrr", "lots")
    assert bad_value["reason"] == "stage: field mrr: 'lots' is not currency (a number)"
    assert rejected[f"{export}:8"]["reason"].startswith("invalid JSON")  # no rule for a line that is not JSON


@pytest.mark.parametrize("suffix", [".parquet", ".xlsx"])
def test_parquet_and_xlsx_plans_hold_the_same_rows_as_csv(world, invoke, tmp_path, suffix):  # noqa: F811
    box, ids, rules = world
    export = write_export(tmp_path, MESSAGES)
    plans = {}
    for extension in (".csv", suffix):
        path = tmp_path / f"plan{extension}"
        result = invoke("apply-events", str(export), "--rules", str(rules), "--dry-run", "--plan-out", str(path))
        assert result.exit_code == 3, result.output
        plans[extension] = read_plan(path)
    assert plans[suffix] == plans[".csv"]
    assert len(plans[".csv"]) == 11 + 3  # eleven changes, three rejects


def test_a_real_runs_plan_file_holds_the_rows_it_then_logged(world, invoke, tmp_path):  # noqa: F811
    box, ids, rules = world
    export = write_export(tmp_path, MESSAGES)
    plan_file = tmp_path / "plan.jsonl"
    real = invoke("apply-events", str(export), "--rules", str(rules), "--plan-out", str(plan_file), "--json")
    assert real.exit_code == 3, real.output
    report = json.loads(real.stdout)
    assert report["details"]["plan_rows"] == {"score": 1, "unsubscribe": 2, "update": 3, "remove": 2, "status": 1,
                                              "campaign": 2}
    planned = [json.loads(line) for line in plan_file.read_text(encoding="utf-8").splitlines()]
    done_file = tmp_path / "done.jsonl"
    assert invoke("runs", "show", report["run_id"], "--changes", "--plan-out", str(done_file)).exit_code == 0
    logged = [json.loads(line) for line in done_file.read_text(encoding="utf-8").splitlines()]
    assert writes(planned) == writes(logged)
    assert len(writes(logged)) == 11
    assert [row["action"] for row in planned[11:]] == ["reject"] * 3
