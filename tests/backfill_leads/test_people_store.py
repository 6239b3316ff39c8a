"""The people store: the people rebuilt from the store and the new files alone equal those of a full read."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmarketo_cli.engine import open_engine
from segmarketo_cli.identity import Person
from segmarketo_cli.jobs.backfill_leads.incremental import place, rebuild_people
from segmarketo_cli.jobs.backfill_leads.people_store import GenerationWriter, Meta, PeopleStore
from segmarketo_cli.jobs.backfill_leads.read import read_people, read_records
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.sources import preflight
from tests.backfill_leads.test_people_engine import PERSON_FIELDS, _no_progress, generated_files, person_fields, read


def build_store(old: Path, tmp_path: Path, *, on_engine: bool, nulls: str) -> PeopleStore:
    """The store a successful run on `old` leaves (read on the engine or in memory)."""
    state = tmp_path / "state"
    writer = GenerationWriter(state, "p", 64 << 20)
    rejects = RejectsWriter(tmp_path / "rejects-old.jsonl")
    with open_engine("64MB", state, "engine") as engine:
        people = list(read_people(preflight([str(old)]), nulls=nulls, report=RunReport("backfill-leads"),
                                  rejects=rejects, progress=_no_progress, engine=engine, on_engine=on_engine,
                                  tee=writer.add))
    rejects.close()
    keys = [min(person.emails) if person.emails else None for person in people]
    writer.commit(Meta("run-1", "key", (str(old),), writer.seq, writer.fold, 0), keys)
    store = PeopleStore.open(state, "p", 64 << 20)
    assert store is not None
    return store


def assert_same_person(mine: Person, theirs: Person) -> None:
    mine_fields, their_fields = person_fields(mine), person_fields(theirs)
    for name in PERSON_FIELDS:
        assert mine_fields[name] == their_fields[name], name


@pytest.mark.parametrize("on_engine", [True, False])
@pytest.mark.parametrize(("seed", "nulls"), [(1, "keep"), (2, "clear"), (3, "keep")])
def test_new_files_with_the_store_give_the_people_of_a_full_read(tmp_path, seed, nulls, on_engine):
    old, new = generated_files(tmp_path, seed, people=400, messages=4000)
    full, _, _ = read([old, new], tmp_path, on_engine=False, nulls=nulls)
    before, _, _ = read([old], tmp_path, on_engine=False, nulls=nulls)
    store = build_store(old, tmp_path, on_engine=on_engine, nulls=nulls)
    meta = store.meta()
    assert store.people_count() == len(before)
    report = RunReport("backfill-leads")
    rejects = RejectsWriter(tmp_path / "rejects-new.jsonl")
    records = read_records(preflight([str(new)]), seq=meta.last_seq, fold=meta.last_fold, report=report,
                           rejects=rejects, progress=_no_progress)
    rejects.close()
    delta = place(store, meta, records)
    rebuild_people(delta, nulls=nulls)
    affected = {person.first_seq: person for person in delta.people}
    untouched = {person.first_seq: person for person in before}
    assert [p.first_seq for p in delta.people] == sorted(affected)  # people order: first identify first
    assert len(full) == len(affected) + delta.not_affected()
    assert 0 < len(affected) < len(full)
    for person in full:
        assert_same_person(affected.get(person.first_seq) or untouched[person.first_seq], person)
    store.close()


def test_an_alias_in_a_new_file_merges_two_stored_people(tmp_path):
    old = tmp_path / "day1.jsonl"
    new = tmp_path / "day2.jsonl"
    old.write_text('{"type":"identify","userId":"a","traits":{"email":"a@x.com","title":"T"}}\n'
                   '{"type":"identify","anonymousId":"z","traits":{"email":"b@x.com","city":"Paris"}}\n')
    new.write_text('{"type":"alias","previousId":"z","userId":"a"}\n')
    store = build_store(old, tmp_path, on_engine=False, nulls="keep")
    meta = store.meta()
    records = read_records(preflight([str(new)]), seq=meta.last_seq, fold=meta.last_fold,
                           report=RunReport("backfill-leads"), rejects=RejectsWriter(tmp_path / "r.jsonl"),
                           progress=_no_progress)
    delta = place(store, meta, records)
    rebuild_people(delta, nulls="keep")
    (person,) = delta.people
    assert person.emails == ["a@x.com", "b@x.com"]
    assert len(delta.renamed) == 1
    assert delta.not_affected() == 0
    store.close()
