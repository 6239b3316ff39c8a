"""--quiet for cron: one summary line with the counts, errors still shown, --json alone on stdout; the report's
line of Marketo calls today."""

from __future__ import annotations

import json
import re
import sys
import types

import click
import pytest

from segmarketo_cli.cli import main as cli_main
from segmarketo_cli.cli.jobrun import run_job
from segmarketo_cli.errors import ServiceUnavailable
from segmarketo_cli.paths import sample_data_dir

SUMMARY = re.compile(r"^backfill-leads finished: (\w+) — (.+), run (\S+)$")


@pytest.fixture
def clean_input(tmp_path):
    """Two identify messages Marketo accepts: a run over them ends ok."""
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps({"type": "identify", "userId": f"u{i}", "messageId": f"m{i}",
                                        "timestamp": "2026-10-01T00:00:00Z",
                                        "traits": {"email": f"person{i}@example.com"}}) + "\n" for i in (1, 2)))
    return path


@pytest.fixture
def probe(monkeypatch):
    """A test-only job in the real command group that stops on Segment being unavailable."""

    @click.command("probe-quiet")
    @click.pass_obj
    def command(app):
        def body(env):
            env.report.add("read", 2)
            raise ServiceUnavailable("Segment still failing after 9 attempts")

        run_job(app, "probe-quiet", body)

    module = types.ModuleType("segmarketo_cli.cli._probe_quiet")
    module.command = command
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(cli_main.COMMANDS, "probe-quiet", ("_probe_quiet", "command"))


def test_quiet_success_is_exactly_one_summary_line(invoke, sandbox, clean_input):
    result = invoke("--quiet", "-v", "backfill-leads", str(clean_input))
    assert result.exit_code == 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    match = SUMMARY.match(lines[0])
    assert match is not None
    assert match.group(1) == "ok"
    assert match.group(2) == "2 messages read, 2 messages used, 2 leads planned, 2 leads created"


def test_quiet_from_the_environment(invoke, sandbox, clean_input):
    result = invoke("backfill-leads", str(clean_input), env={"SEGMARKETO_QUIET": "1"})
    assert result.exit_code == 0
    assert len(result.stderr.splitlines()) == 1
    assert "┃" not in result.stderr


def test_quiet_partial_keeps_the_exit_code_and_names_the_rejects_file(invoke, sandbox):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    result = invoke("-q", "backfill-leads", str(sample_data_dir() / "identifies.jsonl.gz"))
    assert result.exit_code == 3
    summary, rejects = result.stderr.splitlines()
    match = SUMMARY.match(summary)
    assert match is not None
    assert match.group(1) == "partial"
    assert "3 messages malformed" in match.group(2)
    assert "2 leads rejected" in match.group(2)
    assert rejects.startswith("Rejects: ")
    assert rejects.endswith(f"backfill-leads-{match.group(3)}.jsonl")


def test_quiet_still_shows_errors(invoke, probe, tmp_path):
    stopped = invoke("--quiet", "probe-quiet")
    assert stopped.exit_code == 75
    assert stopped.stderr.splitlines()[1:] == ["Stopped: Segment still failing after 9 attempts"]
    assert stopped.stderr.startswith("probe-quiet finished: deferred — 2 read, run ")
    missing = invoke("--quiet", "backfill-leads", str(tmp_path / "missing.jsonl"))
    assert missing.exit_code == 1
    assert missing.stderr.startswith("segmarketo: error: ")


def test_quiet_json_prints_the_json_report_only(invoke, sandbox, clean_input):
    result = invoke("--quiet", "backfill-leads", "--json", str(clean_input))
    assert result.exit_code == 0
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert report["status"] == "ok"
    assert report["counts"]["leads_created"] == 2


def test_report_and_json_show_marketo_calls_today(invoke, sandbox, clean_input, monkeypatch):
    monkeypatch.setenv("SEGMARKETO_DAILY_BUDGET", "20000")
    first = json.loads(invoke("backfill-leads", "--json", str(clean_input)).stdout)
    quota = first["marketo_quota"]
    assert quota["used"] == first["api_calls"]["marketo"] > 0
    assert quota["limit"] == 50_000
    assert quota["budget"] == 20_000
    assert 0 < quota["resets_in_s"] <= 25 * 3600  # 23 to 25 hours on days the clocks change
    assert quota["resets_at"].endswith(("T00:00:00-06:00", "T00:00:00-05:00"))  # midnight in Chicago
    text = invoke("backfill-leads", "--full", str(clean_input))
    last = json.loads(invoke("backfill-leads", "--full", "--json", str(clean_input)).stdout)
    used_by_text_run = last["marketo_quota"]["used"] - last["api_calls"]["marketo"]
    line = next(line for line in text.stderr.splitlines() if line.startswith("Marketo calls today"))
    assert re.fullmatch(rf"Marketo calls today by segmarketo: {used_by_text_run:,} of 50,000 \(budget 20,000\), "
                        r"resets in (\d+h\d\dm|\d+m)", line)


def test_the_summary_line_says_how_many_rejects_were_known():
    from segmarketo_cli.cli.render import summary_line

    data = {"command": "backfill-leads", "status": "ok", "run_id": "r1", "known_rejects": 3,
            "counts": {"messages_read": 10, "rejected": 3}}
    assert summary_line(data) == ("backfill-leads finished: ok — 10 messages read, 3 rejected (3 of the rejects "
                                  "known from earlier runs), run r1")
