"""ProfileLock: one job per profile; a job on a locked profile exits 75 at once with a clear line."""

from __future__ import annotations

import subprocess
import sys
import types

import click
import pytest

from segmarketo_cli import paths
from segmarketo_cli.cli.jobrun import run_job
from segmarketo_cli.cli.main import COMMANDS, _load
from segmarketo_cli.errors import ExitCode, LockHeld
from segmarketo_cli.state import ProfileLock
from tests.support.sandbox_env import point_cli_at

HOLDER = """
import sys, time
from pathlib import Path
from segmarketo_cli.state import ProfileLock
lock = ProfileLock(Path(sys.argv[1]), sys.argv[2]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder():
    """A separate process holding the 'default' profile lock until the test ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(paths.state_dir()), "default"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def probe_command(monkeypatch):
    """A minimal job command registered in the real CLI group, so the real run_job and error ladder run."""
    calls: list[str] = []

    @click.command("lock-probe")
    @click.pass_obj
    def lock_probe(app):
        def body(env):
            calls.append(env.report.run_id)
            env.report.add("done")

        run_job(app, "lock-probe", body)

    module = types.ModuleType("segmarketo_cli.cli._lock_probe")
    module.lock_probe = lock_probe
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(__import__("segmarketo_cli.cli.main", fromlist=["COMMANDS"]).COMMANDS,
                        "lock-probe", ("_lock_probe", "lock_probe"))
    return calls


def test_second_holder_gets_lock_held():
    with ProfileLock(paths.state_dir(), "default"):
        with pytest.raises(LockHeld) as info:
            ProfileLock(paths.state_dir(), "default").acquire()
        assert info.value.exit_code == ExitCode.TEMPFAIL
        assert "profile 'default' is busy" in str(info.value)
        ProfileLock(paths.state_dir(), "other").acquire().release()  # other profiles are independent
    ProfileLock(paths.state_dir(), "default").acquire().release()  # released on exit


def test_lock_file_is_private_and_names_the_holder(holder):
    lock_path = paths.state_dir() / "default.lock"
    assert oct(lock_path.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(LockHeld, match=f"pid {holder.pid} holds {lock_path}"):
        ProfileLock(paths.state_dir(), "default").acquire()


def test_job_on_locked_profile_exits_75_with_one_clear_line(holder, probe_command, invoke):
    result = invoke("lock-probe")
    assert result.exit_code == 75
    assert result.stderr.strip() == (
        f"segmarketo: error: profile 'default' is busy: pid {holder.pid} holds "
        f"{paths.state_dir() / 'default.lock'}; try again when it finishes")
    assert probe_command == []  # the job body never ran
    assert "Traceback" not in result.output


def test_lock_is_freed_when_the_holder_dies(holder, probe_command, invoke):
    holder.kill()
    holder.wait()
    result = invoke("lock-probe")
    assert result.exit_code == 0
    assert len(probe_command) == 1
    listed = invoke("runs", "list", "--json")
    assert '"command": "lock-probe"' in listed.stdout


def test_other_profile_runs_while_default_is_locked(holder, probe_command, invoke):
    result = invoke("--profile", "second", "lock-probe")
    assert result.exit_code == 0
    assert len(probe_command) == 1


@pytest.mark.parametrize("command", ["writeback", "sync-audience", "backfill-leads"])
def test_real_job_commands_honour_the_lock(holder, invoke, monkeypatch, tmp_path, command):
    if command not in COMMANDS or _load(command) is None:
        pytest.skip(f"{command} is not available")
    point_cli_at(monkeypatch, "http://127.0.0.1:9")  # nothing listens there: the lock must refuse before any call
    (tmp_path / "a.csv").write_text("email\na@example.com\n")
    (tmp_path / "e.jsonl").write_text('{"type":"identify","userId":"u1","traits":{"email":"a@example.com"}}\n')
    args = {"writeback": ["--since", "1h"], "sync-audience": [str(tmp_path / "a.csv"), "--list", "X"],
            "backfill-leads": [str(tmp_path / "e.jsonl")]}[command]
    result = invoke(command, *args)
    assert result.exit_code == 75
    assert result.stderr.strip().splitlines()[-1] == (
        f"segmarketo: error: profile 'default' is busy: pid {holder.pid} holds "
        f"{paths.state_dir() / 'default.lock'}; try again when it finishes")
