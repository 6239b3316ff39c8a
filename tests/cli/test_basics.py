"""The CLI frame: help, version, entry points, usage errors, one-line config errors, the job frame, -v redaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import click
import pytest

from segmarketo_cli import __version__, paths
from segmarketo_cli.cli import main as cli_main
from segmarketo_cli.cli.jobrun import run_job
from segmarketo_cli.errors import ServiceUnavailable
from segmarketo_cli.http import log_call

WRITE_KEY = "sandbox-write-key-0123456789"  # what the sandbox fixture puts in the environment


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMARKETO_")}
    full_env["SEGMARKETO_HOME"] = os.environ["SEGMARKETO_HOME"]
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "segmarketo_cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=60)


@pytest.fixture
def register(monkeypatch):
    """Register a test-only command in the real lazy group (so the real error ladder and run_job run)."""

    def _register(command: click.Command) -> None:
        module = types.ModuleType(f"segmarketo_cli.cli._probe_{command.name.replace('-', '_')}")
        module.command = command
        monkeypatch.setitem(sys.modules, module.__name__, module)
        monkeypatch.setitem(cli_main.COMMANDS, command.name, (module.__name__.rsplit(".", 1)[1], "command"))

    return _register


def write_config(text: str) -> Path:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_help_lists_commands_and_exit_codes(invoke):
    for flag in ("--help", "-h"):
        result = invoke(flag)
        assert result.exit_code == 0
        assert result.stdout.startswith("Usage: segmarketo [OPTIONS] COMMAND [ARGS]...")
        for name in ("auth", "init", "runs"):
            assert f"\n  {name} " in result.stdout
        assert "75 try again later" in result.stdout


def test_version(invoke):
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"segmarketo, version {__version__}\n"


def test_python_dash_m_version():
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout == f"segmarketo, version {__version__}\n"
    assert done.stderr == ""


def test_console_script_installed():
    script = Path(sys.executable).with_name("segmarketo")
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"segmarketo, version {__version__}"


def test_unknown_command_and_bad_option_are_usage_errors(invoke):
    unknown = invoke("frobnicate")
    assert unknown.exit_code == 2
    assert "No such command 'frobnicate'" in unknown.stderr
    bad = invoke("runs", "list", "--limit", "many")
    assert bad.exit_code == 2
    assert "'many' is not a valid integer" in bad.stderr


def test_config_error_is_one_line_exit_2_without_traceback():
    path = write_config("[profiles.default\n")
    done = run_cli("runs", "list")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"segmarketo: error: {path}: not valid TOML")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_wrong_type_names_file_and_key(invoke):
    path = write_config("[profiles.default]\nmax_concurrency = \"five\"\n")
    result = invoke("auth", "status")
    assert result.exit_code == 2
    assert result.stderr == (f"segmarketo: error: {path} [profiles.default]: 'max_concurrency' expects a whole "
                             "number, got 'five'\n")


def test_unknown_profile_is_a_usage_error(invoke):
    write_config("[profiles.default]\n")
    result = invoke("--profile", "prod", "runs", "list")
    assert result.exit_code == 2
    assert "profile 'prod' not found (profiles: default)" in result.stderr


def test_unknown_setting_is_a_config_error(invoke):
    write_config('[profiles.default]\nmarketo_endpont = "https://x.mktorest.com"\n')
    result = invoke("runs", "list")
    assert result.exit_code == 2
    assert "unknown key 'marketo_endpont' in [profiles.default] — did you mean 'marketo_endpoint'?" in result.stderr


def test_unwritable_log_file_is_a_usage_error(invoke, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke("--log-file", str(blocker / "x.log"), "runs", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith("segmarketo: error: log file")


def test_job_frame_records_failures_and_maps_exit_codes(invoke, register):
    @click.command("probe-job")
    @click.option("--fail", type=click.Choice(["none", "unavailable", "interrupt", "reject"]), default="none")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    def probe(app, fail, as_json):
        def body(env):
            env.report.expect_balance("read", "sent", "rejected")
            env.report.add("read", 2)
            env.report.add("sent")
            if fail == "unavailable":
                raise ServiceUnavailable("Segment still failing after 9 attempts")
            if fail == "interrupt":
                raise KeyboardInterrupt
            if fail == "reject":
                env.rejects.write("hashed e-mail", file="a.csv", line=3, field="email", value="ab12")
                env.report.add("rejected")
            else:
                env.report.add("sent")

        run_job(app, "probe-job", body, as_json=as_json)

    register(probe)
    ok = invoke("probe-job", "--json")
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)["counts"] == {"read": 2, "sent": 2, "rejected": 0}
    deferred = invoke("probe-job", "--fail", "unavailable", "--json")
    assert deferred.exit_code == 75
    data = json.loads(deferred.stdout)
    assert data["status"] == "deferred"
    assert data["error"] == "Segment still failing after 9 attempts"
    interrupted = invoke("probe-job", "--fail", "interrupt")
    assert interrupted.exit_code == 130
    assert "interrupted" in interrupted.stderr
    partial = invoke("probe-job", "--fail", "reject", "--json")
    assert partial.exit_code == 3
    report = json.loads(partial.stdout)
    assert report["status"] == "partial"
    assert "imbalances" not in report
    rejects = Path(report["rejects_file"])
    assert json.loads(rejects.read_text()) == {"reason": "hashed e-mail", "file": "a.csv", "line": 3,
                                               "field": "email", "value": "ab12"}
    assert oct(rejects.stat().st_mode & 0o777) == "0o600"
    statuses = [run["status"] for run in json.loads(invoke("runs", "list", "--json").stdout)]
    assert statuses == ["partial", "interrupted", "deferred", "ok"]


def test_internal_error_is_recorded_as_failed(invoke, register):
    @click.command("probe-bug")
    @click.pass_obj
    def probe(app):
        run_job(app, "probe-bug", lambda env: {}["missing"])

    register(probe)
    with pytest.raises(KeyError):
        invoke("probe-bug")
    [run] = json.loads(invoke("runs", "list", "--json").stdout)
    assert run["status"] == "failed"


def test_verbose_logs_each_http_call_with_secrets_redacted(invoke, register, sandbox, tmp_path):
    @click.command("probe-http")
    @click.pass_obj
    def probe(app):
        def body(env):
            from segmarketo_cli.segment import spec

            env.segment().send_batch([spec.track("Probe", message_id="probe-1", user_id="u1")])
            env.report.add("sent")
            secret = os.environ["SEGMARKETO_MARKETO_CLIENT_SECRET"]
            log_call("GET", f"{env.settings.marketo_endpoint}/identity/oauth/token?client_id=c&client_secret="
                     f"{secret}", 200, 0.01, note=f"echo {WRITE_KEY}")

        run_job(app, "probe-http", body)

    register(probe)
    log_file = tmp_path / "run.log"
    result = invoke("-v", "--log-file", str(log_file), "probe-http")
    assert result.exit_code == 0, result.output
    assert [m["messageId"] for m in sandbox.segment.accepted] == ["probe-1"]
    logged = log_file.read_text()
    for text in (result.stderr, logged):
        assert "POST /v1/batch -> 200" in text
        assert "client_secret=***" in text
        assert "echo ***" in text
        assert WRITE_KEY not in text
        assert os.environ["SEGMARKETO_MARKETO_CLIENT_SECRET"] not in text
    assert oct(log_file.stat().st_mode & 0o777) == "0o600"
    quiet = invoke("probe-http")
    assert "POST /v1/batch" not in quiet.stderr
