"""`runs undo` after apply-events, end to end against the sandbox: score points taken back exactly once, set-fields
values restored, and what cannot be undone (unsubscribes and their list removals, program statuses, requested
campaigns) listed as not reversible."""

from __future__ import annotations

import json

import pytest

from tests.apply_events.test_run import MESSAGES, identify, track, world, write_export  # noqa: F401  (fixture)
from tests.support.undo_world import rejects, snapshot, undo


def apply(invoke, export, rules) -> dict:
    result = invoke("apply-events", str(export), "--rules", str(rules), "--json")
    assert result.exit_code == 3, result.output  # MESSAGES holds three events Marketo cannot take
    return json.loads(result.stdout)


@pytest.fixture
def applied(world, invoke, tmp_path):  # noqa: F811
    """Every action applied once: ann +8 productScore, bob's set-fields, webinar status and campaigns, dup1/dup2
    unsubscribed and taken out of Newsletter."""
    box, ids, rules = world
    initial = snapshot(box)
    report = apply(invoke, write_export(tmp_path, MESSAGES), rules)
    assert box.marketo.lead(ids["ann"])["productScore"] == 18
    return box, ids, initial, report["run_id"]


def what_stays(initial: dict, ids: dict) -> dict:
    """The sandbox before the run plus what an undo does not reverse: the unsubscribes and their list removals,
    bob's program status, the two campaign requests."""
    expected = {**initial, "leads": {lead: dict(fields) for lead, fields in initial["leads"].items()}}
    for dup in ("dup1", "dup2"):
        expected["leads"][ids[dup]].update(unsubscribed=True, unsubscribedReason="too many e-mails")
    expected["lists"] = {**initial["lists"], ids["newsletter"]: {ids["ann"]}}
    expected["programs"] = {**initial["programs"], ids["webinar"]: {ids["bob"]: "Registered"}}
    expected["campaigns"] = {**initial["campaigns"], ids["welcome"]: 2}
    return expected


def test_undo_restores_scores_and_fields_and_lists_what_it_cannot_reverse(invoke, applied):
    box, ids, initial, run_id = applied
    code, report = undo(invoke, run_id)
    assert code == 0, report
    assert snapshot(box) == what_stays(initial, ids)
    counts = report["counts"]
    assert counts["changes"] == 11
    assert counts["restored"] == 4  # ann's productScore, bob's lifecycleStage, isCustomer, mrr
    assert counts["not_reversible"] == 7  # 2 unsubscribes, 2 list removals, 1 status, 2 campaigns
    assert report["status"] == "ok"


def test_score_points_are_taken_back_once_from_the_current_score(invoke, applied):
    box, ids, initial, run_id = applied
    box.marketo.store.update(ids["ann"], {"productScore": 30})  # 12 points from elsewhere since the run
    assert undo(invoke, run_id)[0] == 0
    assert box.marketo.lead(ids["ann"])["productScore"] == 22  # the run's 8 points, not the value before it
    code, again = undo(invoke, run_id)
    assert code == 0, again
    assert again["counts"]["already_undone"] == 4
    assert again["counts"]["restored"] == 0
    assert box.marketo.lead(ids["ann"])["productScore"] == 22  # never subtracted twice


def test_a_field_changed_since_the_run_is_a_conflict_and_left_alone(invoke, applied):
    box, ids, initial, run_id = applied
    box.marketo.store.update(ids["bob"], {"lifecycleStage": "Churned"})
    code, report = undo(invoke, run_id)
    assert code == 3
    assert report["counts"]["conflicts"] == 1
    assert report["counts"]["restored"] == 3
    bob = box.marketo.lead(ids["bob"])
    assert bob["lifecycleStage"] == "Churned"
    assert "isCustomer" not in bob  # the other fields of the same change go back to empty
    assert "mrr" not in bob
    (conflict,) = rejects(report)
    assert (conflict["lead_id"], conflict["field"], conflict["current"]) == (ids["bob"], "lifecycleStage", "Churned")


def test_an_undo_dry_run_changes_nothing(invoke, applied):
    box, ids, initial, run_id = applied
    before = snapshot(box)
    code, report = undo(invoke, run_id, "--dry-run")
    assert code == 0, report
    assert report["counts"]["restored"] == 4
    assert snapshot(box) == before


def test_a_lead_created_by_a_rule_is_deleted_with_delete_created(world, invoke, tmp_path):  # noqa: F811
    box, ids, rules = world
    rules.write_text(rules.read_text().replace('tokens = { "my.plan"', 'create = true\ntokens = { "my.plan"'))
    initial = snapshot(box)
    export = write_export(tmp_path, [identify("u-new", "new@example.com"),
                                     track("n1", "Trial Started", 1, {"plan": "pro"}, user="u-new")])
    result = invoke("apply-events", str(export), "--rules", str(rules), "--json")
    assert result.exit_code == 0, result.output
    code, report = undo(invoke, json.loads(result.stdout)["run_id"], "--delete-created")
    assert code == 0, report
    assert report["counts"]["deleted"] == 1
    assert report["counts"]["not_reversible"] == 1  # the campaign request
    assert snapshot(box) == {**initial, "campaigns": {**initial["campaigns"], ids["welcome"]: 1}}
