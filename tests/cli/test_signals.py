"""SIGTERM, SIGINT and SIGKILL sent to real `python -m segmarketo_cli` children while they write to the sandbox."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from segmarketo_cli import paths
from tests.support.reliability_world import FAST_ENV, build, new_box, snapshot
from tests.support.sandbox_env import subprocess_env

INTERNAL_TEXT = ("Traceback", "Buckets do not add up", "internal error", "imbalances")


class SignalAt:
    """Wraps the sandbox's dispatch: once Marketo has handled the first POST to a path starting with `prefix`
    (its reply not yet sent, so the call is in flight), send `signum` to the child. Every such POST's JSON body
    is kept, in order, across runs."""

    def __init__(self, box: Any, prefix: str, signum: int) -> None:
        self.box = box
        self.prefix = prefix
        self.signum: int | None = signum
        self.pid: int | None = None
        self.bodies: list[Any] = []
        self._lock = threading.Lock()
        self._original = box.dispatch
        box.dispatch = self._dispatch

    def disarm(self) -> None:
        self.signum = None

    def _dispatch(self, request: Any) -> Any:
        response = self._original(request)
        if request.method == "POST" and request.path.startswith(self.prefix):
            with self._lock:
                self.bodies.append(request.json())
                signum, self.signum = self.signum, None
            if signum is not None and self.pid is not None:
                os.kill(self.pid, signum)
        return response


class Child:
    """Runs `python -m segmarketo_cli ARGS` against the sandbox with its own SEGMARKETO_HOME."""

    def __init__(self, box: Any, home: Path, hook: SignalAt | None = None, **env: str) -> None:
        self.home = home
        self.env = {**subprocess_env(box.url, home), **FAST_ENV, **env}
        self.hook = hook

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.Popen([sys.executable, "-m", "segmarketo_cli", *args], env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if self.hook is not None:
            self.hook.pid = proc.pid
        stdout, stderr = proc.communicate(timeout=120)
        return subprocess.CompletedProcess(list(args), proc.returncode, stdout, stderr)



def runs_of(invoke: Any, child: Child) -> dict[str, str]:
    """`runs list --json` of the child's home (in-process: it only reads the store): run id -> status."""
    listed = invoke("runs", "list", "--json", env={"SEGMARKETO_HOME": str(child.home)})
    assert listed.exit_code == 0, listed.stderr
    return {run["run_id"]: run["status"] for run in json.loads(listed.stdout)}


def assert_no_internal_text(stderr: str) -> None:
    for text in INTERNAL_TEXT:
        assert text not in stderr, stderr


def synced_emails(hook: SignalAt) -> Counter[str]:
    """How many Sync Leads calls carried each e-mail, over every run so far."""
    return Counter(lead["email"] for body in hook.bodies if "input" in body for lead in body["input"])


@pytest.fixture
def backfill(tmp_path):
    box = new_box()
    scenario = build("backfill", box, tmp_path / "input")
    yield box, scenario
    box.stop()


@pytest.mark.parametrize("signum, code, as_json", [(signal.SIGTERM, 143, True), (signal.SIGINT, 130, False)],
                         ids=["sigterm-json", "sigint-text"])
def test_a_signal_mid_backfill_reports_records_interrupted_and_the_rerun_writes_each_lead_once(
        backfill, tmp_path, invoke, signum, code, as_json):
    box, scenario = backfill
    hook = SignalAt(box, "/rest/v1/leads.json", signum)
    child = Child(box, tmp_path / "home", hook, SEGMARKETO_MAX_CONCURRENCY="1")

    stopped = child.run(*scenario.args, *(["--json"] if as_json else []))

    assert stopped.returncode == code, stopped.stderr
    assert_no_internal_text(stopped.stderr)
    first_batch = sum(synced_emails(hook).values())
    assert 0 < first_batch < 320  # the signal came while the first batch was in flight
    if as_json:
        report = json.loads(stopped.stdout)  # one JSON document
        assert report["status"] == "interrupted"
        assert report["error"] == "interrupted by SIGTERM"
        counts = report["counts"]
        # the batch in flight when the signal came is recorded as Marketo answered it
        assert counts["leads_created"] + counts["leads_updated"] == first_batch
        assert report["not_reached"] == {"leads_planned": 320 - first_batch}
        run_id = report["run_id"]
    else:
        assert stopped.stdout == ""
        assert "interrupted" in stopped.stderr
        assert "interrupted by SIGINT (Ctrl-C)" in stopped.stderr
        assert f"{320 - first_batch:,} of leads planned not reached" in stopped.stderr
        run_id = stopped.stderr.split(" · run ")[1].split(" ")[0]
    assert runs_of(invoke, child) == {run_id: "interrupted"}
    assert not paths.engine_dir(tmp_path / "home" / "state", "default").exists()  # closed, its folder removed

    again = child.run(*scenario.args, "--json")

    assert again.returncode == 0, again.stderr
    assert_no_internal_text(again.stderr)
    counts = json.loads(again.stdout)["counts"]
    assert counts["leads_unchanged"] == first_batch  # the interrupted run's batch is not sent again
    assert counts["leads_created"] + counts["leads_updated"] == 320 - first_batch
    sent = synced_emails(hook)
    assert len(sent) == 320
    assert set(sent.values()) == {1}  # every lead in exactly one Sync Leads call over both runs
    emails = [lead.get("email") for lead in box.marketo.leads]
    assert len(emails) == len(set(emails)) == 320  # the sandbox holds each lead once
    assert runs_of(invoke, child)[run_id] == "interrupted"


def test_sigterm_mid_apply_events_applies_every_effect_once_after_the_rerun(tmp_path, invoke):
    clean_box = new_box()
    try:
        clean = build("apply-events", clean_box, tmp_path / "clean-input")
        done = Child(clean_box, tmp_path / "clean-home").run(*clean.args, "--json")
        assert done.returncode == 0, done.stderr
        expected = snapshot(clean_box)
    finally:
        clean_box.stop()

    box = new_box()
    try:
        scenario = build("apply-events", box, tmp_path / "input")
        hook = SignalAt(box, "/rest/", signal.SIGTERM)  # the first write to Marketo (its reads are GETs)
        child = Child(box, tmp_path / "home", hook)

        stopped = child.run(*scenario.args, "--json")

        assert stopped.returncode == 143, stopped.stderr
        assert_no_internal_text(stopped.stderr)
        report = json.loads(stopped.stdout)
        assert report["status"] == "interrupted"
        assert hook.bodies  # a write was in flight
        assert snapshot(box) != expected  # stopped part way

        again = child.run(*scenario.args, "--json")

        assert again.returncode == 0, again.stderr
        assert_no_internal_text(again.stderr)
        assert snapshot(box) == expected  # each score, status and campaign request applied once
        assert set(runs_of(invoke, child).values()) == {"interrupted", "ok"}
    finally:
        box.stop()


def test_a_killed_run_is_marked_abandoned_by_the_next_run_once(backfill, tmp_path, invoke):
    box, scenario = backfill
    hook = SignalAt(box, "/rest/v1/leads.json", signal.SIGKILL)
    child = Child(box, tmp_path / "home", hook, SEGMARKETO_MAX_CONCURRENCY="1")

    killed = child.run(*scenario.args, "--json")

    assert killed.returncode == -signal.SIGKILL
    killed_pid = hook.pid
    ((run_id, status),) = runs_of(invoke, child).items()
    assert status == "running"  # nothing took the profile lock since

    again = child.run(*scenario.args, "--json")

    assert again.returncode == 0, again.stderr
    assert again.stderr.count(f"segmarketo: run {run_id} was abandoned (process gone)") == 1
    assert_no_internal_text(again.stderr)
    assert runs_of(invoke, child)[run_id] == "abandoned"
    shown = invoke("runs", "show", run_id, env={"SEGMARKETO_HOME": str(child.home)})
    assert shown.exit_code == 0, shown.stderr
    assert "abandoned" in shown.stderr
    assert f"by pid {killed_pid} on {socket.gethostname()}" in shown.stderr
    third = child.run(*scenario.args, "--json")
    assert third.returncode == 0, third.stderr
    assert "abandoned" not in third.stderr  # said once
    emails = [lead.get("email") for lead in box.marketo.leads]
    assert len(emails) == len(set(emails)) == 320
