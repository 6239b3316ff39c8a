"""`segmarketo runs list|show` over runs recorded in the profile's state store."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli import paths
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.state import StateStore


def record(store: StateStore, run_id: str, command: str, started: float, **counts: int) -> dict:
    report = RunReport(command=command, run_id=run_id)
    for bucket, n in counts.items():
        report.add(bucket, n)
    if counts.get("rejected"):
        report.rejects_file = f"/tmp/rejects/{run_id}.jsonl"
    report.duration_s = 2.5
    store.start_run(run_id, command, started)
    data = report.to_dict()
    store.finish_run(run_id, report.status, data)
    return data


@pytest.fixture
def store():
    store = StateStore(paths.state_dir(), "default")
    record(store, "20261101T100000Z-aaaaaa", "backfill-leads", 1_793_527_200.0, read=10, created=7, rejected=3)
    record(store, "20261102T100000Z-bbbbbb", "writeback", 1_793_613_600.0, read=5, sent=5)
    record(store, "20261102T110000Z-cccccc", "sync-audience", 1_793_617_200.0, added=2, removed=0)
    store.start_run("20261103T100000Z-dddddd", "apply-events", 1_793_700_000.0)
    yield store
    store.close()


def test_list_newest_first_with_counts_status_and_rejects(invoke, store):
    result = invoke("runs", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["RUN", "ID", "COMMAND", "STARTED", "(UTC)", "TOOK", "STATUS", "COUNTS", "REJECTS"]
    assert [line.split()[0] for line in lines[1:]] == [
        "20261103T100000Z-dddddd", "20261102T110000Z-cccccc", "20261102T100000Z-bbbbbb", "20261101T100000Z-aaaaaa"]
    assert "running" in lines[1]
    assert "ok" in lines[2]
    assert "added 2" in lines[2]
    assert "removed" not in lines[2]
    assert "partial" in lines[4]
    assert "read 10, created 7, rejected 3" in lines[4]
    assert lines[4].endswith("/tmp/rejects/20261101T100000Z-aaaaaa.jsonl")
    assert "2026-11-01 10:00:00Z" in lines[4]
    assert "2.5s" in lines[4]


def test_list_limit_and_json(invoke, store):
    result = invoke("runs", "list", "--limit", "2", "--json")
    rows = json.loads(result.stdout)
    assert [r["run_id"] for r in rows] == ["20261103T100000Z-dddddd", "20261102T110000Z-cccccc"]
    assert rows[1] == {"run_id": "20261102T110000Z-cccccc", "command": "sync-audience",
                       "started_at": "2026-11-02 11:00:00Z", "duration_s": 2.5, "status": "ok",
                       "dry_run": False, "counts": {"added": 2, "removed": 0}, "rejects_file": None}
    assert invoke("runs", "list", "--limit", "0").exit_code == 2


def test_list_empty_profile(invoke):
    result = invoke("runs", "list")
    assert result.exit_code == 0
    assert "no runs recorded yet for profile 'default'" in result.stderr


def test_show_by_prefix_reprints_the_report(invoke, store):
    result = invoke("runs", "show", "20261101")
    assert result.exit_code == 0
    assert "backfill-leads · run 20261101T100000Z-aaaaaa · partial" in result.stderr
    assert "created" in result.stderr
    assert "Rejects: /tmp/rejects/20261101T100000Z-aaaaaa.jsonl" in result.stderr


def test_show_json_is_the_stored_report(invoke, store):
    result = invoke("runs", "show", "20261102T100000Z-bbbbbb", "--json")
    data = json.loads(result.stdout)
    assert data["command"] == "writeback"
    assert data["counts"] == {"read": 5, "sent": 5}
    assert data["status"] == "ok"


def test_show_unfinished_run(invoke, store):
    result = invoke("runs", "show", "20261103", "--json")
    data = json.loads(result.stdout)
    assert data["status"] == "running"
    assert "no report was recorded" in data["notes"][0]


def test_show_unknown_and_ambiguous_ids_exit_1(invoke, store):
    unknown = invoke("runs", "show", "nope")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == ("segmarketo: error: no run 'nope' in profile 'default' "
                                      "(see 'segmarketo runs list')")
    ambiguous = invoke("runs", "show", "20261102")
    assert ambiguous.exit_code == 1
    assert "ambiguous" in ambiguous.stderr
    assert "20261102T110000Z-cccccc" in ambiguous.stderr
    assert "20261102T100000Z-bbbbbb" in ambiguous.stderr
    wildcard = invoke("runs", "show", "2026%")
    assert wildcard.exit_code == 1
