"""`runs undo` after backfill-leads, end to end against the sandbox: a first run creates leads, a second updates some
and creates others; undoing the second gives back the sandbox after the first, undoing the first with
--delete-created the sandbox before it. The before-values of the second run's updates are the first run's values,
whether read from Marketo or from the first run's change log, so these hold with either `before_values` setting;
leads that were in Marketo before any run are undone exactly with `before_values = marketo`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.backfill_leads.test_cli import write_people
from tests.support.undo_world import rejects, snapshot, undo


def backfill(invoke, *args: object) -> dict:
    result = invoke("backfill-leads", *map(str, args), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def runs(sandbox, invoke, tmp_path: Path) -> dict:
    """Snapshots around two backfill runs: `initial` (one lead no run touches), run 1 (creates person0-3),
    run 2 (updates person0-2's firstName and title, creates person4-5)."""
    sandbox.marketo.add_lead(email="bystander@example.com", firstName="Bea", title="CFO")
    initial = snapshot(sandbox)
    first = backfill(invoke, write_people(tmp_path / "first.jsonl", 4, title="Engineer"))
    assert first["counts"]["leads_created"] == 4
    after_first = snapshot(sandbox)
    second_input = tmp_path / "second.jsonl"
    write_people(second_input, 3, title="Manager")
    lines = [json.loads(line) for line in second_input.read_text().splitlines()]
    for message in lines:
        message["traits"]["firstName"] += " (renamed)"
    second_input.write_text("".join(json.dumps(message) + "\n" for message in lines))
    with second_input.open("a", encoding="utf-8") as handle:
        handle.write(write_people(tmp_path / "more.jsonl", 2, start=4, title="Intern").read_text())
    second = backfill(invoke, second_input)
    assert (second["counts"]["leads_updated"], second["counts"]["leads_created"]) == (3, 2)
    return {"initial": initial, "first": first["run_id"], "after_first": after_first, "second": second["run_id"],
            "after_second": snapshot(sandbox)}


def lead_id(sandbox, email: str) -> int:
    (lead,) = sandbox.marketo.find_leads("email", email)
    return int(lead["id"])


def test_undoing_both_runs_newest_first_gives_back_each_earlier_sandbox_exactly(sandbox, invoke, runs):
    code, report = undo(invoke, runs["second"], "--delete-created")
    assert code == 0, report
    assert snapshot(sandbox) == runs["after_first"]
    counts = report["counts"]
    assert counts["restored"] == 6  # firstName and title of person0-2
    assert counts["deleted"] == 2  # person4-5
    assert counts["conflicts"] == 0
    assert report["status"] == "ok"

    code, report = undo(invoke, runs["first"], "--delete-created")
    assert code == 0, report
    assert snapshot(sandbox) == runs["initial"]
    assert report["counts"]["deleted"] == 4


def test_without_delete_created_the_created_leads_are_listed_as_kept(sandbox, invoke, runs):
    code, report = undo(invoke, runs["second"])
    assert code == 0, report
    counts = report["counts"]
    assert counts["created_kept"] == 2
    assert counts["deleted"] == 0
    assert "--delete-created deletes them" in " ".join(report["notes"])
    now = snapshot(sandbox)
    created = {lead_id(sandbox, f"person{i}@example.com") for i in (4, 5)}
    assert set(now["leads"]) == set(runs["after_first"]["leads"]) | created
    assert {key: now["leads"][key] for key in runs["after_first"]["leads"]} == runs["after_first"]["leads"]


def test_a_field_changed_between_run_and_undo_is_a_conflict_and_the_others_are_restored(sandbox, invoke, runs):
    person1 = lead_id(sandbox, "person1@example.com")
    sandbox.marketo.store.update(person1, {"title": "Head of Sales"})  # a person edits the lead in Marketo
    code, report = undo(invoke, runs["second"], "--delete-created")
    assert code == 3
    assert report["status"] == "partial"
    assert report["counts"]["conflicts"] == 1
    assert report["counts"]["restored"] == 5
    lead = sandbox.marketo.lead(person1)
    assert lead["title"] == "Head of Sales"  # left as is
    assert lead["firstName"] == "P1"  # the other field of the same lead is restored
    (conflict,) = rejects(report)
    assert conflict["lead_id"] == person1
    assert conflict["field"] == "title"
    assert conflict["current"] == "Head of Sales"
    assert conflict["origin"].startswith(f"{runs['second']}#")
    expected = runs["after_first"]
    expected["leads"][person1]["title"] = "Head of Sales"
    assert snapshot(sandbox) == expected


def test_a_second_undo_does_nothing(sandbox, invoke, runs):
    assert undo(invoke, runs["second"], "--delete-created")[0] == 0
    undone = snapshot(sandbox)
    code, report = undo(invoke, runs["second"], "--delete-created")
    assert code == 0, report
    counts = report["counts"]
    assert counts["already_undone"] == 8  # 6 fields restored, 2 leads deleted
    assert counts["unchanged"] == 3  # the e-mail field of each update: written as it was
    assert counts["restored"] + counts["deleted"] == 0
    assert snapshot(sandbox) == undone


def test_an_undo_dry_run_changes_nothing_and_counts_what_the_undo_then_does(sandbox, invoke, runs):
    code, planned = undo(invoke, runs["second"], "--delete-created", "--dry-run")
    assert code == 0, planned
    assert snapshot(sandbox) == runs["after_second"]
    code, done = undo(invoke, runs["second"], "--delete-created")
    assert code == 0, done
    for bucket in ("changes", "restored", "deleted", "created_kept", "conflicts"):
        assert planned["counts"].get(bucket, 0) == done["counts"].get(bucket, 0), bucket


@pytest.fixture
def seeded(sandbox, monkeypatch) -> dict:
    """Before-values read from Marketo (`before_values = marketo`; before that setting existed, the only way):
    two leads in Marketo before a backfill that updates them and creates two more."""
    monkeypatch.setenv("SEGMARKETO_BEFORE_VALUES", "marketo")
    mk = sandbox.marketo
    return {"person0": mk.add_lead(email="person0@example.com", firstName="Old0", title="VP Sales"),
            "person1": mk.add_lead(email="person1@example.com", firstName="Old1")}


def test_marketo_before_values_undo_a_run_over_existing_leads_exactly(sandbox, invoke, seeded, tmp_path):
    initial = snapshot(sandbox)
    report = backfill(invoke, write_people(tmp_path / "in.jsonl", 4, title="Engineer"))
    assert (report["counts"]["leads_updated"], report["counts"]["leads_created"]) == (2, 2)
    code, undone = undo(invoke, report["run_id"], "--delete-created")
    assert code == 0, undone
    assert snapshot(sandbox) == initial
    assert undone["counts"]["before_unknown"] == 0
    assert undone["counts"]["deleted"] == 2


def test_marketo_before_values_conflict_on_an_existing_lead(sandbox, invoke, seeded, tmp_path):
    initial = snapshot(sandbox)
    report = backfill(invoke, write_people(tmp_path / "in.jsonl", 2, title="Engineer"))
    sandbox.marketo.store.update(seeded["person0"], {"firstName": "Edited"})
    code, undone = undo(invoke, report["run_id"])
    assert code == 3, undone
    assert undone["counts"]["conflicts"] == 1
    expected = initial
    expected["leads"][seeded["person0"]]["firstName"] = "Edited"
    assert snapshot(sandbox) == expected  # person0's title and all of person1 restored
