"""backfill-leads --before-values: stored (the default: no look-up, the state store's values) and marketo (one Get
Leads call per 300 leads written). Calls made, the dry run's split, plan file == change log, Bulk Import's upserts,
and `runs undo` of a stored-mode run."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli import paths
from segmarketo_cli.jobs.backfill_leads.lead_changes import NEW_TO_STATE
from segmarketo_cli.jobs.backfill_leads.plan import Known
from segmarketo_cli.jobs.backfill_leads.stored_leads import stored_leads
from segmarketo_cli.jobs.bulk_import import execute as backfill_bulk
from segmarketo_cli.state import StateStore
from segmarketo_cli.state.change_log import Change
from tests.backfill_leads.test_cli import write_people
from tests.backfill_leads.test_plan_out import backfill, compared, logged_rows, read_plan

EVERY_COLUMN = ("key", "lead_id", "action", "target", "field", "before", "after", "reason", "origin")


@pytest.fixture
def fast_bulk(monkeypatch):
    monkeypatch.setattr(backfill_bulk, "POLL_FIRST_S", 0.01)
    monkeypatch.setattr(backfill_bulk, "POLL_MAX_S", 0.05)


def every_column(rows: list[dict[str, str]], actions: tuple[str, ...]) -> list[tuple[str, ...]]:
    return sorted(tuple(row[name] for name in EVERY_COLUMN) for row in rows if row["action"] in actions)


def undo(invoke, run_id: str, *args: str) -> dict:
    result = invoke("runs", "undo", run_id, *args, "--json")
    assert result.stdout.startswith("{"), result.stderr
    return json.loads(result.stdout)


def test_stored_makes_no_look_up_and_marketo_one_get_leads_per_300_leads(invoke, sandbox, isolated_home, tmp_path):
    path = write_people(tmp_path / "in.jsonl", 301)
    assert backfill(invoke, path, "--dry-run")[0] == 0  # Describe now cached
    stored = backfill(invoke, path, "--dry-run")[1]
    marketo = backfill(invoke, path, "--dry-run", "--before-values", "marketo")[1]
    assert marketo["api_calls"]["marketo"] - stored["api_calls"]["marketo"] == 2  # 301 leads: two Get Leads calls
    assert (stored["details"]["before_values"], marketo["details"]["before_values"]) == ("stored", "marketo")
    assert stored["counts"]["leads_new_to_state"] == 301
    assert (marketo["counts"]["leads_to_create"], marketo["counts"]["leads_new_to_state"]) == (301, 0)

    code, real = backfill(invoke, path)
    assert code == 0
    assert real["counts"]["leads_created"] == 301
    assert real["api_calls"]["marketo"] == stored["api_calls"]["marketo"] + 2  # two Sync Leads calls, no look-up
    shown = json.loads(invoke("runs", "show", real["run_id"], "--json").stdout)
    assert shown["details"]["before_values"] == "stored"  # what the run used, kept with its report


def test_the_setting_comes_from_the_profile_or_the_environment_and_is_checked(invoke, sandbox, isolated_home,
                                                                             tmp_path, monkeypatch):
    path = write_people(tmp_path / "in.jsonl", 3)
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text('[profiles.default]\nbefore_values = "marketo"\n')
    report = backfill(invoke, path, "--dry-run")[1]
    assert (report["details"]["before_values"], report["counts"]["leads_to_create"]) == ("marketo", 3)
    monkeypatch.setenv("SEGMARKETO_BEFORE_VALUES", "stored")
    assert backfill(invoke, path, "--dry-run")[1]["counts"]["leads_new_to_state"] == 3
    monkeypatch.setenv("SEGMARKETO_BEFORE_VALUES", "guess")
    result = invoke("backfill-leads", str(path), "--dry-run")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "segmarketo: error: environment variable SEGMARKETO_BEFORE_VALUES: 'before_values' must be stored or marketo, "
        "got 'guess'")
    bad_flag = invoke("backfill-leads", str(path), "--dry-run", "--before-values", "guess")
    assert bad_flag.exit_code == 2
    assert "Traceback" not in bad_flag.stderr


def test_stored_dry_run_plan_equals_the_change_log_of_the_real_run(invoke, sandbox, isolated_home, tmp_path):
    sandbox.marketo.add_lead(email="person4@example.com", firstName="Marketo's own")  # unknown to the state store
    assert backfill(invoke, write_people(tmp_path / "day1.jsonl", 3))[0] == 0  # person0-2 known from now on
    day2 = write_people(tmp_path / "day2.jsonl", 6, title="Engineer")
    plan_file = tmp_path / "plan.csv"
    code, dry = backfill(invoke, day2, "--dry-run", "--plan-out", plan_file)
    assert code == 0
    counts = dry["counts"]
    assert (counts["leads_to_create"], counts["leads_to_update"], counts["leads_new_to_state"]) == (0, 3, 3)
    assert "imbalances" not in dry
    planned = read_plan(plan_file)
    rows = {(row["key"], row["field"]): row for row in planned}
    known = rows["person1@example.com", "firstName"]
    assert (known["action"], known["before"], known["after"]) == ("update", "P1", "P1")  # day 1 wrote it
    assert known["lead_id"] != ""  # the lead-id cache of day 1
    assert (rows["person1@example.com", "title"]["before"]) == "unknown"  # no run wrote a title
    new = rows["person4@example.com", "firstName"]
    assert (new["action"], new["before"], new["reason"]) == ("upsert", "unknown", NEW_TO_STATE)

    code, real = backfill(invoke, day2)
    assert code == 0
    assert (real["counts"]["leads_created"], real["counts"]["leads_updated"]) == (2, 4)
    logged = logged_rows(real["run_id"])
    # the leads the state store knew: the plan's rows exactly, lead ids included
    knew = {f"person{i}@example.com" for i in range(3)}
    assert every_column([row for row in logged if row["key"] in knew], ("update",)) == \
        every_column([row for row in planned if row["key"] in knew], ("update",))
    assert len(every_column(planned, ("update",))) == 9  # email, firstName, title of three leads
    by_key = {(row["key"], row["field"]): row for row in logged}
    # the others as Sync Leads reported them: person4 was Marketo's already (before unknown), person3/5 created
    theirs, created = by_key["person4@example.com", "firstName"], by_key["person5@example.com", "firstName"]
    assert (theirs["action"], theirs["before"]) == ("update", "unknown")
    assert (created["action"], created["before"]) == ("create", "")
    assert sorted((k, f, r["after"]) for (k, f), r in by_key.items()) == \
        sorted((k, f, r["after"]) for (k, f), r in rows.items())


def test_marketo_dry_run_plan_equals_the_change_log_of_the_real_run(invoke, sandbox, isolated_home, tmp_path):
    sandbox.marketo.add_lead(email="person1@example.com", firstName="Old1")
    path = write_people(tmp_path / "in.jsonl", 4)
    plan_file = tmp_path / "plan.jsonl"
    assert backfill(invoke, path, "--dry-run", "--before-values", "marketo", "--plan-out", plan_file)[0] == 0
    planned = [json.loads(line) for line in plan_file.read_text().splitlines()]
    code, real = backfill(invoke, path, "--before-values", "marketo")
    assert code == 0
    assert compared(logged_rows(real["run_id"])) == compared(planned)
    assert {row["action"] for row in planned} == {"create", "update"}


def test_bulk_import_in_stored_mode_logs_upserts_then_updates(invoke, sandbox, isolated_home, tmp_path, fast_bulk):
    sandbox.marketo.add_lead(email="person0@example.com", firstName="Old0")
    day1 = write_people(tmp_path / "day1.jsonl", 3)
    plan_file = tmp_path / "plan.csv"
    assert backfill(invoke, day1, "--dry-run", "--bulk-threshold", "1", "--plan-out", plan_file)[0] == 0
    code, first = backfill(invoke, day1, "--bulk-threshold", "1")
    assert code == 0
    assert first["counts"]["leads_imported"] == 3
    store = StateStore(paths.state_dir(), "default")
    assert store.change_log.counts(first["run_id"]) == {"upsert": 3}  # Bulk Import does not say which
    logged = logged_rows(first["run_id"])
    assert every_column(logged, ("upsert",)) == every_column(read_plan(plan_file), ("upsert",))
    assert {row["before"] for row in logged} == {"unknown"}
    assert {row["lead_id"] for row in logged} == {""}

    day2 = write_people(tmp_path / "day2.jsonl", 3, title="CTO")
    code, second = backfill(invoke, day2, "--bulk-threshold", "1")
    assert code == 0
    assert store.change_log.counts(second["run_id"]) == {"update": 3}  # known now: the first run wrote them
    rows = {(row["key"], row["field"]): row for row in logged_rows(second["run_id"])}
    assert rows["person0@example.com", "firstName"]["before"] == "P0"  # the first run's value, not Marketo's Old0
    assert rows["person0@example.com", "title"]["before"] == "unknown"


def test_undo_of_a_stored_bulk_run_deletes_nothing_and_lists_unknown_before_values(invoke, sandbox, isolated_home,
                                                                                  tmp_path, fast_bulk):
    sandbox.marketo.add_lead(email="person0@example.com", firstName="Old0")
    code, run = backfill(invoke, write_people(tmp_path / "in.jsonl", 3), "--bulk-threshold", "1")
    assert code == 0
    report = undo(invoke, run["run_id"], "--delete-created")
    counts = report["counts"]
    assert counts["changes"] == 6  # email and firstName of three leads
    assert counts["before_unknown"] == 6
    assert (counts["deleted"], counts["restored"], counts["conflicts"]) == (0, 0, 0)
    assert report["status"] == "ok"
    assert len(sandbox.marketo.leads) == 3  # created or updated, nobody knows which: never deleted
    assert {lead["firstName"] for lead in sandbox.marketo.leads} == {"P0", "P1", "P2"}


def test_undo_of_a_stored_rest_run_restores_what_is_known(invoke, sandbox, isolated_home, tmp_path):
    theirs = sandbox.marketo.add_lead(email="person3@example.com", firstName="Theirs")
    assert backfill(invoke, write_people(tmp_path / "day1.jsonl", 2, title="Dev"))[0] == 0
    day2 = write_people(tmp_path / "day2.jsonl", 5, title="CTO")
    code, run = backfill(invoke, day2)
    assert code == 0
    report = undo(invoke, run["run_id"], "--delete-created")
    counts = report["counts"]
    assert counts["restored"] == 2  # person0/1's title: the first run wrote "Dev"
    assert counts["before_unknown"] == 3  # person3 (Marketo's already): email, firstName, title not known before
    assert counts["deleted"] == 2  # person2 and person4: Sync Leads said created
    assert counts["conflicts"] == 0
    leads = {lead["email"]: lead for lead in sandbox.marketo.leads}
    assert (leads["person0@example.com"]["title"], leads["person1@example.com"]["title"]) == ("Dev", "Dev")
    assert sandbox.marketo.lead(theirs)["title"] == "CTO"  # before unknown: left as the run wrote it
    assert sorted(leads) == ["person0@example.com", "person1@example.com", "person3@example.com"]


def test_the_state_store_knows_a_key_by_change_log_pushed_hash_or_lead_id(tmp_path):
    store = StateStore(tmp_path / "state", "default")
    try:
        store.change_log.writer("r1", "inst").record([Change("create", key="log@x.io", lead_id=1,
                                                             fields={"email": (None, "log@x.io"),
                                                                     "city": (None, "Oslo")})])
        store.remember_hashes("inst", "email", [("hash@x.io", "abc")])
        store.remember_lead_ids("inst", "email", [("id@x.io", [12, 11])])
        known = stored_leads(store, "inst", "email")(["log@x.io", "hash@x.io", "id@x.io", "new@x.io"], ["city"])
    finally:
        store.close()
    assert known == {"log@x.io": Known(None, {"email": "log@x.io", "city": "Oslo"}),
                     "hash@x.io": Known(None, {}), "id@x.io": Known(11, {})}
