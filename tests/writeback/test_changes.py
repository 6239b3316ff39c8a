"""writeback's plan file against its change log: a dry run's rows are what the real run then logged."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from segmarketo_cli import paths
from segmarketo_cli.endpoints import munchkin_id
from segmarketo_cli.jobs.changes import plan_rows
from segmarketo_cli.state import StateStore
from tests.support.plan_files import read_plan
from tests.support.writeback_helpers import EXPECTED_EVENT, NOW, iso, populate


@pytest.fixture(autouse=True)
def user_id_field(monkeypatch):
    monkeypatch.setenv("SEGMARKETO_USER_ID_FIELD", "segmentUserId")


def report_of(result) -> dict:
    return json.loads(result.stdout[result.stdout.index("{\n"):])


def logged_rows(run_id: str) -> list[dict[str, str]]:
    store = StateStore(paths.state_dir(), "default")
    try:
        return list(plan_rows(store.change_log.changes(run_id)))
    finally:
        store.close()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_dry_runs_plan_rows_are_the_real_runs_change_log(sandbox, invoke, tmp_path, suffix):
    made = populate(sandbox, 12)
    plan_file = tmp_path / f"events{suffix}"
    dry = invoke("writeback", "--since", "3d", "--dry-run", "--plan-out", str(plan_file), "--json")
    assert dry.exit_code == 0, dry.output
    assert report_of(dry)["counts"]["written"] == len(made)
    assert sandbox.segment.requests == 0
    planned = read_plan(plan_file)

    real = invoke("writeback", "--since", "3d", "--json")
    assert real.exit_code == 0, real.output
    logged = logged_rows(report_of(real)["run_id"])
    assert planned == logged

    munchkin = munchkin_id(sandbox.url)
    accepted = {m["messageId"]: m for m in sandbox.segment.accepted}
    assert [row["key"] for row in logged] == [f"mkto-{munchkin}-{guid}" for guid, _, _ in made]
    for row, (guid, type_name, lead) in zip(logged, made, strict=True):
        user = sandbox.marketo.lead(lead).get("segmentUserId")
        assert (row["action"], row["lead_id"], row["target"]) == ("event", str(lead), EXPECTED_EVENT[type_name])
        assert (row["field"], row["before"], row["after"]) == ("", "", user or f"marketo:{lead}")
        assert (row["reason"], row["origin"]) == (type_name, f"marketo activity {guid}")
        message = accepted[row["key"]]
        assert row["after"] == (message.get("userId") or message["anonymousId"])


def test_only_events_segment_accepted_are_logged(sandbox, invoke, tmp_path):
    made = populate(sandbox, 5)
    lead = sandbox.marketo.leads[0]["id"]
    huge = sandbox.marketo.add_activity(lead, "Open Email", iso(NOW - timedelta(hours=1)),
                                        primary_attribute_value_id=7, attributes={"User Agent": "x" * 40_000})
    result = invoke("writeback", "--since", "3d", "--rejects", str(tmp_path / "rejects.jsonl"), "--json")
    assert result.exit_code == 3, result.output
    logged = logged_rows(report_of(result)["run_id"])
    assert len(logged) == len(made) == report_of(result)["counts"]["sent"]
    assert {row["key"] for row in logged} == {m["messageId"] for m in sandbox.segment.accepted}
    assert all(huge not in row["origin"] for row in logged)


def test_plan_out_without_dry_run_and_its_old_name_send_nothing_and_keep_the_cursor(sandbox, invoke, tmp_path):
    made = populate(sandbox, 6)
    for flag in ("--plan-out", "--out"):
        plan_file = tmp_path / f"plan{flag}.xlsx"
        result = invoke("writeback", "--since", "3d", flag, str(plan_file), "--json")
        assert result.exit_code == 0, result.output
        assert report_of(result)["counts"]["written"] == len(made)
        assert len(read_plan(plan_file)) == len(made)
        assert logged_rows(report_of(result)["run_id"]) == []
    assert sandbox.segment.requests == 0
    assert invoke("writeback").exit_code == 2  # no cursor was stored


def test_plan_out_and_payloads_out_together_describe_the_same_events(sandbox, invoke, tmp_path):
    made = populate(sandbox, 7)
    plan_file, payloads = tmp_path / "plan.jsonl", tmp_path / "batches.jsonl"
    result = invoke("writeback", "--since", "3d", "--plan-out", str(plan_file), "--payloads-out", str(payloads),
                    "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in plan_file.read_text().splitlines()]
    sent = [m for line in payloads.read_text().splitlines() for m in json.loads(line)["batch"]]
    assert len(rows) == len(sent) == len(made)
    assert [row["key"] for row in rows] == [m["messageId"] for m in sent]
    assert sandbox.segment.requests == 0
