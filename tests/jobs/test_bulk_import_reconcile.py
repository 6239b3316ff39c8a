"""Bulk Import outcomes against the real file shapes: failed rows mapped back or resent, never counted as imported;
files over Marketo's 10 MB limit split, never a crash (backfill-leads and sync-audience --create-missing)."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli.jobs.bulk_import import execute as backfill_bulk
from segmarketo_cli.jobs.sync_audience import execute_create
from segmarketo_cli.marketo import bulk as client_bulk
from segmarketo_cli.sandbox.marketo import bulk as marketo_bulk
from tests.backfill_leads.test_cli import run, write_people
from tests.sync_audience.test_cli import audience_csv, calls, world  # noqa: F401 - fixtures

ROW_FIELD = "segmarketoImportRow"


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    monkeypatch.setattr(backfill_bulk, "POLL_FIRST_S", 0.01)
    monkeypatch.setattr(backfill_bulk, "POLL_MAX_S", 0.05)
    monkeypatch.setattr(execute_create, "IMPORT_POLL_S", (0.0,))


@pytest.fixture
def duplicated_person2(sandbox):
    """person2@example.com matches two leads, so its bulk row fails with 'Multiple lead match lookup criteria'."""
    sandbox.marketo.add_lead(email="person2@example.com", firstName="Dup A")
    sandbox.marketo.add_lead(email="person2@example.com", firstName="Dup B")
    sandbox.config.bulk_report_header = "keyless"  # the failure file cannot be mapped by e-mail


def rejects_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sync_leads_posts(sandbox_calls: list[tuple[str, str]]) -> int:
    return sum(1 for method, path in sandbox_calls if (method, path) == ("POST", "/rest/v1/leads.json"))


def test_unmappable_failure_file_is_not_success_the_job_is_resent_and_retried(calls, invoke, sandbox,  # noqa: F811
                                                                           tmp_path, duplicated_person2):
    rejects = tmp_path / "rej.jsonl"
    path = write_people(tmp_path / "in.jsonl", 5)
    result, report = run(invoke, path, "--bulk-threshold", "1", "--rejects", rejects)
    assert result.exit_code == 3, result.stderr
    counts = report["counts"]
    assert counts["leads_imported"] == 0
    assert counts["bulk_leads_resent"] == 5
    assert counts["leads_updated"] == 4
    assert counts["leads_rejected"] == 1
    assert "imbalances" not in report
    (line,) = rejects_of(rejects)
    assert line["key"] == "person2@example.com"
    assert line["code"] == "1007"
    assert sync_leads_posts(calls) >= 1
    # Not stored as done: the next run plans person2 again instead of calling it unchanged.
    again, report = run(invoke, path, "--bulk-threshold", "100")
    assert report["counts"]["leads_unchanged"] == 4
    assert report["counts"]["leads_rejected"] == 1


def test_row_number_field_maps_failures_back_without_any_resend(calls, invoke, sandbox, tmp_path,  # noqa: F811
                                                               duplicated_person2, monkeypatch):
    sandbox.marketo.add_field(ROW_FIELD, "string", 255)
    monkeypatch.setenv("SEGMARKETO_BULK_ROW_FIELD", ROW_FIELD)
    rejects = tmp_path / "rej.jsonl"
    result, report = run(invoke, write_people(tmp_path / "in.jsonl", 5), "--bulk-threshold", "1",
                         "--rejects", rejects)
    assert result.exit_code == 3, result.stderr
    assert report["counts"]["leads_imported"] == 4
    assert report["counts"]["leads_rejected"] == 1
    (line,) = rejects_of(rejects)
    assert line["key"] == "person2@example.com"
    assert line["reason"] == "bulk import: Multiple lead match lookup criteria"
    assert sync_leads_posts(calls) == 0
    assert sandbox.marketo.find_leads("email", "person4@example.com")[0]["firstName"] == "P4"


def test_row_counts_that_do_not_add_up_are_not_success(invoke, sandbox, tmp_path, monkeypatch):
    original = marketo_bulk.ImportJob.to_api

    def undercount(job):  # Marketo says 1 row failed but the failures file lists none
        row = original(job)
        return {**row, "numOfRowsFailed": 1} if row["status"] == "Complete" else row

    monkeypatch.setattr(marketo_bulk.ImportJob, "to_api", undercount)
    result, report = run(invoke, write_people(tmp_path / "in.jsonl", 4), "--bulk-threshold", "1")
    assert result.exit_code == 0, result.stderr
    assert report["counts"]["leads_imported"] == 0
    assert report["counts"]["bulk_leads_resent"] == 4
    assert report["counts"]["leads_updated"] == 4


def test_a_bad_row_field_is_a_config_error_before_any_write(invoke, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMARKETO_BULK_ROW_FIELD", "noSuchField")
    result, _ = run(invoke, write_people(tmp_path / "in.jsonl", 3), "--bulk-threshold", "1")
    assert result.exit_code == 2
    assert "bulk_row_field 'noSuchField' is not a Marketo lead field" in result.output
    assert not sandbox.marketo.leads


def test_a_file_marketo_refuses_as_too_large_is_split_and_imported(invoke, sandbox, tmp_path, monkeypatch):
    monkeypatch.setattr(marketo_bulk, "MAX_IMPORT_FILE_BYTES", 600)
    result, report = run(invoke, write_people(tmp_path / "in.jsonl", 40), "--bulk-threshold", "1")
    assert result.exit_code == 0, result.stderr
    assert report["counts"]["leads_imported"] == 40
    assert report["counts"]["bulk_import_jobs"] > 1
    assert len(sandbox.marketo.leads) == 40


def test_a_lead_too_large_for_any_file_is_rejected_not_a_crash(invoke, sandbox, tmp_path, monkeypatch):
    monkeypatch.setattr(client_bulk, "BULK_IMPORT_MAX_BYTES", 2_000)
    path = write_people(tmp_path / "in.jsonl", 6)
    lines = path.read_text().splitlines()
    big = json.loads(lines[3])
    big["traits"]["address"] = "x" * 3_000
    lines[3] = json.dumps(big)
    path.write_text("\n".join(lines) + "\n")
    rejects = tmp_path / "rej.jsonl"
    result, report = run(invoke, path, "--bulk-threshold", "1", "--rejects", rejects)
    assert result.exit_code == 3, result.stderr
    assert report["counts"]["leads_imported"] == 5
    assert report["counts"]["leads_rejected"] == 1
    (line,) = rejects_of(rejects)
    assert line["key"] == "person3@example.com"
    assert "over the bulk import file limit" in line["reason"]


def test_audience_bulk_create_never_counts_unconfirmed_people_as_created(world, sandbox, invoke, tmp_path,  # noqa: F811
                                                                         monkeypatch):
    ids, list_id = world
    monkeypatch.setattr(execute_create, "BULK_CREATE_MIN", 2)
    sandbox.config.bulk_report_header = "keyless"
    new = [f"bulk{i}@example.com" for i in range(3)] + ["jürgen@example.com"]  # Marketo refuses the last one
    rejects = tmp_path / "rej.jsonl"
    result = invoke("sync-audience", audience_csv(tmp_path, new), "--list", "VIP", "--mode", "add-only",
                    "--create-missing", "--rejects", str(rejects), "--json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["counts"]["create_failed"] == 1
    assert "imbalances" not in report
    (line,) = rejects_of(rejects)
    assert line["identity"] == "jürgen@example.com"
    created = {sandbox.marketo.find_leads("email", e)[0]["id"] for e in new[:3]}
    assert created <= sandbox.marketo.list_members(list_id)
    assert not sandbox.marketo.find_leads("email", "jürgen@example.com")


def test_audience_bulk_create_maps_failures_by_row_number(world, sandbox, invoke, tmp_path, monkeypatch):  # noqa: F811
    ids, list_id = world
    monkeypatch.setattr(execute_create, "BULK_CREATE_MIN", 2)
    sandbox.config.bulk_report_header = "keyless"
    sandbox.marketo.add_field(ROW_FIELD, "string", 255)
    monkeypatch.setenv("SEGMARKETO_BULK_ROW_FIELD", ROW_FIELD)
    new = ["jürgen@example.com"] + [f"bulk{i}@example.com" for i in range(3)]
    result = invoke("sync-audience", audience_csv(tmp_path, new), "--list", "VIP", "--mode", "add-only",
                    "--create-missing", "--json")
    assert result.exit_code == 3, result.output
    counts = json.loads(result.stdout)["counts"]
    assert counts["created"] == 3
    assert counts["create_failed"] == 1


def test_audience_bulk_create_splits_files_marketo_refuses_as_too_large(world, sandbox, invoke, tmp_path,  # noqa: F811
                                                                       monkeypatch):
    ids, list_id = world
    monkeypatch.setattr(execute_create, "BULK_CREATE_MIN", 2)
    monkeypatch.setattr(marketo_bulk, "MAX_IMPORT_FILE_BYTES", 300)
    new = [f"bulk{i}@example.com" for i in range(30)]
    result = invoke("sync-audience", audience_csv(tmp_path, new), "--list", "VIP", "--mode", "add-only",
                    "--create-missing", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["created"] == 30
    created = {sandbox.marketo.find_leads("email", e)[0]["id"] for e in new}
    assert created <= sandbox.marketo.list_members(list_id)
