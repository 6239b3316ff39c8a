"""`runs undo` reads a run's change log a group of leads at a time: each group holds every change of its leads, no
more than LEADS_PER_GROUP leads are in memory, and an undo stopped between groups, or interrupted while a write is
out, resumes exactly once."""

from __future__ import annotations

import _thread
import csv
import json
import time

import pytest

from segmarketo_cli import paths
from segmarketo_cli.endpoints import normalize_endpoint
from segmarketo_cli.jobs.undo import run as undo_run
from segmarketo_cli.marketo.client import MarketoClient
from segmarketo_cli.state import StateStore
from segmarketo_cli.state.change_log import Change, ChangeWriter
from tests.cli.test_runs_undo import RUN, logged_run
from tests.support.undo_world import undo


def test_lead_groups_hold_every_change_of_their_leads_once_then_the_changes_without_a_lead(isolated_home):
    store = StateStore(paths.state_dir(), "default")
    try:
        store.start_run(RUN, "apply-events", 0.0)
        changes = [Change("score", f"l{lead}", lead, fields={"s": (0, 1)}) for lead in (5, 3, 9, 5, 1, 3, 7)]
        changes.insert(3, Change("event", "m1"))
        store.change_log.writer(RUN, "https://x.mktorest.com").record(changes)
        groups = list(store.change_log.lead_groups(RUN, leads=2))
    finally:
        store.close()
    assert [[(logged.seq, logged.change.lead_id) for logged in group] for group in groups] == [
        [(2, 3), (6, 1), (7, 3)], [(1, 5), (5, 5), (8, 7)], [(3, 9)], [(4, None)]]


@pytest.fixture
def many(sandbox):
    """A logged run that set `company` on 650 leads and added 1 to `leadScore` twice on each, far apart."""
    mk = sandbox.marketo
    leads = [mk.add_lead(email=f"p{i}@example.com", company=f"New {i}", leadScore=2) for i in range(650)]
    logged_run(normalize_endpoint(sandbox.url), [
        *[Change("update", f"p{i}@example.com", lead, fields={"company": (f"Old {i}", f"New {i}")})
          for i, lead in enumerate(leads)],
        *[Change("score", f"p{i}@example.com", lead, fields={"leadScore": (0, 1)}) for i, lead in enumerate(leads)],
        *[Change("score", f"p{i}@example.com", lead, fields={"leadScore": (1, 2)}) for i, lead in enumerate(leads)],
    ])
    return leads


def test_the_undo_plans_300_leads_at_a_time_and_restores_them_all(invoke, sandbox, many, monkeypatch):
    seen: list[int] = []
    plan_undo = undo_run.plan_undo

    def spy(changes, **kwargs):
        seen.append(len({logged.change.lead_id for logged in changes}))
        return plan_undo(changes, **kwargs)

    monkeypatch.setattr(undo_run, "plan_undo", spy)
    code, report = undo(invoke, RUN)
    assert code == 0, report
    assert seen == [300, 300, 50]
    assert report["counts"]["restored"] == 650 * 3
    leads = [sandbox.marketo.lead(lead) for lead in many]
    assert {lead["leadScore"] for lead in leads} == {0}
    assert [lead["company"] for lead in leads] == [f"Old {i}" for i in range(650)]


def test_an_undo_stopped_between_groups_resumes_exactly_once(invoke, sandbox, many):
    # The first group's Get Leads and Sync Leads, then the day's quota is gone.
    sandbox.limits.daily_quota = sandbox.limits.used_today() + 3
    stopped = invoke("runs", "undo", RUN, "--json")
    assert stopped.exit_code == 75, stopped.output
    assert json.loads(stopped.stdout)["counts"]["restored"] == 300 * 3
    assert [sandbox.marketo.lead(lead)["leadScore"] for lead in many[299:301]] == [0, 2]
    sandbox.limits.daily_quota = 50_000
    code, report = undo(invoke, RUN)
    assert code == 0, report
    assert report["counts"]["already_undone"] == 300 * 3
    assert report["counts"]["restored"] == 350 * 3
    assert {sandbox.marketo.lead(lead)["leadScore"] for lead in many} == {0}  # never subtracted twice


def test_a_dry_runs_plan_file_holds_every_group_and_the_terminal_the_first_rows(invoke, sandbox, many, tmp_path):
    plan_file = tmp_path / "undo.csv"
    result = invoke("runs", "undo", RUN, "--dry-run", "--plan-out", str(plan_file))
    assert result.exit_code == 0, result.output
    with plan_file.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 650 * 3
    assert {row["lead_id"] for row in rows} == {str(lead) for lead in many}
    assert {row["action"] for row in rows} == {"update", "score"}
    assert "… and 1,930 more (write all with --plan-out FILE)" in result.stdout
    assert {sandbox.marketo.lead(lead)["leadScore"] for lead in many} == {2}  # nothing written


def test_an_interrupt_while_a_write_is_out_waits_for_it_and_records_it(invoke, sandbox, many, monkeypatch):
    sync_leads = MarketoClient.sync_leads
    calls: list[int] = []

    def interrupted(self, records, **kwargs):
        rows = sync_leads(self, records, **kwargs)  # Marketo applied the batch ...
        calls.append(len(records))
        if len(calls) == 1:
            _thread.interrupt_main()  # ... and Ctrl-C arrives before its answer is read
            time.sleep(0.2)
        return rows

    monkeypatch.setattr(MarketoClient, "sync_leads", interrupted)
    stopped = invoke("runs", "undo", RUN, "--json")
    assert stopped.exit_code == 130, stopped.output
    assert calls == [300]  # no further call after the interrupt
    assert json.loads(stopped.stdout)["counts"]["restored"] == 300 * 3  # the batch out was recorded
    code, report = undo(invoke, RUN)
    assert code == 0, report
    assert report["counts"]["already_undone"] == 300 * 3
    assert {sandbox.marketo.lead(lead)["leadScore"] for lead in many} == {0}  # none subtracted twice


def test_an_interrupt_while_a_confirmed_batch_is_being_recorded_still_records_it(invoke, sandbox, many, monkeypatch):
    record = ChangeWriter.record
    interrupted: list[int] = []

    def recording(self, changes):
        changes = list(changes)
        if changes and not interrupted:
            interrupted.append(len(changes))
            _thread.interrupt_main()  # Ctrl-C lands after Marketo's answer, while its changes are being logged
            time.sleep(0.2)
        return record(self, changes)

    monkeypatch.setattr(ChangeWriter, "record", recording)
    stopped = invoke("runs", "undo", RUN, "--json")
    assert stopped.exit_code == 130, stopped.output
    assert interrupted
    restored = json.loads(stopped.stdout)["counts"]["restored"]
    code, report = undo(invoke, RUN)
    assert code == 0, report
    assert report["counts"]["already_undone"] == restored  # what the stopped undo reported, it had logged
    assert {sandbox.marketo.lead(lead)["leadScore"] for lead in many} == {0}  # none subtracted twice


def test_writes_the_undo_could_not_make_are_deferred_and_made_by_the_next_undo(invoke, sandbox, many):
    sandbox.limits.daily_quota = sandbox.limits.used_today() + 1  # the first group's Get Leads, not its Sync Leads
    stopped = invoke("runs", "undo", RUN, "--json")
    assert stopped.exit_code == 75, stopped.output
    report = json.loads(stopped.stdout)
    assert "imbalances" not in report
    assert (report["counts"]["changes"], report["counts"]["deferred"]) == (300 * 3, 300 * 3)
    assert {sandbox.marketo.lead(lead)["leadScore"] for lead in many} == {2}
    sandbox.limits.daily_quota = 50_000
    code, done = undo(invoke, RUN)
    assert code == 0, done
    assert done["counts"]["restored"] == 650 * 3
    assert {sandbox.marketo.lead(lead)["leadScore"] for lead in many} == {0}
