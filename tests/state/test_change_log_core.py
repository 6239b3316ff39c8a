"""The change log core: what a writer records is what the log gives back, before-values known or not."""

from __future__ import annotations

import time
from pathlib import Path

from segmarketo_cli.jobs.changes import PLAN_COLUMNS, plan_rows
from segmarketo_cli.state import StateStore
from segmarketo_cli.state.change_log import UNKNOWN, Change, discard_writer


def _store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path, "p")


def test_recorded_changes_come_back_in_order_with_known_and_unknown_befores(tmp_path: Path) -> None:
    store = _store(tmp_path)
    writer = store.change_log.writer("r1", "inst")
    writer.record([Change("update", key="a@x.com", lead_id=7, fields={"firstName": ("Ann", "Anna"),
                                                                       "city": (UNKNOWN, "Oslo")})])
    created = Change("create", key="b@x.com", lead_id=8, fields={"email": (None, "b@x.com")})
    writer.record([Change("add", key="a@x.com", lead_id=7, target="1001"), created])
    logged = list(store.change_log.changes("r1"))
    assert [c.seq for c in logged] == [1, 2, 3]
    assert logged[0].change.fields["firstName"] == ("Ann", "Anna")
    assert logged[0].change.fields["city"][0] is UNKNOWN
    assert logged[2].change.fields["email"] == (None, "b@x.com")
    assert logged[0].instance == "inst"
    assert store.change_log.counts("r1") == {"add": 1, "create": 1, "update": 1}
    assert writer.count == 3


def test_plan_rows_say_unknown_and_leave_no_field_empty(tmp_path: Path) -> None:
    rows = list(plan_rows([Change("update", key="a@x.com", lead_id=7, fields={"city": (UNKNOWN, "Oslo")}),
                           Change("remove", lead_id=9, target="55", origin="aud.csv:3")]))
    assert rows[0]["before"] == "unknown"
    assert rows[0]["after"] == "Oslo"
    assert rows[1]["field"] == ""
    assert rows[1]["origin"] == "aud.csv:3"
    assert all(list(row) == PLAN_COLUMNS or set(row) == set(PLAN_COLUMNS) for row in rows)


def test_last_values_are_the_newest_a_run_wrote_on_that_instance(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.change_log.writer("r1", "inst").record([Change("create", key="a@x.com", lead_id=1,
                                                         fields={"city": (None, "Oslo"), "title": (None, "CEO")})])
    store.change_log.writer("r2", "inst").record([Change("update", key="a@x.com", lead_id=1,
                                                         fields={"city": ("Oslo", "Bergen")})])
    store.change_log.writer("r3", "other").record([Change("update", key="a@x.com", lead_id=1,
                                                          fields={"city": ("Bergen", "Rome")})])
    values = store.change_log.last_values("inst", ["a@x.com", "z@x.com"], ["city", "title"])
    assert values == {"a@x.com": {"city": "Bergen", "title": "CEO"}}
    store.change_log.writer("r4", "inst").record([Change("upsert", key="z@x.com",  # Bulk Import: which is unknown
                                                         fields={"city": (UNKNOWN, "Lyon")})])
    assert store.change_log.last_values("inst", ["z@x.com"], ["city"]) == {"z@x.com": {"city": "Lyon"}}


def test_prune_drops_only_runs_started_before_the_cutoff(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.start_run("old", "backfill-leads", started_at=time.time() - 100 * 86400)
    store.start_run("new", "backfill-leads")
    store.change_log.writer("old", "inst").record([Change("add", lead_id=1, target="5")] * 3)
    store.change_log.writer("new", "inst").record([Change("add", lead_id=2, target="5")])
    assert store.change_log.prune(time.time() - 90 * 86400) == (1, 3)
    assert store.change_log.runs_with_changes(["old", "new"]) == {"new"}


def test_a_dry_run_writer_records_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    writer = discard_writer("dry")
    assert writer.record([Change("add", lead_id=1, target="5")]) == 1
    assert list(store.change_log.changes("dry")) == []
