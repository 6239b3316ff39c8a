"""The sync-audience planner (SQL over DuckDB) and its safety guard: no network."""

from __future__ import annotations

import duckdb
import pytest

from segmarketo_cli.errors import ConfigError, SafetyRefusal
from segmarketo_cli.jobs.changes import PLAN_COLUMNS, plan_rows
from segmarketo_cli.jobs.sync_audience.changes import plan_changes
from segmarketo_cli.jobs.sync_audience.members import load_members
from segmarketo_cli.jobs.sync_audience.plan import (
    check_safety,
    parse_max_removals,
    removal_limit,
)
from segmarketo_cli.sources.audience.readers import AudiencePerson, Identity
from tests.sync_audience.engine_plan import plan_of


def person(value: str, member: bool = True, kind: str = "email") -> AudiencePerson:
    return AudiencePerson((Identity(kind, value),), f"f.csv:{value}", member)


def members(*pairs: tuple[int, str]) -> dict[int, dict]:
    return {i: {"id": i, "email": e} for i, e in pairs}


def test_mirror_diff_adds_removes_unchanged():
    people = [person("a@x.co"), person("b@x.co"), person("c@x.co")]
    resolved = {Identity("email", "a@x.co"): [1], Identity("email", "b@x.co"): [2], Identity("email", "c@x.co"): []}
    plan = plan_of(people, resolved, members((1, "a@x.co"), (9, "z@x.co")), mode="mirror")
    assert list(plan.adds) == [2]
    assert list(plan.removes) == [9]
    assert plan.unchanged == 1
    assert plan.kept == 0
    assert [p.key.value for p in plan.unresolved_people()] == ["c@x.co"]
    assert plan.resolved == 2
    assert plan.current == len(plan.removes) + plan.unchanged + plan.kept
    assert plan.audience_leads == len(plan.adds) + plan.unchanged


def test_duplicate_email_all_leads_count_and_member_index_protects_unknown_duplicates():
    people = [person("dup@x.co")]
    # The lookup found 5 and 6; lead 7 (also dup@x.co) is already in the list but unknown to the cache.
    plan = plan_of(people, {Identity("email", "dup@x.co"): [5, 6]}, members((7, "DUP@x.co"), (5, "dup@x.co")))
    assert plan.duplicate_emails == 1
    assert list(plan.adds) == [6]
    assert list(plan.removes) == []
    assert plan.unchanged == 2


def test_delta_mode_exits_remove_only_current_members():
    people = [person("in@x.co"), person("out@x.co", member=False), person("gone@x.co", member=False)]
    resolved = {Identity("email", "in@x.co"): [1]}
    plan = plan_of(people, resolved, members((2, "out@x.co"), (3, "other@x.co")), mode="delta")
    assert list(plan.adds) == [1]
    assert list(plan.removes) == [2]
    assert plan.kept == 1
    assert plan.exited == 2
    [remove] = [row for row in plan_rows(plan_changes(plan, 77)) if row["action"] == "remove"]
    assert (remove["key"], remove["lead_id"], remove["target"]) == ("out@x.co", "2", "77")
    assert (remove["reason"], remove["origin"]) == ("exited (key: email)", "f.csv:out@x.co")


def test_add_only_never_removes():
    people = [person("in@x.co"), person("out@x.co", member=False)]
    plan = plan_of(people, {Identity("email", "in@x.co"): [1]}, members((2, "out@x.co")), mode="add-only")
    assert list(plan.adds) == [1]
    assert list(plan.removes) == []
    assert plan.kept == 1


def test_create_missing_and_marketo_ids():
    people = [person("new@x.co"), person("42", kind="marketo-id"), person("u-7", kind="userId")]
    plan = plan_of(people, {}, {}, create_missing=True, user_field=None)
    assert [p.key.value for p in plan.people_to_create()] == ["new@x.co"]
    assert [p.key.value for p in plan.unresolved_people()] == ["u-7"]  # no user id field: cannot be created
    assert list(plan.adds) == [42]
    with_field = plan_of(people, {}, {}, create_missing=True, user_field="userId")
    assert [p.key.value for p in with_field.people_to_create()] == ["new@x.co", "u-7"]


def test_nothing_changed_plan_has_no_changes():
    plan = plan_of([person("a@x.co")], {Identity("email", "a@x.co"): [1]}, members((1, "a@x.co")))
    assert not plan.changes
    assert plan.unchanged == 1


def test_bad_mode_is_a_config_error():
    with pytest.raises(ConfigError):
        plan_of([], {}, {}, mode="sideways")


@pytest.mark.parametrize("text,current,limit", [(None, 200, 20), ("10%", 95, 9), ("0", 50, 0), ("25", 10, 25),
                                                ("2.5%", 1000, 25)])
def test_removal_limit(text, current, limit):
    assert removal_limit(text, current) == limit


@pytest.mark.parametrize("text", ["ten", "-3", "150%", "1.5", ""])
def test_bad_max_removals(text):
    with pytest.raises(ConfigError, match="--max-removals"):
        parse_max_removals(text)


def test_guard_refuses_mass_removal_and_empty_audience_unless_forced():
    current = members(*[(i, f"m{i}@x.co") for i in range(1, 11)])
    plan = plan_of([person("m1@x.co")], {Identity("email", "m1@x.co"): [1]}, current)
    assert len(plan.removes) == 9
    with pytest.raises(SafetyRefusal, match="removes 9 of 10"):
        check_safety(plan, max_removals=None, force=False, list_name="L")
    check_safety(plan, max_removals="9", force=False, list_name="L")
    check_safety(plan, max_removals=None, force=True, list_name="L")
    empty = plan_of([], {}, current)
    with pytest.raises(SafetyRefusal, match="audience is empty") as info:
        check_safety(empty, max_removals="100%", force=False, list_name="L")
    assert info.value.exit_code == 4
    delta = plan_of([person("m1@x.co", member=False)], {}, current, mode="delta")
    check_safety(delta, max_removals="0", force=False, list_name="L")  # the guard is for mirror mode only


def test_plan_rows_list_every_change_with_the_key_type_in_the_reason():
    plan = plan_of([person("a@x.co"), person("new@x.co"), person("u-7", kind="userId")],
                   {Identity("email", "a@x.co"): [1]}, members((9, "old@x.co"), (8, None)), create_missing=True)
    rows = list(plan_rows(plan_changes(plan, 55)))
    assert all(set(row) == set(PLAN_COLUMNS) for row in rows)
    assert [(r["action"], r["lead_id"], r["key"], r["target"], r["field"], r["after"], r["reason"]) for r in rows] == [
        ("create", "", "new@x.co", "", "email", "new@x.co", "not in Marketo (key: email)"),
        ("add", "1", "a@x.co", "55", "", "", "in audience (key: email)"),
        ("add", "", "new@x.co", "55", "", "", "in audience (key: email)"),
        ("remove", "8", "8", "55", "", "", "not in audience (key: marketo-id)"),
        ("remove", "9", "old@x.co", "55", "", "", "not in audience (key: email)"),
        ("unresolved", "", "u-7", "", "", "", "not in Marketo (key: userId)")]
    assert [r["origin"] for r in rows if r["action"] in ("create", "unresolved")] == ["f.csv:new@x.co", "f.csv:u-7"]


def test_a_member_listed_twice_counts_once_with_its_last_row():
    con = duckdb.connect()
    rows = [{"id": 1, "email": "old@x.co"}, {"id": 2, "email": "b@x.co"}, {"id": "x"}, {"id": "1", "email": "A@x.co"}]
    assert load_members(con, rows, None) == 2
    assert con.execute("SELECT lead_id, email_text, email_key FROM members ORDER BY lead_id").fetchall() == [
        (1, "A@x.co", "a@x.co"), (2, "b@x.co", "b@x.co")]
