"""backfill-leads --plan-out and the change log: a dry run's plan file (created vs updated, field by field, with
before-values read from Marketo) equals the change log of the real run that follows, on REST and Bulk Import,
planned in memory or on the engine."""

from __future__ import annotations

import json
import stat

import duckdb
import pytest

from segmarketo_cli import paths
from segmarketo_cli.jobs.backfill_leads import execute
from segmarketo_cli.jobs.bulk_import import execute as backfill_bulk
from segmarketo_cli.jobs.changes import plan_rows
from segmarketo_cli.state import StateStore
from tests.backfill_leads.test_cli import write_people
from tests.support.plan_files import read_plan

OWNERSHIP = ('[profiles.default]\n[profiles.default.fields]\nmarketo_owned = ["leadScore"]\n'
             'fill_only = ["title"]\n')
COMPARED = ("key", "action", "target", "field", "before", "after")
WRITES = ("create", "update")


@pytest.fixture
def seeded(sandbox, isolated_home, tmp_path):
    """Field ownership in the profile, two of five people already in Marketo, the input file."""
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text(OWNERSHIP)
    sandbox.marketo.add_lead(email="person0@example.com", firstName="Old0", title="VP Sales", leadScore=50)
    sandbox.marketo.add_lead(email="person1@example.com", firstName="Old1")
    return write_people(tmp_path / "in.jsonl", 5, title="Engineer", lead_score=7)


def backfill(invoke, *args: object) -> tuple[int, dict]:
    result = invoke("backfill-leads", *map(str, args), "--json")
    assert result.stdout.startswith("{"), result.stderr
    return result.exit_code, json.loads(result.stdout)


def logged_rows(run_id: str) -> list[dict[str, str]]:
    store = StateStore(paths.state_dir(), "default")
    return list(plan_rows(store.change_log.changes(run_id)))


def compared(rows: list[dict[str, str]], actions: tuple[str, ...] = WRITES) -> list[tuple[str, ...]]:
    return sorted(tuple(row[name] for name in COMPARED) for row in rows if row["action"] in actions)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_a_dry_runs_plan_file_equals_the_real_runs_change_log(invoke, sandbox, seeded, tmp_path, suffix):
    plan_file = tmp_path / f"plan{suffix}"
    code, report = backfill(invoke, seeded, "--dry-run", "--plan-out", plan_file)
    assert code == 0
    counts = report["counts"]
    assert (counts["leads_to_write"], counts["leads_to_create"], counts["leads_to_update"]) == (5, 3, 2)
    assert "imbalances" not in report
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    planned = read_plan(plan_file)
    rows = {(row["key"], row["action"], row["field"]): row for row in planned}
    assert rows["person0@example.com", "update", "firstName"]["before"] == "Old0"
    assert rows["person0@example.com", "update", "firstName"]["after"] == "P0"
    assert rows["person0@example.com", "update", "firstName"]["lead_id"] != ""
    assert rows["person0@example.com", "update", "firstName"]["origin"] == f"{seeded}:1"
    assert rows["person0@example.com", "skip-owned", "leadScore"]["before"] == "50"
    assert rows["person0@example.com", "skip-owned", "leadScore"]["after"] == "7"
    assert rows["person0@example.com", "skip-fill-only", "title"]["before"] == "VP Sales"
    assert rows["person1@example.com", "update", "title"]["before"] == ""  # empty: fill_only writes it
    assert rows["person3@example.com", "create", "firstName"]["before"] == ""
    assert rows["person3@example.com", "create", "firstName"]["lead_id"] == ""
    assert sandbox.marketo.leads[0]["firstName"] == "Old0"  # a dry run writes nothing

    code, report = backfill(invoke, seeded)
    assert code == 0
    assert (report["counts"]["leads_created"], report["counts"]["leads_updated"]) == (3, 2)
    logged = logged_rows(report["run_id"])
    assert compared(logged) == compared(planned)
    assert len(compared(logged)) == 14  # email, firstName, title per lead; person0's title kept (fill_only)
    assert all(row["lead_id"] for row in logged)


def test_a_real_runs_plan_file_is_complete_before_its_first_write(invoke, sandbox, seeded, tmp_path):
    plan_file = tmp_path / "plan.jsonl"
    # Describe, Describe Lead2 and the look-up pass; the Sync Leads call finds the day's quota gone.
    sandbox.limits.daily_quota = sandbox.limits.used_today() + 3
    code, report = backfill(invoke, seeded, "--plan-out", plan_file)
    assert code == 75
    assert report["counts"]["leads_deferred"] == 5
    planned = [json.loads(line) for line in plan_file.read_text().splitlines()]
    assert {row["key"] for row in planned if row["action"] in WRITES} == {f"person{i}@example.com" for i in range(5)}
    assert logged_rows(report["run_id"]) == []  # nothing Marketo confirmed


def test_unchanged_leads_and_rejects_are_rows_of_the_plan(invoke, sandbox, seeded, tmp_path):
    assert backfill(invoke, seeded)[0] == 0
    again = tmp_path / "again.jsonl"
    again.write_text(seeded.read_text() + json.dumps({"type": "identify", "userId": "nobody",
                                                      "traits": {"firstName": "X"}}) + "\n")
    plan_file = tmp_path / "plan.csv"
    code, report = backfill(invoke, again, "--dry-run", "--plan-out", plan_file)
    assert code == 3
    assert report["counts"]["leads_unchanged"] == 5
    rows = read_plan(plan_file)
    unchanged = [row for row in rows if row["action"] == "unchanged"]
    assert [row["key"] for row in unchanged] == [f"person{i}@example.com" for i in range(5)]
    assert {row["field"] for row in unchanged} == {""}
    (reject,) = [row for row in rows if row["action"] == "reject"]
    assert (reject["reason"], reject["origin"]) == ("no email", f"{again}:6")


def test_the_engine_plans_the_same_rows_as_memory(invoke, sandbox, seeded, tmp_path, monkeypatch):
    in_memory, on_engine = tmp_path / "memory.csv", tmp_path / "engine.csv"
    assert backfill(invoke, seeded, "--dry-run", "--plan-out", in_memory)[0] == 0
    monkeypatch.setattr("segmarketo_cli.jobs.backfill_leads.people_source.uses_engine", lambda *args, **kwargs: True)
    code, report = backfill(invoke, seeded, "--dry-run", "--plan-out", on_engine, "--memory-limit", "64MB")
    assert code == 0
    assert report["counts"]["leads_to_create"] == 3
    assert read_plan(on_engine) == read_plan(in_memory)
    # 14 fields written (person0's title is fill_only and filled), leadScore skip-owned for all 5, 1 skip-fill-only
    assert len(read_plan(in_memory)) == 14 + 5 + 1


def test_bulk_import_records_what_it_imported_in_the_change_log(invoke, sandbox, seeded, tmp_path, monkeypatch):
    monkeypatch.setattr(backfill_bulk, "POLL_FIRST_S", 0.01)
    monkeypatch.setattr(backfill_bulk, "POLL_MAX_S", 0.05)
    plan_file = tmp_path / "plan.csv"
    assert backfill(invoke, seeded, "--dry-run", "--plan-out", plan_file, "--bulk-threshold", "1")[0] == 0
    code, report = backfill(invoke, seeded, "--bulk-threshold", "1")
    assert code == 0
    assert report["counts"]["leads_imported"] == 5
    logged = logged_rows(report["run_id"])
    assert compared(logged) == compared(read_plan(plan_file))  # created or updated: as the look-up found them
    store = StateStore(paths.state_dir(), "default")
    assert store.change_log.counts(report["run_id"]) == {"create": 3, "update": 2}


def test_the_writes_run_with_duckdb_held_to_half_the_limit(invoke, sandbox, seeded, monkeypatch):
    """The plan is built with the whole memory_limit; the writes stream it while the batches in flight and the
    Bulk Import files take the rest, so DuckDB holds half of it then."""
    monkeypatch.setattr("segmarketo_cli.jobs.backfill_leads.people_source.uses_engine", lambda *a, **k: True)
    held: list[str] = []
    write = execute.LeadWriter.write

    def spying(self, plan, **kwargs):
        held.extend(plan.con.execute("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").fetchall()[0])
        return write(self, plan, **kwargs)

    monkeypatch.setattr(execute.LeadWriter, "write", spying)
    code, report = backfill(invoke, seeded, "--memory-limit", "256MB")
    assert code == 0
    assert report["counts"]["leads_created"] + report["counts"]["leads_updated"] == 5
    assert held == [duckdb.connect().execute("SELECT format_bytes(128000000)").fetchall()[0][0]]
