"""The pure undo planner: changes walked newest first against what Marketo holds now."""

from __future__ import annotations

from segmarketo_cli.jobs.undo.plan import CONSENT_REMOVAL, CREATED_LIST, plan_undo, reads_needed, same
from segmarketo_cli.state.change_log import UNKNOWN, Change, LoggedChange

RUN = "20261201T100000Z-aaaaaa"


def logged(*changes: Change) -> list[LoggedChange]:
    return [LoggedChange(RUN, seq, "https://x.mktorest.com", 0.0, change) for seq, change in enumerate(changes, 1)]


def test_a_field_written_twice_goes_back_to_its_first_before_value_in_one_write():
    changes = logged(Change("update", "a", 7, fields={"company": ("A", "B")}),
                     Change("update", "a", 7, fields={"company": ("B", "C")}))
    plan = plan_undo(changes, values={7: {"company": "C"}}, membership={}, reversed_={})
    assert [(item.outcome, item.current, item.value) for item in plan.items] == [("restore", "B", "A"),
                                                                                  ("restore", "C", "B")]
    assert plan.lead_writes == {7: {"company": "A"}}


def test_score_increments_of_one_lead_add_up_to_one_write_from_the_current_value():
    changes = logged(Change("score", "a", 7, fields={"leadScore": (0, 10)}),
                     Change("score", "a", 7, fields={"leadScore": (10, 15)}))
    plan = plan_undo(changes, values={7: {"leadScore": 40}}, membership={}, reversed_={})
    assert plan.lead_writes == {7: {"leadScore": 25}}
    assert [item.reason for item in plan.items] == ["-10", "-5"]


def test_what_an_earlier_undo_reversed_is_skipped_and_not_read():
    changes = logged(Change("score", "a", 7, fields={"leadScore": (0, 10)}),
                     Change("add", "a", 7, target="1001"))
    reversed_ = {1: {"leadScore"}, 2: {""}}
    assert reads_needed(changes, reversed_).lead_fields == {}
    assert reads_needed(changes, reversed_).list_leads == {}
    plan = plan_undo(changes, values={}, membership={}, reversed_=reversed_)
    assert [item.outcome for item in plan.items] == ["already_undone", "already_undone"]
    assert plan.lead_writes == {}


def test_membership_already_as_asked_is_unchanged_and_a_gone_lead_is_a_conflict():
    changes = logged(Change("add", "a", 7, target="1001"), Change("remove", "b", 8, target="1001"),
                     Change("update", "c", 9, fields={"city": ("Oslo", "Bergen")}))
    plan = plan_undo(changes, values={}, membership={("1001", 7): False, ("1001", 8): True}, reversed_={})
    assert [item.outcome for item in plan.items] == ["unchanged", "unchanged", "conflict"]
    assert plan.items[2].reason == "the lead is no longer in Marketo"
    assert plan.list_ops == {}


def test_values_compare_as_marketo_holds_them():
    assert same(5, "5.0")
    assert same(True, "true")
    assert same(None, "")
    assert not same("Acme", "acme")
    assert not same(None, 0)


def test_apply_events_list_removals_are_consent_and_not_reversed_nor_read():
    changes = logged(Change("remove", "a", 7, target="1001", reason="opt-out"))
    assert reads_needed(changes, {}, "apply-events").list_leads == {}
    plan = plan_undo(changes, values={}, membership={("1001", 7): False}, reversed_={}, command="apply-events")
    assert [(item.outcome, item.reason) for item in plan.items] == [("not_reversible", CONSENT_REMOVAL)]
    assert plan.list_ops == {}
    audience = plan_undo(changes, values={}, membership={("1001", 7): False}, reversed_={}, command="sync-audience")
    assert audience.list_ops == {("1001", "add"): [7]}


def test_a_created_list_is_kept_even_with_delete_created():
    changes = logged(Change("create", "Segment VIP", target="list:1001", reason="--create-list in 12"))
    plan = plan_undo(changes, values={}, membership={}, reversed_={}, delete_created=True, command="sync-audience")
    assert [(item.outcome, item.reason) for item in plan.items] == [("created_kept", CREATED_LIST)]
    assert plan.deletes == []


def test_an_upsert_is_listed_before_unknown_never_deleted_and_an_update_without_lead_id_not_reversible():
    changes = logged(Change("upsert", "a", None, fields={"email": (UNKNOWN, "a"), "city": (UNKNOWN, "Oslo")}),
                     Change("update", "b", None, fields={"city": ("Rome", "Oslo"), "title": (UNKNOWN, "CEO")}))
    assert reads_needed(changes, {}).lead_fields == {}
    plan = plan_undo(changes, values={}, membership={}, reversed_={}, delete_created=True)
    assert [(item.field, item.outcome) for item in plan.items] == [
        ("email", "before_unknown"), ("city", "before_unknown"), ("city", "not_reversible"),
        ("title", "before_unknown")]
    assert plan.items[0].reason.startswith("created or updated (the run could not tell which)")
    assert plan.items[2].reason == "the run did not record the lead's id (Bulk Import returns none)"
    assert (plan.deletes, plan.lead_writes) == ([], {})
