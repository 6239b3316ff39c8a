"""Global options work before and after the command, with the same meaning."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli.cli.global_options import hoist
from segmarketo_cli.cli.main import cli
from segmarketo_cli.paths import sample_data_dir


@pytest.mark.parametrize("argv", [
    ("--profile", "other", "runs", "list"),
    ("runs", "list", "--profile", "other"),
    ("runs", "--profile", "other", "list"),
    ("runs", "list", "--profile=other"),
    ("runs", "list", "-p", "other"),
    ("runs", "list", "-pother"),
])
def test_profile_before_or_after_the_command(invoke, argv):
    result = invoke(*argv)
    assert result.exit_code == 0
    assert "no runs recorded yet for profile 'other'" in result.stderr


def test_profile_after_the_command_wins_over_the_environment_like_before(invoke):
    result = invoke("runs", "list", "--profile", "flag", env={"SEGMARKETO_PROFILE": "env"})
    assert "profile 'flag'" in result.stderr


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
def test_log_options_after_the_command_log_the_same_lines(invoke, sandbox, tmp_path, after):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    log_file = tmp_path / "run.jsonl"
    logging = ["--log-file", str(log_file), "--log-format", "json", "-v"]
    job = ["backfill-leads", str(sample_data_dir() / "identifies.jsonl.gz"), "--dry-run"]
    result = invoke(*(job + logging if after else logging + job))
    assert result.exit_code in (0, 3)
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert any(line.get("event") == "summary" and line["command"] == "backfill-leads" for line in lines)
    assert any("/identity/oauth/token" in line["msg"] for line in lines)  # -v: every HTTP call


def _hoisted(*argv: str) -> list[str]:
    ctx = cli.make_context("segmarketo", [], resilient_parsing=True)
    return hoist(cli, ctx, list(argv))


def test_values_of_the_commands_own_options_are_never_taken_for_global_options():
    assert _hoisted("sync-audience", "a.csv", "--list", "-v", "--profile", "x") == [
        "--profile", "x", "sync-audience", "a.csv", "--list", "-v"]
    assert _hoisted("writeback", "--since", "--profile") == ["writeback", "--since", "--profile"]


def test_nothing_after_a_double_dash_moves():
    assert _hoisted("backfill-leads", "--", "--profile", "x") == ["backfill-leads", "--", "--profile", "x"]


def test_counted_and_nested_options_move_in_order():
    assert _hoisted("-v", "auth", "status", "-vv", "--json", "--log-format", "json") == [
        "-v", "-vv", "--log-format", "json", "auth", "status", "--json"]


def test_quiet_moves_like_every_global_flag():
    assert _hoisted("backfill-leads", "a.jsonl", "-q", "--dry-run") == ["-q", "backfill-leads", "a.jsonl", "--dry-run"]


def test_help_of_the_command_stays_the_commands():
    assert _hoisted("doctor", "--help", "--profile", "p") == ["--profile", "p", "doctor", "--help"]
