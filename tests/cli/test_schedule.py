"""`segmarketo schedule`: the crontab line and systemd units, parsed: times, absolute command, exit-75 retries."""

from __future__ import annotations

import configparser
import os
import re

import pytest

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.schedules import from_cron, parse_schedule

PROFILE = '[profiles.default.syncs.nightly-leads]\njob = "backfill-leads"\ninputs = "/data/*.jsonl.gz"\n'


@pytest.fixture
def declared(isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text(PROFILE)


def sections(output: str) -> dict[str, str]:
    """The printed blocks by their '# --- title ---' headers."""
    parts = re.split(r"^# --- (.+?) ---$", output, flags=re.MULTILINE)
    return {title.split()[0]: body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(text)
    return parser


def crontab_entry(block: str) -> tuple[list[str], str]:
    lines = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(" ", 5)
    return fields[:5], fields[5]


def test_daily_schedule_prints_a_crontab_line_and_systemd_units(invoke, declared, isolated_home):
    result = invoke("schedule", "nightly-leads", "--at", "03:15")
    assert result.exit_code == 0, result.output
    blocks = sections(result.stdout)
    assert list(blocks) == ["crontab", "~/.config/systemd/user/segmarketo-nightly-leads.service",
                            "~/.config/systemd/user/segmarketo-nightly-leads.timer"]
    times, command = crontab_entry(blocks["crontab"])
    assert times == ["15", "3", "*", "*", "*"]
    exe = command.split("; do ", 1)[1].split(" ")[1]  # after SEGMARKETO_HOME=...
    assert os.path.isabs(exe)
    assert f"SEGMARKETO_HOME={isolated_home} {exe} --profile default --quiet run nightly-leads; rc=$?" in command
    assert command.startswith("for try in 1 2 3; do ")
    assert "[ $rc -ne 75 ] || [ $try -eq 3 ] && break; sleep 900; done" in command
    assert command.endswith('[ $rc -eq 0 ] || echo "segmarketo sync nightly-leads failed: exit $rc" >&2; exit $rc')

    service = ini(blocks["~/.config/systemd/user/segmarketo-nightly-leads.service"])
    assert service.sections() == ["Unit", "Service"]
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"] == f"{exe} --profile default --quiet run nightly-leads"
    assert service["Service"]["Environment"] == f"SEGMARKETO_HOME={isolated_home}"
    assert service["Service"]["RestartForceExitStatus"] == "75"  # only "try again later" restarts
    assert "Restart" not in service["Service"]
    assert "SuccessExitStatus" not in service["Service"]  # 3, 4, 75... are failures, never success
    assert service["Service"]["RestartSec"] == "15min"
    assert service["Unit"]["StartLimitBurst"] == "3"
    assert service["Unit"]["StartLimitIntervalSec"] == "1h"

    timer = ini(blocks["~/.config/systemd/user/segmarketo-nightly-leads.timer"])
    assert timer.sections() == ["Unit", "Timer", "Install"]
    assert timer["Timer"]["OnCalendar"] == "*-*-* 03:15:00"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    assert "systemctl --user enable --now segmarketo-nightly-leads.timer" in result.stdout


def test_a_frequent_cron_schedule_is_not_retried_in_between(invoke, declared):
    result = invoke("schedule", "nightly-leads", "--every", "*/20 6-20 * * mon-fri")
    assert result.exit_code == 0, result.output
    blocks = sections(result.stdout)
    times, command = crontab_entry(blocks["crontab"])
    assert times == ["*/20", "6-20", "*", "*", "mon-fri"]
    assert "sleep" not in command
    service = ini(blocks["~/.config/systemd/user/segmarketo-nightly-leads.service"])
    assert "RestartForceExitStatus" not in service["Service"]
    timer = ini(blocks["~/.config/systemd/user/segmarketo-nightly-leads.timer"])
    assert timer["Timer"]["OnCalendar"] == "Mon..Fri *-*-* 06..20:0/20:00"


def test_the_profile_goes_into_unit_names_and_commands(invoke, isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text(PROFILE.replace("default", "eu"))
    result = invoke("--profile", "eu", "schedule", "nightly-leads", "--every", "hourly", "--at", ":40")
    assert result.exit_code == 0, result.output
    blocks = sections(result.stdout)
    times, command = crontab_entry(blocks["crontab"])
    assert times == ["40", "*", "*", "*", "*"]
    assert "--profile eu --quiet run nightly-leads" in command
    timer = ini(blocks["~/.config/systemd/user/segmarketo-eu-nightly-leads.timer"])
    assert timer["Timer"]["OnCalendar"] == "*-*-* *:40:00"


@pytest.mark.parametrize(("args", "message"), [
    (["--at", "25:00"], "--at '25:00': expected HH:MM"),
    (["--every", "hourly", "--at", "xx"], "--at 'xx': expected HH:MM or :MM"),
    (["--every", "0 2 * *"], "expected daily, hourly or five cron fields"),
    (["--every", "0 2 * * *", "--at", "02:00"], "--at goes with --every daily or hourly"),
    (["--every", "0 2 1 * 1"], "restrict only one of them"),
    (["--every", "0 2 * * 1-5/2"], "no step over weekdays"),
    (["--every", "0 24 * * *"], "values must be 0-23"),
])
def test_bad_schedules_are_usage_errors(invoke, declared, args, message):
    result = invoke("schedule", "nightly-leads", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_an_unknown_or_broken_sync_is_a_config_error(invoke, declared, isolated_home):
    assert invoke("schedule", "weekly").exit_code == 2
    (isolated_home / "config.toml").write_text(PROFILE + 'nulls = "wipe"\n')
    result = invoke("schedule", "nightly-leads")
    assert result.exit_code == 2
    assert "'nulls'" in result.stderr


@pytest.mark.parametrize(("cron", "calendar"), [
    ("30 2 * * *", "*-*-* 02:30:00"),
    ("0 6 1,15 * *", "*-*-1,15 06:00:00"),
    ("0 0 * jan-mar sun", "Sun *-1..3-* 00:00:00"),
    ("5 */4 * * 0,7", "Sun,Sun *-*-* 0/4:05:00"),
    ("0 8 */2 * *", "*-*-1/2 08:00:00"),
])
def test_cron_expressions_become_on_calendar(cron, calendar):
    assert from_cron(cron).on_calendar == calendar
    assert from_cron(cron).cron == cron


def test_daily_default_is_two_in_the_morning():
    plan = parse_schedule("daily", None)
    assert (plan.cron, plan.on_calendar, plan.frequent) == ("0 2 * * *", "*-*-* 02:00:00", False)


def test_a_range_with_a_step_is_refused():
    with pytest.raises(ConfigError, match="a step on a range"):
        from_cron("0-30/10 * * * *")
