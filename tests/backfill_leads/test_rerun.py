"""backfill-leads reruns on unchanged input: nothing read, nothing written, one note; a new file is read alone."""

from __future__ import annotations

import os

from tests.backfill_leads.test_cli import run, write_people


def calls(sandbox) -> int:
    return sandbox.marketo.calls


def test_a_rerun_on_unchanged_input_reads_and_writes_nothing(invoke, sandbox, tmp_path):
    path = write_people(tmp_path / "day=1.jsonl", 30)
    result, first = run(invoke, path)
    assert result.exit_code == 0, result.stderr
    assert first["counts"]["leads_created"] == 30
    before = calls(sandbox)
    os.utime(path)  # touched, bytes identical
    result, again = run(invoke, path)
    assert result.exit_code == 0, result.stderr
    assert set(again["counts"].values()) == {0}
    assert "imbalances" not in again
    assert again["notes"] == [f"input unchanged since run {first['run_id']} (1 file, same size and content; "
                              "1 touched since, bytes identical): nothing to do; --full re-plans everything"]
    assert again["details"]["inputs"] == {"unchanged": 1, "run": first["run_id"]}
    assert calls(sandbox) - before <= 2  # at most Describe and Describe Lead2, when their day cache expired
    assert len(sandbox.marketo.leads) == 30


def test_a_new_day_reads_only_the_new_file_and_names_it(invoke, sandbox, tmp_path):
    day1 = write_people(tmp_path / "day=1.jsonl", 30)
    _, first = run(invoke, day1)
    day2 = write_people(tmp_path / "day=2.jsonl", 5, start=30)
    result, report = run(invoke, day1, day2)
    assert result.exit_code == 0, result.stderr
    assert report["counts"]["messages_read"] == 5
    assert report["counts"]["leads_planned"] == 5
    assert report["counts"]["leads_created"] == 5
    assert report["details"]["inputs"]["people_not_affected"] == 30
    assert report["details"]["inputs"]["new"] == [str(day2.resolve())]
    assert report["details"]["inputs"]["run"] == first["run_id"]
    _, third = run(invoke, day1, day2)
    assert third["details"]["inputs"] == {"unchanged": 2, "run": report["run_id"]}


def test_full_and_dry_runs(invoke, sandbox, tmp_path):
    path = write_people(tmp_path / "day=1.jsonl", 10)
    result, dry = run(invoke, path, "--dry-run")
    assert dry["counts"]["leads_to_write"] == 10  # a dry run never becomes the reference
    _, first = run(invoke, path)
    _, dry = run(invoke, path, "--dry-run")
    assert dry["details"]["inputs"] == {"unchanged": 1, "run": first["run_id"]}
    result, full = run(invoke, path, "--full")
    assert result.exit_code == 0, result.stderr
    assert full["counts"]["messages_read"] == 10
    assert full["counts"]["leads_updated"] == 10
    _, after = run(invoke, path)
    assert after["details"]["inputs"]["run"] == full["run_id"]


def test_other_flags_re_plan(invoke, sandbox, tmp_path):
    path = write_people(tmp_path / "day=1.jsonl", 10)
    _, first = run(invoke, path)
    result, report = run(invoke, path, "--nulls", "clear")
    assert result.exit_code == 0, result.stderr
    assert report["counts"]["messages_read"] == 10
    assert report["counts"]["leads_unchanged"] == 10
    assert report["notes"][-1].endswith(f"changed since run {first['run_id']}")
