"""--json: stdout is exactly one JSON document, whatever the command, dry run or not."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli.cli.demo_steps import demo_steps
from segmarketo_cli.paths import sample_data_dir

SAMPLES = sample_data_dir()
STEPS = {step.command: step for step in demo_steps(SAMPLES)}
JOBS = [(command, STEPS[command].args) for command in ("backfill-leads", "sync-audience", "apply-events",
                                                        "writeback")]


def one_document(stdout: str) -> object:
    """The one JSON value on stdout; json.loads refuses anything before or after it ("Extra data")."""
    return json.loads(stdout)


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "apply"])
@pytest.mark.parametrize(("command", "args"), JOBS, ids=[command for command, _ in JOBS])
def test_every_job_prints_one_report(sandbox, invoke, command, args, dry_run):
    sandbox.load_seed(SAMPLES / "sandbox")
    result = invoke(command, *args, *(["--dry-run"] if dry_run else []), "--json")
    assert result.exit_code in STEPS[command].expected, result.output
    report = one_document(result.stdout)
    assert isinstance(report, dict)
    assert report["command"] == command
    assert report["dry_run"] is dry_run


def test_writeback_dry_run_events_stay_off_stdout_with_json(sandbox, invoke):
    sandbox.load_seed(SAMPLES / "sandbox")
    printed = invoke("writeback", *STEPS["writeback"].args, "--dry-run")
    events = [json.loads(line) for line in printed.stdout.splitlines()]
    assert events
    assert all(event["type"] == "track" for event in events)
    reported = one_document(invoke("writeback", *STEPS["writeback"].args, "--dry-run", "--json").stdout)
    assert isinstance(reported, dict)
    assert reported["counts"]["printed"] == len(events)
    assert sandbox.segment.requests == 0


def test_writeback_payloads_out_takes_the_payloads_and_stdout_the_report(sandbox, invoke, tmp_path):
    sandbox.load_seed(SAMPLES / "sandbox")
    payloads = tmp_path / "batches.jsonl"
    result = invoke("writeback", *STEPS["writeback"].args, "--payloads-out", str(payloads), "--json")
    assert result.exit_code == 0, result.output
    report = one_document(result.stdout)
    assert isinstance(report, dict)
    batches = [json.loads(line) for line in payloads.read_text().splitlines()]
    assert sum(len(batch["batch"]) for batch in batches) == report["counts"]["written"]


def test_setup_commands_print_one_document(sandbox, invoke):
    sandbox.load_seed(SAMPLES / "sandbox")
    job = one_document(invoke("backfill-leads", *STEPS["backfill-leads"].args, "--json").stdout)
    assert isinstance(job, dict)
    for argv in (("doctor", "--json"), ("auth", "status", "--json"), ("runs", "list", "--json"),
                 ("runs", "show", job["run_id"], "--json")):
        result = invoke(*argv)
        assert isinstance(one_document(result.stdout), (dict, list)), argv


def test_demo_json_is_one_document_with_each_steps_report(invoke):
    result = invoke("demo", "--json")
    assert result.exit_code == 0, result.output
    document = one_document(result.stdout)
    assert isinstance(document, dict)
    assert document["ok"] is True
    assert [step["command"] for step in document["steps"]] == ["backfill-leads", "sync-audience", "apply-events",
                                                               "writeback", "runs undo"]
    for step in document["steps"]:
        assert step["as_designed"] is True
        assert step["report"]["command"] == step["command"]
        assert step["report"]["status"] in ("ok", "partial")
    assert document["changes"]["leads"]["created"] > 0
    undo = document["steps"][-1]["report"]["counts"]  # a dry run of undoing the audience sync: all reversible
    sync = document["steps"][1]["report"]["counts"]
    assert undo["changes"] == sync["added"] + sync["removed"]
    assert undo["restored"] + undo["unchanged"] == undo["changes"]
    assert undo["conflicts"] == 0
    assert document["rejected"]["backfill-leads"][0]["origin"].startswith("sample_data/identifies.jsonl.gz:")
