"""Reruns on unchanged input: the decision against the last successful run, what is recorded, and what is said."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from segmarketo_cli import paths
from segmarketo_cli.jobs import unchanged_inputs
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.unchanged_inputs import (
    InputCheck,
    check_inputs,
    plan_key,
    record_inputs,
    report_input_check,
)
from segmarketo_cli.sources import preflight
from segmarketo_cli.state import StateStore

COMMAND = "backfill-leads"
KEY = plan_key(COMMAND, {"nulls": "keep", "mapping": {"traits.company": "company"}})
MTIME = 1_760_000_000_000_000_000
ANN = '{"type": "identify", "userId": "u1", "traits": {"email": "ann@example.com"}}\n'
BOB = '{"type": "identify", "userId": "u2", "traits": {"email": "bob@example.com"}}\n'


@pytest.fixture
def store():
    opened = StateStore(paths.state_dir(), "default")
    yield opened
    opened.close()


def write(path: Path, text: str, mtime_ns: int = MTIME) -> Path:
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def run(store: StateStore, *files: Path, key: str = KEY, full: bool = False, dry_run: bool = False,
        ends: str = "ok", command: str = COMMAND) -> tuple[InputCheck, RunReport]:
    """One run as cli/jobrun.run_job frames it: started, checked, recorded as its last step, finished."""
    report = RunReport(command, dry_run=dry_run)
    store.start_run(report.run_id, command, report.started_at)
    check = check_inputs(store.input_history, command, preflight([str(f) for f in files]), key, full=full,
                         dry_run=dry_run)
    if ends == "partial":
        report.add("rejected")
    elif ends in ("failed", "deferred", "interrupted"):
        report.error = ends
        report.forced_status = ends
    record_inputs(store.input_history, report, check)
    if ends == "fails after recording":  # e.g. the rejects file could not be closed: run_job's own failure
        report.error = "disk full"
        report.forced_status = "failed"
    if ends != "dies":
        store.finish_run(report.run_id, report.status, report.to_dict())
    return check, report


def names(paths_: tuple[str, ...]) -> list[str]:
    return [Path(p).name for p in paths_]


def test_a_first_run_has_no_history_and_reads_everything(store, tmp_path):
    a, b = write(tmp_path / "a.jsonl", ANN), write(tmp_path / "b.jsonl", BOB)
    check, _ = run(store, a, b)
    assert check.verdict == "no_history"
    assert check.why == "first run"
    assert check.since_run is None
    assert [source.path for source in check.to_read] == [a, b]
    assert [(f.path, f.size, f.mtime_ns) for f in check.fingerprints] == [
        (str(a.resolve()), len(ANN), MTIME), (str(b.resolve()), len(BOB), MTIME)]


def test_unchanged_input_since_a_successful_run_skips_everything(store, tmp_path):
    a, b = write(tmp_path / "a.jsonl", ANN), write(tmp_path / "b.jsonl", BOB)
    _, first = run(store, a, b)
    check, report = run(store, a, b)
    assert check.verdict == "unchanged"
    assert check.skip_all
    assert check.since_run == first.run_id
    assert check.to_read == ()
    assert names(check.unchanged) == ["a.jsonl", "b.jsonl"]
    assert check.touched == 0
    report_input_check(report, check)
    assert report.notes == [f"input unchanged since run {first.run_id} (2 files, same size, time and content): "
                            "nothing to do; --full re-plans everything"]
    assert report.details["inputs"] == {"unchanged": 2, "run": first.run_id}
    assert report.counts == {}
    assert report.imbalances() == []
    assert report.exit_code == 0


def test_a_file_touched_but_identical_is_unchanged(store, tmp_path):
    a = write(tmp_path / "a.jsonl", ANN)
    _, first = run(store, a)
    write(a, ANN, mtime_ns=MTIME + 86_400 * 10**9)
    check, report = run(store, a)
    assert check.verdict == "unchanged"
    assert check.touched == 1
    report_input_check(report, check)
    assert report.notes == [f"input unchanged since run {first.run_id} (1 file, same size and content; 1 touched "
                            "since, bytes identical): nothing to do; --full re-plans everything"]


def test_new_content_of_the_same_size_and_time_is_changed(store, tmp_path):
    a = write(tmp_path / "a.jsonl", ANN)
    run(store, a)
    write(a, ANN.replace("ann@", "amy@"))  # same length, same mtime: only the digest tells
    check, _ = run(store, a)
    assert check.verdict == "changed"
    assert names(check.modified) == ["a.jsonl"]
    assert [source.path for source in check.to_read] == [a]


def test_a_file_of_another_size_is_changed_without_reading_it(store, tmp_path, monkeypatch):
    a, b = write(tmp_path / "a.jsonl", ANN), write(tmp_path / "b.jsonl", BOB)
    run(store, a, b)
    write(a, ANN + BOB)
    hashed: list[str] = []
    real = unchanged_inputs.content_digest
    monkeypatch.setattr(unchanged_inputs, "content_digest", lambda path: hashed.append(path) or real(path))
    check, _ = run(store, a, b, dry_run=True)  # a dry run records nothing, so it hashes only what decides
    assert names(check.modified) == ["a.jsonl"]
    assert names(tuple(hashed)) == ["b.jsonl"]
    assert check.fingerprints == ()


def test_a_real_run_hashes_every_file_before_reading_it(store, tmp_path):
    a = write(tmp_path / "a.jsonl", ANN)
    run(store, a)
    write(a, ANN + BOB)
    check, _ = run(store, a)
    [recorded] = check.fingerprints
    assert recorded.size == len(ANN + BOB)
    assert recorded.digest == unchanged_inputs.content_digest(str(a))


def test_a_new_file_is_listed_and_alone_to_read(store, tmp_path):
    day1 = write(tmp_path / "day=1.jsonl", ANN)
    _, first = run(store, day1)
    day2 = write(tmp_path / "day=2.jsonl", BOB)
    check, report = run(store, day1, day2)
    assert check.verdict == "changed"
    assert names(check.new) == ["day=2.jsonl"]
    assert names(check.unchanged) == ["day=1.jsonl"]
    assert [source.path for source in check.to_read] == [day2]  # what apply-events reads
    report_input_check(report, check)
    assert report.notes == [f"input changed since run {first.run_id} (new: {day2.resolve()}): every file read "
                            "again, since identity and merged traits need the older files too"]
    assert report.details["inputs"] == {"run": first.run_id, "unchanged": 1, "new": [str(day2.resolve())],
                                        "changed": [], "removed": []}


def test_apply_events_says_it_reads_only_the_new_files(store, tmp_path):
    day1, day2 = write(tmp_path / "day=1.jsonl", ANN), write(tmp_path / "day=2.jsonl", BOB)
    _, first = run(store, day1, command="apply-events")
    check, report = run(store, day1, day2, command="apply-events")
    report_input_check(report, check, reads_all=False)
    assert report.notes == [f"input changed since run {first.run_id} (new: {day2.resolve()}): only the new and "
                            f"changed files read; the 1 file unchanged were fully applied by run {first.run_id}"]


def test_a_file_no_longer_given_is_a_change(store, tmp_path):
    a, b = write(tmp_path / "a.jsonl", ANN), write(tmp_path / "b.jsonl", BOB)
    run(store, a, b)
    check, _ = run(store, a)
    assert check.verdict == "changed"
    assert names(check.removed) == ["b.jsonl"]
    assert check.to_read == ()


def test_another_plan_key_means_no_usable_history(store, tmp_path):
    a = write(tmp_path / "a.jsonl", ANN)
    _, first = run(store, a)
    other = plan_key(COMMAND, {"nulls": "clear", "mapping": {"traits.company": "company"}})
    check, report = run(store, a, key=other)
    assert check.verdict == "no_history"
    assert check.why == "plan changed"
    assert check.since_run == first.run_id
    assert [source.path for source in check.to_read] == [a]
    report_input_check(report, check)
    assert report.notes == ["every input file read: what shapes the plan (flags, mapping, [fields], partition, "
                            f"Marketo fields or segmarketo version) changed since run {first.run_id}"]


def test_full_bypasses_the_history_and_its_successful_run_is_the_new_reference(store, tmp_path):
    a = write(tmp_path / "a.jsonl", ANN)
    run(store, a)
    check, full = run(store, a, full=True)
    assert check.verdict == "no_history"
    assert check.why == "--full"
    report_input_check(full, check)
    assert full.notes == []
    assert "inputs" not in full.details
    again, _ = run(store, a)
    assert again.since_run == full.run_id


@pytest.mark.parametrize("ends", ["partial", "failed", "deferred", "interrupted", "fails after recording", "dies"])
def test_a_run_that_did_not_end_ok_never_becomes_the_reference(store, tmp_path, ends):
    a = write(tmp_path / "a.jsonl", ANN)
    _, first = run(store, a)
    write(a, BOB)
    run(store, a, ends=ends)
    check, _ = run(store, a)
    assert check.verdict == "changed"  # still compared with the first run: the change was never done
    assert check.since_run == first.run_id


def test_a_dry_run_never_becomes_the_reference(store, tmp_path):
    a = write(tmp_path / "a.jsonl", ANN)
    dry, _ = run(store, a, dry_run=True)
    assert dry.verdict == "no_history"
    check, _ = run(store, a)
    assert check.why == "first run"


def test_a_run_whose_buckets_do_not_add_up_is_not_recorded(store, tmp_path):
    a = write(tmp_path / "a.jsonl", ANN)
    report = RunReport(COMMAND)
    report.expect_balance("messages_read", "messages_used")
    report.add("messages_read", 2)
    check = check_inputs(store.input_history, COMMAND, preflight([str(a)]), KEY, full=False, dry_run=False)
    assert not record_inputs(store.input_history, report, check)
    report.add("messages_used", 2)
    assert record_inputs(store.input_history, report, check)


def test_without_a_run_that_ended_ok_there_is_no_history(store, tmp_path):
    a = write(tmp_path / "a.jsonl", ANN)
    run(store, a, ends="partial")
    check, _ = run(store, a)
    assert check.why == "first run"


def test_a_run_that_skipped_everything_keeps_the_run_that_did_the_work(store, tmp_path):
    a = write(tmp_path / "a.jsonl", ANN)
    _, first = run(store, a)
    skipped, report = run(store, a)
    assert skipped.skip_all
    assert not record_inputs(store.input_history, report, skipped)
    again, _ = run(store, a)
    assert again.since_run == first.run_id


def test_each_command_has_its_own_history(store, tmp_path):
    a = write(tmp_path / "a.jsonl", ANN)
    run(store, a, command="apply-events")
    check, _ = run(store, a)
    assert check.why == "first run"


def test_only_the_reference_and_the_running_record_are_kept(store, tmp_path):
    a = write(tmp_path / "a.jsonl", ANN)
    reports = [run(store, a, full=True)[1] for _ in range(4)]
    # The last run recorded while the one before was still the reference; the next record drops that one.
    kept = {row[0] for row in store._query("SELECT run_id FROM input_runs")}
    assert kept == {reports[-2].run_id, reports[-1].run_id}
    assert store._query("SELECT count(*) FROM input_files") == [(2,)]


def test_the_store_stays_private_after_recording(store, tmp_path):
    a = write(tmp_path / "a.jsonl", ANN)
    run(store, a)
    state = paths.state_dir()
    for name in ("default.sqlite", "default.sqlite-wal", "default.sqlite-shm"):
        if (state / name).exists():
            assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_the_plan_key_ignores_key_order_and_includes_the_version(monkeypatch):
    assert plan_key(COMMAND, {"a": 1, "b": [1, 2]}) == plan_key(COMMAND, {"b": [1, 2], "a": 1})
    assert plan_key(COMMAND, {"a": 1}) != plan_key("apply-events", {"a": 1})
    before = plan_key(COMMAND, {"a": 1})
    monkeypatch.setattr(unchanged_inputs, "__version__", "99.0")
    assert plan_key(COMMAND, {"a": 1}) != before
