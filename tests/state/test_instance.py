"""Exactly once per Marketo instance: profiles and homes that target one instance share its ledger and lock."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from segmarketo_cli import paths
from segmarketo_cli.sandbox import Sandbox
from segmarketo_cli.state import StateStore
from segmarketo_cli.state.ledger import instance_key
from tests.apply_events.test_crash import world  # noqa: F401  (fixture: leads ann/bob, campaign, rules, events file)
from tests.support.child_runs import stop_inside_run
from tests.support.old_stores import WITH_PENDING_ACTIONS, connected, old_profile_store
from tests.support.sandbox_env import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, subprocess_env
from tests.support.writeback_helpers import populate


def ledger_files(home: Path) -> list[Path]:
    return sorted((home / "state" / "instances").glob("*.sqlite"))


def test_two_profiles_in_one_home_apply_each_event_once(world, invoke):  # noqa: F811
    m, ids, args = world
    first = invoke("--profile", "prod", *args)
    assert first.exit_code == 0, first.output
    assert m.lead(ids["ann"])["productScore"] == 18
    second = invoke("--profile", "backfill", *args)
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert m.lead(ids["ann"])["productScore"] == 18  # not 26: the second profile sees the first one's ledger
    assert m.lead(ids["bob"])["productScore"] == 2
    assert len(m.campaign_requests(ids["welcome"])) == 1
    assert report["counts"]["usage.already_applied"] == 3
    assert report["counts"]["welcome.already_applied"] == 2


def test_one_home_keeps_one_ledger_file_per_instance(world, invoke, isolated_home):  # noqa: F811
    _, _, args = world
    assert invoke("--profile", "prod", *args).exit_code == 0
    assert invoke("--profile", "backfill", *args).exit_code == 0
    assert len(ledger_files(isolated_home)) == 1


def test_second_home_on_the_same_instance_is_refused_before_any_write(world, invoke, monkeypatch,  # noqa: F811
                                                                      tmp_path, isolated_home):
    m, ids, args = world
    assert invoke(*args).exit_code == 0
    [ledger] = ledger_files(isolated_home)
    monkeypatch.setenv("SEGMARKETO_HOME", str(tmp_path / "home-b"))
    second = invoke(*args)
    assert second.exit_code == 4, second.output
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("segmarketo: error: Marketo instance ")
    assert str(ledger) in lines[0]
    assert "Traceback" not in second.output
    assert m.lead(ids["ann"])["productScore"] == 18
    assert len(m.campaign_requests(ids["welcome"])) == 1


def test_a_ledger_moved_to_the_second_home_hands_the_instance_over(world, invoke, monkeypatch,  # noqa: F811
                                                                   tmp_path, isolated_home):
    m, ids, args = world
    assert invoke(*args).exit_code == 0
    [ledger] = ledger_files(isolated_home)
    home_b = tmp_path / "home-b"
    (home_b / "state" / "instances").mkdir(parents=True)
    for side in ledger.parent.glob(ledger.name + "*"):
        side.rename(home_b / "state" / "instances" / side.name)
    monkeypatch.setenv("SEGMARKETO_HOME", str(home_b))
    second = invoke(*args)
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["counts"]["usage.already_applied"] == 3
    assert m.lead(ids["ann"])["productScore"] == 18
    assert len(m.campaign_requests(ids["welcome"])) == 1
    monkeypatch.setenv("SEGMARKETO_HOME", str(isolated_home))
    assert invoke(*args).exit_code == 4  # now the first home is the one without the ledger


def test_profiles_on_different_instances_keep_separate_ledgers(world, invoke, isolated_home):  # noqa: F811
    _, _, args = world
    with Sandbox(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET) as other:
        other.marketo.add_campaign("Trial Welcome", type="trigger")
        ann = other.marketo.add_lead(email="ann@example.com", productScore=0)
        other.marketo.add_lead(email="bob@example.com")
        assert invoke(*args).exit_code == 0
        result = invoke("--profile", "eu", *args, env={"SEGMARKETO_MARKETO_ENDPOINT": other.url})
        assert result.exit_code == 0, result.output
        assert other.marketo.lead(ann)["productScore"] == 8
    assert len(ledger_files(isolated_home)) == 2


def test_concurrent_backfills_from_two_profiles_do_not_both_write(sandbox, tmp_path, isolated_home):
    sandbox.config.latency_s = 0.2  # widens the first run's window; nothing is timed
    emails = [f"person{i}@example.com" for i in range(900)]
    export = tmp_path / "identifies.jsonl"
    export.write_text("".join(json.dumps({"type": "identify", "userId": f"u{i}", "traits": {"email": e}}) + "\n"
                              for i, e in enumerate(emails)))
    env = subprocess_env(sandbox.url, isolated_home)
    command = [sys.executable, "-m", "segmarketo_cli"]
    first = subprocess.Popen([*command, "--profile", "prod", "backfill-leads", str(export)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stop_inside_run(first, isolated_home / "state" / "prod.sqlite")
        second = subprocess.run([*command, "--profile", "backfill", "backfill-leads", str(export)], env=env,
                                capture_output=True, text=True, timeout=120)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=120)
    assert second.returncode == 75, second.stderr
    last = second.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"segmarketo: error: Marketo instance {sandbox.url} is busy: pid {first.pid} (profile 'prod') holds ")
    assert "Traceback" not in second.stderr
    assert first.returncode == 0, err
    assert len(sandbox.marketo.leads) == len(emails)
    assert sorted(lead["email"] for lead in sandbox.marketo.leads) == sorted(emails)


def test_second_home_is_refused_from_a_real_process_too(sandbox, tmp_path, isolated_home):
    export = tmp_path / "identifies.jsonl"
    export.write_text(json.dumps({"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}}) + "\n")
    command = [sys.executable, "-m", "segmarketo_cli", "backfill-leads", str(export)]
    first = subprocess.run(command, env=subprocess_env(sandbox.url, isolated_home), capture_output=True, text=True,
                           timeout=120)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(command, env=subprocess_env(sandbox.url, tmp_path / "home-b"), capture_output=True,
                            text=True, timeout=120)
    assert second.returncode == 4, second.stderr
    assert "Traceback" not in second.stderr
    assert str(paths.state_dir() / "instances") in second.stderr
    assert len(sandbox.marketo.leads) == 1


PROD = "https://123-ABC-456.mktorest.com"
OTHER = "https://987-XYZ-654.mktorest.com"


def legacy_store(profile: str, message_ids: list[str], calls: int) -> Path:
    """A profile store as segmarketo wrote it before the instance ledger (no user_version, every table)."""
    path = old_profile_store(profile, WITH_PENDING_ACTIONS)
    with connected(path) as db:
        db.executemany("INSERT INTO processed_events VALUES (?, 'usage', ?, 1.0)", [(PROD, m) for m in message_ids])
        db.execute("INSERT INTO processed_events VALUES (?, 'usage', 'other-1', 1.0)", (OTHER,))
        db.execute("INSERT INTO pending_actions VALUES (?, 'welcome', ?, 7, 'campaign', NULL, 'null', 1.0)",
                   (PROD, f"{profile}-pending"))
        db.execute("INSERT INTO api_usage VALUES (?, '2026-12-01', ?)", (PROD, calls))
        db.execute("INSERT INTO cursors VALUES (?, 'writeback', 'token-1', 1.0)", (PROD,))
        db.execute("INSERT INTO runs VALUES ('r1', 'apply-events', ?, 1.0, 2.0, 'ok', NULL)", (profile,))
    return path


def test_stores_from_before_the_ledger_upgrade_into_one_shared_ledger():
    legacy_store("prod", ["s1", "s2"], calls=100)
    legacy_store("backfill", ["s2", "s3"], calls=50)
    prod = StateStore(paths.state_dir(), "prod")
    backfill = StateStore(paths.state_dir(), "backfill")
    assert prod.processed(PROD, "usage", ["s1", "s2", "s3", "s4"]) == {"s1", "s2"}
    assert backfill.processed(PROD, "usage", ["s1", "s2", "s3", "s4"]) == {"s1", "s2", "s3"}
    assert prod.processed(PROD, "usage", ["s3"]) == {"s3"}  # one ledger: prod now sees backfill's events too
    assert {row["message_id"] for row in prod.pending(PROD)} == {"prod-pending", "backfill-pending"}
    assert prod.api_calls_on(PROD, "2026-12-01") == 150
    assert prod.get_cursor(PROD, "writeback") == "token-1"  # cursors and runs stay with the profile
    assert [run["run_id"] for run in prod.list_runs()] == ["r1"]
    assert prod._query("SELECT count(*) FROM processed_events WHERE instance = ?", (PROD,)) == [(0,)]
    assert prod._query("SELECT count(*) FROM processed_events WHERE instance = ?", (OTHER,)) == [(1,)]
    assert prod.processed(OTHER, "usage", ["other-1"]) == {"other-1"}  # adopted when that ledger opens
    prod.close()
    backfill.close()
    reopened = StateStore(paths.state_dir(), "prod")
    assert reopened.processed(PROD, "usage", ["s1", "s2", "s3"]) == {"s1", "s2", "s3"}
    assert reopened.api_calls_on(PROD, "2026-12-01") == 150  # adopted once, not added again
    reopened.close()


def test_the_registry_can_be_placed_with_segmarketo_registry(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGMARKETO_REGISTRY", str(tmp_path / "shared" / "registry.sqlite"))
    store = StateStore(paths.state_dir(), "prod")
    store.mark_processed(PROD, "usage", ["s1"])
    store.close()
    with sqlite3.connect(tmp_path / "shared" / "registry.sqlite") as db:
        rows = db.execute("SELECT key, instance, ledger FROM instances").fetchall()
    assert rows == [("123-ABC-456", PROD, str(paths.state_dir().resolve() / "instances" / "123-ABC-456.sqlite"))]


def test_a_corrupt_registry_is_one_clear_line(world, invoke, monkeypatch, tmp_path):  # noqa: F811
    m, ids, args = world
    registry = tmp_path / "registry.sqlite"
    registry.write_bytes(b"not sqlite at all " * 100)
    monkeypatch.setenv("SEGMARKETO_REGISTRY", str(registry))
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert str(registry) in result.stderr
    assert "Traceback" not in result.output
    assert m.lead(ids["ann"])["productScore"] == 10


HOLDER = """
import sys, time
from pathlib import Path
from segmarketo_cli.state import InstanceLock, StateStore
store = StateStore(Path(sys.argv[1]), "prod")
lock = InstanceLock(store.ledger_path(sys.argv[2]), sys.argv[2], "prod").acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_only_jobs_that_write_to_marketo_wait_for_the_instance_lock(world, invoke, sandbox):  # noqa: F811
    m, ids, args = world
    populate(sandbox, 6)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(paths.state_dir()), sandbox.url],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        applied = invoke("--profile", "backfill", *args)
        assert applied.exit_code == 75, applied.output
        assert f"Marketo instance {sandbox.url} is busy: pid {holder.pid} (profile 'prod')" in applied.stderr
        assert m.lead(ids["ann"])["productScore"] == 10
        assert invoke("--profile", "backfill", *args, "--dry-run").exit_code == 0
        written_back = invoke("--profile", "backfill", "writeback", "--since", "3d")
        assert written_back.exit_code == 0, written_back.output
        assert len(sandbox.segment.accepted) == 6
    finally:
        holder.kill()
        holder.wait()
    assert invoke("--profile", "backfill", *args).exit_code == 0
    assert m.lead(ids["ann"])["productScore"] == 18


@pytest.mark.parametrize(("endpoint", "key"), [
    ("https://123-abc-456.mktorest.com", "123-ABC-456"),
    ("https://123-ABC-456.mktorest.com", "123-ABC-456"),
    ("http://127.0.0.1:51234", "127.0.0.1-51234"),
    ("https://marketo-proxy.example.com/mkto", "marketo-proxy.example.com_mkto"),
])
def test_instance_key_is_the_munchkin_id_or_a_file_safe_host(endpoint, key):
    assert instance_key(endpoint) == key


def test_doctor_fails_in_a_second_home_that_every_job_would_refuse(world, invoke, monkeypatch,  # noqa: F811
                                                                   tmp_path, isolated_home):
    _, _, args = world
    assert invoke(*args).exit_code == 0
    [ledger] = ledger_files(isolated_home)
    first = {c["name"]: c for c in json.loads(invoke("doctor", "--json").stdout)}
    assert first["instance ledger"]["status"] == "ok"
    assert str(ledger) in first["instance ledger"]["detail"]
    monkeypatch.setenv("SEGMARKETO_HOME", str(tmp_path / "home-b"))
    result = invoke("doctor", "--json")
    assert result.exit_code == 1, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["instance ledger"]["status"] == "fail"
    assert str(ledger) in checks["instance ledger"]["detail"]
    assert not (tmp_path / "home-b" / "state" / "instances").exists()  # doctor claims nothing


def test_doctor_fails_when_the_instance_ledger_went_missing(world, invoke, isolated_home):  # noqa: F811
    _, _, args = world
    assert invoke(*args).exit_code == 0
    [ledger] = ledger_files(isolated_home)
    ledger.unlink()
    result = invoke("doctor", "--json")
    assert result.exit_code == 1, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["instance ledger"]["status"] == "fail"
    assert "is missing" in checks["instance ledger"]["detail"]
    assert not ledger.exists()


def test_doctor_fails_when_the_registry_cannot_be_created(invoke, sandbox, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SEGMARKETO_REGISTRY", str(blocker / "registry.sqlite"))
    result = invoke("doctor", "--json")
    assert result.exit_code == 1, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["instance ledger"]["status"] == "fail"
    assert f"{blocker} is a file, not a folder" in checks["instance ledger"]["detail"]
