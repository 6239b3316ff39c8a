"""Every log line of a job (text and JSON) carries run_id, profile and command; the summary line has the counts."""

from __future__ import annotations

import json
import logging

from segmarketo_cli.logs import JsonLineFormatter, RedactingFormatter, RunFieldsFilter, run_fields
from segmarketo_cli.paths import sample_data_dir

IDENTIFIES = str(sample_data_dir() / "identifies.jsonl.gz")


def record(msg: str) -> logging.LogRecord:
    rec = logging.LogRecord("segmarketo.job", logging.INFO, __file__, 1, msg, (), None)
    RunFieldsFilter().filter(rec)
    return rec


def test_json_log_lines_all_carry_the_run(invoke, sandbox, tmp_path):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    log_file = tmp_path / "run.jsonl"
    result = invoke("-vv", "--log-format", "json", "--log-file", str(log_file), "backfill-leads", IDENTIFIES,
                    "--json")
    assert result.exit_code == 3
    run_id = json.loads(result.stdout)["run_id"]
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert len(lines) > 10
    assert {(line.get("run_id"), line.get("profile"), line.get("command")) for line in lines} == {
        (run_id, "default", "backfill-leads")}
    [summary] = [line for line in lines if line.get("event") == "summary"]
    assert summary["msg"].startswith("backfill-leads finished: partial — 325 messages read, ")
    assert summary["msg"].endswith(f", 2 leads rejected, 23 cookies associated, run {run_id}")


def test_text_log_lines_end_with_the_run(invoke, sandbox, tmp_path):
    log_file = tmp_path / "run.log"
    result = invoke("--log-file", str(log_file), "--profile", "default", "backfill-leads", IDENTIFIES)
    assert result.exit_code == 3
    lines = log_file.read_text().splitlines()
    run_id = lines[-1].rsplit("[run=", 1)[1].split(" ", 1)[0]
    assert all(line.endswith(f" [run={run_id} profile=default command=backfill-leads]") for line in lines)
    summary = next(line for line in lines if "finished:" in line)
    assert " INFO segmarketo.job: backfill-leads finished: partial — 325 messages read, " in summary
    assert "2 leads rejected" in summary


def test_lines_outside_a_job_carry_no_run_fields():
    text = RedactingFormatter("%(message)s")
    assert text.format(record("hello")) == "hello"
    assert "run_id" not in json.loads(JsonLineFormatter().format(record("hello")))
    with run_fields("R1", "p", "writeback"):
        assert text.format(record("hello")) == "hello [run=R1 profile=p command=writeback]"
        payload = json.loads(JsonLineFormatter().format(record("hello")))
        assert (payload["run_id"], payload["profile"], payload["command"]) == ("R1", "p", "writeback")
    assert text.format(record("hello")) == "hello"
