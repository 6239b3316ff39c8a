"""Files and config as real subprocesses see them: private output files, a config only trusted when safe, and one
clear line (never a traceback) for a full disk, a home that is a file, an unwritable folder or bytes that are not
UTF-8. Tests run as root, so "unwritable" is a path under a regular file or /dev/full, never a mode bit."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from segmarketo_cli.config import load_settings
from segmarketo_cli.jobs import rejects as rejects_module
from tests.support.writeback_helpers import populate

LATIN1 = "Ren\u00e9e".encode("latin-1")


def segmarketo(*args: object, env: dict[str, str] | None = None,
               drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`python -m segmarketo_cli ARGS` with the test's environment (sandbox, home) plus `env`, minus `drop`."""
    environ = {k: v for k, v in os.environ.items() if k not in drop}
    run = subprocess.run([sys.executable, "-m", "segmarketo_cli", *map(str, args)], capture_output=True, text=True,
                         env={**environ, **(env or {})}, timeout=120)
    assert "Traceback" not in run.stderr, run.stderr
    assert "Traceback" not in run.stdout, run.stdout
    return run


def error_lines(run: subprocess.CompletedProcess) -> list[str]:
    """The error as the CLI shows it: 'segmarketo: error: …', or a job report's 'Stopped: …' line."""
    return [line for line in run.stderr.splitlines() if line.startswith(("segmarketo: error:", "Stopped:"))]


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def identifies(tmp_path: Path, emails: list[str], name: str = "people.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps({"type": "identify", "userId": f"u{i}", "traits": {"email": email}}) + "\n"
                            for i, email in enumerate(emails)))
    return path


def write_config(home: Path, text: str | bytes, file_mode: int = 0o600) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    os.chmod(path, file_mode)
    return path


# item 6: private output files -------------------------------------------------------------------------------------

def test_plan_out_file_is_created_private_and_an_existing_one_is_tightened(sandbox, tmp_path):
    box = sandbox.marketo
    box.add_list("VIP")
    box.add_lead(email="p1@example.com")
    audience = tmp_path / "aud.csv"
    audience.write_text("key,email\nk1,p1@example.com\nk2,new@example.com\n")
    fresh = tmp_path / "plans" / "plan.csv"
    run = segmarketo("sync-audience", audience, "--list", "VIP", "--dry-run", "--plan-out", fresh)
    assert run.returncode == 0, run.stderr
    assert mode(fresh) == 0o600
    assert "p1@example.com" in fresh.read_text()
    old = tmp_path / "old-plan.csv"
    old.write_text("stale")
    os.chmod(old, 0o644)
    run = segmarketo("sync-audience", audience, "--list", "VIP", "--dry-run", "--plan-out", old)
    assert run.returncode == 0, run.stderr
    assert mode(old) == 0o600
    assert "stale" not in old.read_text()


def test_writeback_plan_and_payload_files_are_created_private(sandbox, tmp_path):
    populate(sandbox, 3)
    out, plan = tmp_path / "batches.jsonl", tmp_path / "plan.csv"
    run = segmarketo("writeback", "--since", "3d", "--payloads-out", out, "--plan-out", plan)
    assert run.returncode == 0, run.stderr
    assert mode(out) == 0o600
    assert mode(plan) == 0o600
    assert "@example.com" in out.read_text()
    assert "marketo activity" in plan.read_text()


# item 6: a config others can write is refused ---------------------------------------------------------------------

@pytest.mark.parametrize("file_mode", [0o620, 0o602, 0o666], ids=oct)
def test_config_writable_by_group_or_others_is_refused_with_the_fix(sandbox, isolated_home, tmp_path, file_mode):
    config = write_config(isolated_home, "[profiles.default]\nlookup_field = \"email\"\n", file_mode)
    people = identifies(tmp_path, ["a@example.com"])
    run = segmarketo("backfill-leads", people)
    assert run.returncode == 2
    (line,) = error_lines(run)
    assert f"chmod 600 {config}" in line
    assert "writable by" in line
    assert sandbox.marketo.leads == []


@pytest.mark.parametrize("args", [["runs", "list"], ["auth", "status"], ["writeback", "--since", "1d"],
                                  ["init", "--force"]])
def test_every_command_refuses_a_config_others_can_write(invoke, isolated_home, args):
    config = write_config(isolated_home, "[profiles.default]\n", 0o666)
    result = invoke(*args)
    assert result.exit_code == 2
    assert f"chmod 600 {config}" in result.stderr


def test_doctor_fails_on_a_config_others_can_write(invoke, sandbox, isolated_home):
    config = write_config(isolated_home, "[profiles.default]\n", 0o664)
    result = invoke("doctor", "--json")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["config file"]["status"] == "fail"
    assert f"chmod 600 {config}" in checks["config file"]["detail"]


# item 6: init writes only what later commands accept ----------------------------------------------------------------

@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--endpoint", "http://123-ABC-456.mktorest.com", "plain http"),
    ("--endpoint", "123-ABC-456.mktorest.com", "not an http(s) URL"),
    ("--segment-region", "mars", "not an http(s) URL"),
    ("--segment-region", "http://proxy.example.com", "plain http"),
])
def test_init_refuses_endpoints_and_regions_later_commands_would_refuse(invoke, isolated_home, flag, value, message):
    result = invoke("init", "--endpoint", "https://123-ABC-456.mktorest.com", flag, value)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (isolated_home / "config.toml").exists()


def test_init_accepts_what_later_commands_accept(invoke, isolated_home):
    result = invoke("init", "--endpoint", "https://123-ABC-456.mktorest.com/rest/", "--segment-region", "EU")
    assert result.exit_code == 0, result.output
    settings = load_settings()
    assert settings.marketo_endpoint == "https://123-ABC-456.mktorest.com"
    assert settings.segment_endpoint == "https://events.eu1.segmentapis.com"


def test_init_client_id_with_quotes_and_backslashes_is_escaped_and_reads_back(invoke, isolated_home):
    client_id = 'abc"def\\ghi\'\u00e9'
    result = invoke("init", "--endpoint", "https://123-ABC-456.mktorest.com", "--client-id", client_id)
    assert result.exit_code == 0, result.output
    assert load_settings().marketo_client_id == client_id


def test_init_client_id_with_a_quote_and_a_newline_is_one_clear_line(isolated_home):
    run = segmarketo("init", "--client-id", 'abc"\n[profiles.evil]')
    assert run.returncode == 2
    (line,) = error_lines(run)
    assert "--client-id" in line
    assert "control character" in line
    assert not (isolated_home / "config.toml").exists()


# item 7: disk full ----------------------------------------------------------------------------------------------

def test_disk_full_while_writing_rejects_is_one_line_exit_1(sandbox, tmp_path):
    people = identifies(tmp_path, ["ok@example.com"] + [f"not-an-email-{i}" for i in range(400)])
    run = segmarketo("backfill-leads", people, "--rejects", "/dev/full", "--json")
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert report["status"] == "failed"
    assert "/dev/full" in report["error"]
    assert "No space left on device" in report["error"]


def test_disk_full_at_the_last_flush_of_a_few_rejects_is_one_line_exit_1(sandbox, tmp_path):
    people = identifies(tmp_path, ["ok@example.com", "not-an-email"])
    run = segmarketo("backfill-leads", people, "--rejects", "/dev/full")
    assert run.returncode == 1
    (line,) = error_lines(run)
    assert "No space left on device" in line


def test_disk_full_in_process_write_then_close_failing_again(invoke, sandbox, tmp_path, monkeypatch):
    class FullDisk:
        def __init__(self, *_args, **_kwargs) -> None:
            self.fails = 0

        def write(self, _text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self) -> None:
            self.fails += 1
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rejects_module, "open_private", lambda *a, **k: FullDisk())
    people = identifies(tmp_path, ["ok@example.com", "bad"])
    result = invoke("backfill-leads", str(people), "--rejects", str(tmp_path / "r.jsonl"))
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr


@pytest.mark.parametrize("command", ["plan-out", "out", "payloads-out"])
def test_disk_full_for_plan_out_and_out_is_one_line_exit_1(sandbox, tmp_path, command):
    if command == "plan-out":
        sandbox.marketo.add_list("VIP")
        audience = tmp_path / "aud.csv"
        audience.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(500)))
        run = segmarketo("sync-audience", audience, "--list", "VIP", "--dry-run", "--create-missing",
                         "--plan-out", "/dev/full")
    else:
        populate(sandbox, 3)
        run = segmarketo("writeback", "--since", "3d", f"--{command}", "/dev/full")
    assert run.returncode == 1
    (line,) = error_lines(run)
    assert "/dev/full" in line
    assert "No space left on device" in line


def test_log_file_on_a_full_disk_is_one_warning_and_the_run_goes_on(sandbox, tmp_path):
    people = identifies(tmp_path, ["a@example.com", "b@example.com"])
    run = segmarketo("--log-file", "/dev/full", "backfill-leads", people)
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "log file /dev/full" in line]
    assert warnings == ["segmarketo: warning: log file /dev/full: cannot be written (No space left on device); "
                        "no further lines go to it"]
    assert len(sandbox.marketo.leads) == 2


@pytest.mark.parametrize("args", [["runs", "list", "--json"], ["backfill-leads", "--dry-run", "--json"], ["doctor"]])
def test_stdout_on_a_full_disk_is_one_line_exit_1(sandbox, tmp_path, args):
    if args[0] == "backfill-leads":
        args = [*args, identifies(tmp_path, ["a@example.com"])]
    with open("/dev/full", "w") as full:
        run = subprocess.run([sys.executable, "-m", "segmarketo_cli", *map(str, args)], stdout=full,
                             stderr=subprocess.PIPE, text=True, timeout=120)
    assert "Traceback" not in run.stderr
    assert "Exception ignored" not in run.stderr
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == \
        "segmarketo: error: output could not be written: No space left on device"


# item 7: homes and folders that cannot be written -------------------------------------------------------------------

def test_segmarketo_home_that_is_a_file_is_one_line_exit_1(sandbox, tmp_path):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    people = identifies(tmp_path, ["a@example.com"])
    for args in (["backfill-leads", people], ["init", "--endpoint", "https://123-ABC-456.mktorest.com"],
                 ["runs", "list"]):
        run = segmarketo(*args, env={"SEGMARKETO_HOME": str(home)})
        assert run.returncode == 1, (args, run.stderr)
        (line,) = error_lines(run)
        assert str(home) in line
        assert "SEGMARKETO_HOME" in line
    assert sandbox.marketo.leads == []


def test_segmarketo_home_under_a_file_is_one_line_exit_1(sandbox, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    people = identifies(tmp_path, ["a@example.com"])
    run = segmarketo("backfill-leads", people, env={"SEGMARKETO_HOME": str(blocker / "home")})
    assert run.returncode == 1
    (line,) = error_lines(run)
    assert "cannot be created" in line


def test_user_home_that_is_a_file_is_one_line_exit_1(sandbox, tmp_path):
    home = tmp_path / "userhome-file"
    home.write_text("")
    people = identifies(tmp_path, ["a@example.com"])
    run = segmarketo("backfill-leads", people, env={"HOME": str(home)},
                     drop=("SEGMARKETO_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"))
    assert run.returncode == 1
    (line,) = error_lines(run)
    assert str(home) in line
    assert sandbox.marketo.leads == []


def test_rejects_in_an_unwritable_folder_is_refused_before_any_write(sandbox, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    people = identifies(tmp_path, ["a@example.com", "not-an-email"])
    run = segmarketo("backfill-leads", people, "--rejects", blocker / "rejects.jsonl")
    assert run.returncode == 1
    (line,) = error_lines(run)
    assert f"--rejects {blocker / 'rejects.jsonl'}" in line
    assert sandbox.marketo.leads == []


def test_rejects_path_that_is_a_folder_is_refused_before_any_write(sandbox, tmp_path):
    people = identifies(tmp_path, ["a@example.com", "not-an-email"])
    run = segmarketo("backfill-leads", people, "--rejects", tmp_path)
    assert run.returncode != 0
    assert sandbox.marketo.leads == []


# item 7: files that are not UTF-8 -----------------------------------------------------------------------------------

def test_config_that_is_not_utf8_is_one_line_exit_2(sandbox, isolated_home, tmp_path):
    config = write_config(isolated_home, b'[profiles.default]\nmarketo_client_id = "' + LATIN1 + b'"\n')
    people = identifies(tmp_path, ["a@example.com"])
    for args, code in ((["backfill-leads", people], 2), (["init", "--force"], 2), (["auth", "status"], 2)):
        run = segmarketo(*args)
        assert run.returncode == code, (args, run.stderr)
        (line,) = error_lines(run)
        assert str(config) in line
        assert "not valid UTF-8" in line


def test_doctor_on_a_config_that_is_not_utf8_fails_one_check(sandbox, isolated_home):
    write_config(isolated_home, b"# " + LATIN1 + b"\n[profiles.default]\n")
    run = segmarketo("doctor", "--json")
    assert run.returncode == 1
    checks = {c["name"]: c for c in json.loads(run.stdout)}
    assert checks["config file"]["status"] == "fail"
    assert "not valid UTF-8" in checks["config file"]["detail"]


def test_rules_and_mapping_files_that_are_not_utf8_are_one_line_exit_2(sandbox, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_bytes(b'[[rule]]\nname = "' + LATIN1 + b'"\n')
    mapping = tmp_path / "mapping.toml"
    mapping.write_bytes(b'"' + LATIN1 + b'" = "firstName"\n')
    people = identifies(tmp_path, ["a@example.com"])
    for args, path in ((["apply-events", "--rules", rules, people], rules),
                       (["backfill-leads", "--mapping", mapping, people], mapping)):
        run = segmarketo(*args)
        assert run.returncode == 2, run.stderr
        (line,) = error_lines(run)
        assert str(path) in line
        assert "not valid UTF-8" in line
    assert sandbox.marketo.leads == []


# item 7: [writeback] events of the wrong shape ----------------------------------------------------------------------

def test_writeback_events_of_the_wrong_shape_fail_one_doctor_check_and_the_command(sandbox, isolated_home):
    write_config(isolated_home, '[profiles.default.writeback]\nevents = ["Send Email"]\n')
    run = segmarketo("doctor", "--json")
    assert run.returncode == 1
    checks = {c["name"]: c for c in json.loads(run.stdout)}
    assert checks["activity types"]["status"] == "fail"
    assert "events" in checks["activity types"]["detail"]
    run = segmarketo("writeback", "--since", "1d")
    assert run.returncode == 2
    (line,) = error_lines(run)
    assert "events" in line
