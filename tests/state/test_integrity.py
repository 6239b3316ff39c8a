"""A state store that is deleted, replaced, corrupt, truncated or unopenable: one clear line, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys

import pytest

from segmarketo_cli import paths
from segmarketo_cli.errors import ExitCode, SegmarketoError
from segmarketo_cli.marketo.client import MarketoClient
from segmarketo_cli.state import StateStore
from tests.apply_events.test_crash import world  # noqa: F401  (fixture: leads ann/bob, campaign, rules, events file)
from tests.support.child_runs import stop_inside_run
from tests.support.sandbox_env import subprocess_env

INSTANCE = "https://123-ABC-456.mktorest.com"


def open_store(profile: str = "default") -> StateStore:
    return StateStore(paths.state_dir(), profile)


def remove_with_sides(path) -> None:
    for side in path.parent.glob(path.name + "*"):
        side.unlink()


def test_a_deleted_profile_store_stops_the_next_write():
    store = open_store()
    store.set_cursor(INSTANCE, "writeback", "1")
    remove_with_sides(store.path)
    with pytest.raises(SegmarketoError) as info:
        store.set_cursor(INSTANCE, "writeback", "2")
    assert info.value.exit_code == ExitCode.ERROR
    assert str(store.path) in info.value.message
    assert "deleted or replaced" in info.value.message


def test_a_replaced_profile_store_stops_the_next_write(tmp_path):
    store = open_store()
    store.start_run("r1", "apply-events", 1.0)
    other = StateStore(tmp_path / "elsewhere", "default")
    other.close()
    os.replace(other.path, store.path)
    with pytest.raises(SegmarketoError, match="deleted or replaced"):
        store.finish_run("r1", "ok", {})


def test_a_deleted_ledger_stops_before_the_next_marketo_write(world, invoke, monkeypatch):  # noqa: F811
    m, ids, args = world
    original = MarketoClient.sync_leads

    def delete_ledger_after_the_write(self, records, **kwargs):
        result = original(self, records, **kwargs)
        for ledger in (paths.state_dir() / "instances").glob("*.sqlite"):
            remove_with_sides(ledger)
        return result

    monkeypatch.setattr(MarketoClient, "sync_leads", delete_ledger_after_the_write)
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("segmarketo: error: state store ")
    assert "deleted or replaced" in last
    assert m.lead(ids["ann"])["productScore"] == 18  # the score call already made
    assert m.campaign_requests(ids["welcome"]) == []  # no Marketo write after the ledger vanished


def _single_error_line(result, path) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert str(path) in lines[0]
    return lines[0]


def test_a_corrupt_profile_store_is_one_clear_line(invoke):
    state = paths.ensure_private_dir(paths.state_dir())
    (state / "default.sqlite").write_bytes(b"this is not a database, just some text that got written here" * 20)
    line = _single_error_line(invoke("runs", "list"), state / "default.sqlite")
    assert "is not a usable SQLite database" in line
    assert "move it aside" in line


def test_a_truncated_profile_store_is_one_clear_line(invoke):
    store = open_store()
    for n in range(3000):
        store.start_run(f"run-{n:05d}", "backfill-leads", float(n))
    store.close()
    with sqlite3.connect(store.path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = store.path.stat().st_size
    with open(store.path, "r+b") as handle:
        handle.truncate(size // 3)
    _single_error_line(invoke("runs", "list"), store.path)


def test_an_unopenable_profile_store_is_one_clear_line(invoke):
    state = paths.ensure_private_dir(paths.state_dir())
    (state / "default.sqlite").mkdir()
    _single_error_line(invoke("runs", "list"), state / "default.sqlite")


def test_a_corrupt_ledger_is_one_clear_line_before_any_write(world, invoke):  # noqa: F811
    m, ids, args = world
    assert invoke(*args).exit_code == 0
    [ledger] = (paths.state_dir() / "instances").glob("*.sqlite")
    remove_with_sides(ledger)
    ledger.write_bytes(b"\0garbage" * 4096)
    line = _single_error_line(invoke(*args), ledger)
    assert "move it aside" in line
    assert m.lead(ids["ann"])["productScore"] == 18
    assert len(m.campaign_requests(ids["welcome"])) == 1


def test_a_job_on_a_corrupt_store_records_nothing_and_writes_nothing(sandbox, invoke, tmp_path):
    state = paths.ensure_private_dir(paths.state_dir())
    shutil.copyfile(__file__, state / "default.sqlite")
    export = tmp_path / "e.jsonl"
    export.write_text(json.dumps({"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}}) + "\n")
    _single_error_line(invoke("backfill-leads", str(export)), state / "default.sqlite")
    assert sandbox.marketo.leads == []


def test_after_the_ledger_was_lost_the_next_run_refuses_until_a_person_decides(world, invoke):  # noqa: F811
    m, ids, args = world
    assert invoke(*args).exit_code == 0
    [ledger] = (paths.state_dir() / "instances").glob("*.sqlite")
    remove_with_sides(ledger)
    line = _single_error_line(invoke(*args), ledger)
    assert "is missing" in line
    assert f"touch '{ledger}'" in line
    assert m.lead(ids["ann"])["productScore"] == 18  # nothing applied a second time
    assert len(m.campaign_requests(ids["welcome"])) == 1
    ledger.touch()  # the person chose to start over with an empty ledger
    assert invoke(*args).exit_code == 0
    assert m.lead(ids["ann"])["productScore"] == 26


def test_a_ledger_deleted_under_a_real_process_stops_it_and_its_rerun(world, sandbox, isolated_home):  # noqa: F811
    m, ids, args = world
    sandbox.config.latency_s = 0.2  # widens the run's window; nothing is timed
    command = [sys.executable, "-m", "segmarketo_cli", *args]
    run = subprocess.Popen(command, env=subprocess_env(sandbox.url, isolated_home), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        stop_inside_run(run, isolated_home / "state" / "default.sqlite")
        [ledger] = (isolated_home / "state" / "instances").glob("*.sqlite")
        remove_with_sides(ledger)
    finally:
        os.kill(run.pid, signal.SIGCONT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 1, err
    assert "Traceback" not in err
    assert f"state store {ledger} was deleted or replaced while this run was using it" in err
    rerun = subprocess.run(command, env=subprocess_env(sandbox.url, isolated_home), capture_output=True, text=True,
                           timeout=120)
    assert rerun.returncode == 1, rerun.stderr
    assert "is missing" in rerun.stderr
    assert m.lead(ids["ann"])["productScore"] <= 18  # never applied twice
    assert len(m.campaign_requests(ids["welcome"])) <= 1
