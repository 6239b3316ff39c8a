"""Logging for cron: --log-file/--log-format give one line per batch and a summary per job, redacted, no TTY noise."""

from __future__ import annotations

import json
from collections import Counter

from segmarketo_cli.paths import sample_data_dir
from tests.support.sandbox_env import SANDBOX_CLIENT_SECRET, SANDBOX_WRITE_KEY


def test_json_log_file_has_a_line_per_batch_and_a_summary_per_job(invoke, tmp_path):
    log_file = tmp_path / "logs" / "segmarketo.jsonl"
    result = invoke("--log-file", str(log_file), "--log-format", "json", "demo")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    batches = Counter((line["logger"], line.get("call", "segment")) for line in lines if line.get("event") == "batch")
    assert batches[("segmarketo.backfill", "sync_leads")] >= 1
    assert batches[("segmarketo.audience", "add_to_list")] >= 1
    assert batches[("segmarketo.audience", "remove_from_list")] >= 1
    assert batches[("segmarketo.apply_events", "sync_leads")] >= 1
    assert batches[("segmarketo.apply_events", "program_status")] >= 1
    assert batches[("segmarketo.apply_events", "request_campaign")] >= 1
    assert batches[("segmarketo.writeback", "segment")] >= 1
    summaries = [line for line in lines if line.get("event") == "summary"]
    assert [s["command"] for s in summaries] == ["backfill-leads", "sync-audience", "apply-events", "writeback",
                                                 "runs undo"]
    assert all(s["level"] == "info" for s in summaries)
    assert all(s["counts"] for s in summaries)
    sync = next(line for line in lines if line.get("call") == "sync_leads" and line["logger"] == "segmarketo.backfill")
    assert sync["records"] == sync.get("created", 0) + sync.get("updated", 0) + sync.get("rejected", 0)
    assert oct(log_file.stat().st_mode & 0o777) == "0o600"
    # Not a terminal: no progress bars, no colour codes.
    assert "\r" not in result.stderr
    assert "\x1b[" not in result.output


def test_text_log_file_redacts_secrets(invoke, sandbox, tmp_path):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    log_file = tmp_path / "cron.log"
    result = invoke("-v", "--log-file", str(log_file), "backfill-leads", str(sample_data_dir() / "identifies.jsonl.gz"))
    assert result.exit_code == 3
    text = log_file.read_text()
    assert "INFO segmarketo.backfill: sync leads batch: " in text
    assert "INFO segmarketo.job: backfill-leads finished: partial" in text
    assert SANDBOX_CLIENT_SECRET not in text + result.output
    assert SANDBOX_WRITE_KEY not in text + result.output
    # -v logs every HTTP call: the token the sandbox issued, and any Authorization header, stay out of it.
    assert "POST /identity/oauth/token -> 200" in text
    tokens = list(sandbox.identity.known)
    assert tokens
    for token in tokens:
        assert token not in text + result.output
    assert "Bearer" not in text
