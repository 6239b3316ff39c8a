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


def test_list_newest_first_in_80_columns_with_iso_times_and_key_counts(invoke, store):
    result = invoke("runs", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].split() == ["RUN", "ID", "STARTED", "(UTC)"]
    assert lines[1].split() == ["COMMAND", "TOOK", "STATUS", "COUNTS"]
    rows = [line.split() for line in lines[3:] if line.strip()]
    assert [row[0] for row in rows[::2]] == [
        "20261103T100000Z-dddddd", "20261102T110000Z-cccccc", "20261102T100000Z-bbbbbb", "20261101T100000Z-aaaaaa"]
    assert [row[0] for row in rows[1::2]] == ["apply-events", "sync-audience", "writeback", "backfill-leads"]
    assert rows[0][1:3] == ["2026-11-03T10:00:00Z", "running"]
    assert rows[2][1:] == ["2026-11-02T11:00:00Z", "ok", "added", "2"]
    assert rows[3][1] == "2.5s"
    assert " ".join(rows[6]) == "20261101T100000Z-aaaaaa 2026-11-01T10:00:00Z partial created 7, rejected 3"
    assert "read" not in result.stdout  # input counts and per-rule buckets: in `runs show`


def test_list_wraps_many_counts_inside_80_columns(invoke, isolated_home):
    store = StateStore(paths.state_dir(), "default")
    buckets = {f"{word}_{n}": n + 1 for n, word in enumerate(["created", "updated", "unchanged", "added", "removed",
                                                               "sent", "rejected", "deferred"])}
    record(store, "20261104T100000Z-eeeeee", "apply-events", 1_793_786_400.0,
           **{f"leads_{word}": n for n, word in enumerate(["created", "updated", "unchanged", "rejected"], 1000)},
           **{key.split("_")[0]: value for key, value in buckets.items()})
    store.close()
    result = invoke("runs", "list")
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    text = " ".join(result.stdout.split())
    for word in ("leads created 1,000", "leads rejected 1,003", "deferred 8"):
        assert word in text


@pytest.mark.parametrize(("argv", "expected"), [
    (("--command", "writeback"), ["20261102T100000Z-bbbbbb"]),
    (("--status", "partial"), ["20261101T100000Z-aaaaaa"]),
    (("--status", "running"), ["20261103T100000Z-dddddd"]),
    (("--since", "2026-11-02T10:30:00Z"), ["20261103T100000Z-dddddd", "20261102T110000Z-cccccc"]),
    (("--since", "2026-11-02", "--command", "writeback", "--status", "ok"), ["20261102T100000Z-bbbbbb"]),
    (("--command", "writeback", "--status", "partial"), []),
])
def test_list_filters(invoke, store, argv, expected):
    rows = json.loads(invoke("runs", "list", *argv, "--json").stdout)
    assert [row["run_id"] for row in rows] == expected


def test_list_filters_matching_nothing_say_so(invoke, store):
    result = invoke("runs", "list", "--command", "nope")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no runs matching the filters recorded yet for profile 'default'" in result.stderr


def test_list_refuses_bad_filters_with_exit_2(invoke, store):
    assert invoke("runs", "list", "--status", "done").exit_code == 2
    bad_since = invoke("runs", "list", "--since", "yesterday")
    assert bad_since.exit_code == 2
    assert "--since 'yesterday'" in bad_since.stderr


def test_list_limit_and_json(invoke, store):
    result = invoke("runs", "list", "--limit", "2", "--json")
    rows = json.loads(result.stdout)
    assert [r["run_id"] for r in rows] == ["20261103T100000Z-dddddd", "20261102T110000Z-cccccc"]
    assert rows[1] == {"run_id": "20261102T110000Z-cccccc", "command": "sync-audience",
                       "started_at": "2026-11-02T11:00:00Z", "duration_s": 2.5, "status": "ok",
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


@pytest.mark.parametrize(("reference", "expected"), [
    ("last", "20261103T100000Z-dddddd"),
    ("last:sync-audience", "20261102T110000Z-cccccc"),
    ("last:backfill-leads", "20261101T100000Z-aaaaaa"),
])
def test_show_last_and_last_of_a_command(invoke, store, reference, expected):
    result = invoke("runs", "show", reference, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["run_id"] == expected


def test_show_last_of_a_command_without_runs_exits_1_in_one_line(invoke, store):
    result = invoke("runs", "show", "last:runs undo")
    assert result.exit_code == 1
    assert result.stderr.strip() == ("segmarketo: error: no run of 'runs undo' in profile 'default' "
                                     "(see 'segmarketo runs list')")


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
