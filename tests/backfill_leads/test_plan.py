"""backfill planner: keys, rejects, unchanged-by-hash, field ownership (on the engine), bulk CSV files."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pytest

from segmarketo_cli.config import FieldsSection
from segmarketo_cli.engine import Engine
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.identity import IdentityGraph
from segmarketo_cli.jobs.backfill_leads.plan import Candidate, Known, Ownership, Reject, content_hash
from segmarketo_cli.jobs.backfill_leads.plan_table import BackfillPlan, build_plan
from segmarketo_cli.jobs.bulk_import.execute import csv_files
from segmarketo_cli.jobs.bulk_import.reports import attribute_report
from segmarketo_cli.mapping.mapper import FieldCatalog, Mapper
from segmarketo_cli.state.change_log import UNKNOWN

DESCRIBE = [
    {"dataType": "email", "length": 255, "rest": {"name": "email", "readOnly": False}},
    *[{"dataType": "string", "length": 255, "rest": {"name": n, "readOnly": False}}
      for n in ("firstName", "lastName", "title", "company", "segmentUserId", "lifecycleStage")],
    {"dataType": "integer", "rest": {"name": "productScore", "readOnly": False}},
]


def mapper(**kwargs) -> Mapper:
    return Mapper(FieldCatalog.from_describe(DESCRIBE, {"email", "segmentUserId"}), **kwargs)


def people(*identifies):
    graph = IdentityGraph()
    for n, (ts, uid, traits) in enumerate(identifies, 1):
        graph.add({"type": "identify", "userId": uid, "timestamp": ts, "traits": traits}, f"in.jsonl:{n}")
    return list(graph.people())


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "engine", 256 * 2**20) as opened:
        yield opened


@dataclass
class Planned:
    """A plan read back whole from the engine (test-sized)."""

    plan: BackfillPlan
    upserts: list[Candidate]
    unchanged: list[Candidate]
    rejects: list[Reject]

    @property
    def planned(self):
        return self.plan.planned

    @property
    def fields_skipped(self):
        return self.plan.fields_skipped


def plan_for(engine, persons, *, stored=None, current=None, known=None, ownership=Ownership(), full=False,
             lookup="email", before_values="stored", **kw):
    reads = []

    def read_current(keys, fields):
        reads.append((keys, fields))
        return {k: v for k, v in (current or {}).items() if k in keys}

    plan = build_plan(persons, mapper(**kw), con=engine.con, lookup_field=lookup, ownership=ownership,
                      stored_hashes=lambda keys: {k: v for k, v in (stored or {}).items() if k in keys},
                      read_current=read_current, full=full, before_values=before_values,
                      stored_leads=lambda keys, fields: {k: v for k, v in (known or {}).items() if k in keys})
    return Planned(plan, list(plan.iter_upserts()), list(plan.iter_unchanged()), list(plan.iter_rejects())), reads


T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"


def test_people_become_upserts_and_missing_keys_or_bad_values_are_rejected(engine):
    persons = people((T1, "u1", {"email": "A@x.io", "firstName": "Ann"}), (T1, "u2", {"firstName": "NoMail"}),
                     (T1, "u3", {"email": "c@x.io", "product_score": "lots"}))
    plan, reads = plan_for(engine, persons)
    assert [c.fields for c in plan.upserts] == [{"email": "a@x.io", "firstName": "Ann"}]
    assert [(r.reason, r.origin) for r in plan.rejects][0] == ("no email", "in.jsonl:2")
    assert plan.rejects[1].key == "c@x.io"
    assert "productScore" in plan.rejects[1].reason
    assert plan.planned == 3
    assert reads == []  # before_values stored: nothing to read, the lead is new to the state store
    assert (plan.upserts[0].action, plan.upserts[0].before) == ("upsert", {"email": UNKNOWN, "firstName": UNKNOWN})
    plan, reads = plan_for(engine, persons, before_values="marketo")
    assert reads == [(["a@x.io"], ["email", "firstName", "id"])]  # the look-up: created or updated, before-values
    assert plan.upserts[0].action == "create"


def test_unchanged_hash_is_skipped_unless_full(engine):
    persons = people((T1, "u1", {"email": "a@x.io", "firstName": "Ann"}))
    stored = {"a@x.io": content_hash({"email": "a@x.io", "firstName": "Ann"})}
    plan, _ = plan_for(engine, persons, stored=stored)
    assert len(plan.unchanged) == 1
    assert plan.upserts == []
    plan, _ = plan_for(engine, persons, stored=stored, full=True)
    assert len(plan.upserts) == 1
    changed = people((T1, "u1", {"email": "a@x.io", "firstName": "Anna"}))
    assert len(plan_for(engine, changed, stored=stored)[0].upserts) == 1


def test_custom_lookup_field_and_duplicate_keys_in_input(engine):
    persons = people((T1, "u1", {"email": "a@x.io"}), (T1, "u2", {"email": "b@x.io", "segment_user_id": "u1"}))
    plan, _ = plan_for(engine, persons, lookup="segmentUserId", user_id_field="segmentUserId")
    assert [c.key for c in plan.upserts] == ["u1", "u2"]
    clash = people((T1, "u1", {"email": "a@x.io", "lifecycleStage": "gold"}),
                   (T2, "u9", {"email": "b@x.io", "lifecycleStage": "gold"}))
    plan, _ = plan_for(engine, clash, lookup="lifecycleStage")
    assert [c.key for c in plan.upserts] == ["gold"]
    assert plan.rejects[0].reason == "duplicate lifecycleStage in input (also at in.jsonl:1)"


def test_field_ownership_marketo_owned_fill_only_newer_only(engine):
    fields = FieldsSection(marketo_owned=("lifecycleStage",), fill_only=("title",), newer_only=("firstName",))
    ownership = Ownership.of(fields, FieldCatalog.from_describe(DESCRIBE))
    persons = people((T1, "u1", {"email": "a@x.io", "title": "CTO", "firstName": "Old", "plan": "x",
                                 "lifecycleStage": "lead", "company": "Acme"}),
                     (T3, "u2", {"email": "b@x.io", "title": "CEO", "firstName": "New"}),
                     (T3, "u3", {"email": "new@x.io", "title": "Dev", "firstName": "Fresh"}))
    current = {"a@x.io": [{"email": "a@x.io", "title": "VP", "updatedAt": "2024-02-01T00:00:00Z"}],
               "b@x.io": [{"email": "b@x.io", "title": "", "updatedAt": "2024-02-01T00:00:00Z"}]}
    plan, reads = plan_for(engine, persons, current=current, ownership=ownership)  # all three have fill_only title
    assert reads == [(["a@x.io", "b@x.io", "new@x.io"],
                      ["company", "email", "firstName", "id", "lifecycleStage", "title", "updatedAt"])]
    by_key = {c.key: c.fields for c in plan.upserts}
    assert by_key["a@x.io"] == {"email": "a@x.io", "company": "Acme"}  # title filled, firstName older
    assert by_key["b@x.io"] == {"email": "b@x.io", "title": "CEO", "firstName": "New"}
    assert by_key["new@x.io"] == {"email": "new@x.io", "title": "Dev", "firstName": "Fresh"}
    assert plan.fields_skipped == {"marketo_owned": 1, "fill_only": 1, "newer_only": 1}


def test_the_look_up_gives_create_or_update_before_values_and_skipped_fields(engine):
    fields = FieldsSection(marketo_owned=("lifecycleStage",), fill_only=("title",))
    ownership = Ownership.of(fields, FieldCatalog.from_describe(DESCRIBE))
    persons = people((T1, "u1", {"email": "a@x.io", "title": "CTO", "firstName": "Ann", "lifecycleStage": "lead"}),
                     (T1, "u2", {"email": "new@x.io", "firstName": "Nia", "lifecycleStage": "lead"}))
    current = {"a@x.io": [{"id": 7, "email": "a@x.io", "title": "VP", "firstName": "Anne",
                           "lifecycleStage": "customer"}]}
    plan, _ = plan_for(engine, persons, current=current, ownership=ownership, before_values="marketo")
    old, new = plan.upserts
    assert (old.action, old.lead_id, old.before) == ("update", 7, {"email": "a@x.io", "firstName": "Anne"})
    assert old.skipped == [("skip-owned", "lifecycleStage", "customer", "lead"),
                           ("skip-fill-only", "title", "VP", "CTO")]
    assert (new.action, new.lead_id, new.before) == ("create", None, {"email": None, "firstName": None})
    assert new.skipped == [("skip-owned", "lifecycleStage", None, "lead")]
    assert (plan.plan.create_count, plan.plan.update_count) == (1, 1)


def test_stored_before_values_read_only_the_leads_ownership_needs(engine):
    fields = FieldsSection(marketo_owned=("lifecycleStage",), fill_only=("title",))
    ownership = Ownership.of(fields, FieldCatalog.from_describe(DESCRIBE))
    persons = people((T1, "u1", {"email": "a@x.io", "title": "CTO", "firstName": "Ann"}),  # fill_only: read
                     (T1, "u2", {"email": "k@x.io", "firstName": "Kim", "lifecycleStage": "lead"}),  # known
                     (T1, "u3", {"email": "n@x.io", "firstName": "Nia", "lifecycleStage": "lead"}))  # unknown
    current = {"a@x.io": [{"id": 7, "email": "a@x.io", "title": "", "firstName": "Anne"}]}
    known = {"k@x.io": Known(9, {"email": "k@x.io", "firstName": "Kimberly"})}
    plan, reads = plan_for(engine, persons, current=current, known=known, ownership=ownership)
    assert reads == [(["a@x.io"], ["email", "firstName", "id", "title"])]  # the read ownership needs anyway
    read, kim, nia = plan.upserts
    assert (read.action, read.lead_id, read.before) == ("update", 7, {"email": "a@x.io", "title": "",
                                                                      "firstName": "Anne"})
    assert (kim.action, kim.lead_id, kim.before) == ("update", 9, {"email": "k@x.io", "firstName": "Kimberly"})
    assert kim.skipped == [("skip-owned", "lifecycleStage", UNKNOWN, "lead")]
    assert (nia.action, nia.lead_id, nia.before) == ("upsert", None, {"email": UNKNOWN, "firstName": UNKNOWN})
    counts = plan.plan
    assert (counts.create_count, counts.update_count, counts.new_count) == (0, 2, 1)


def test_keys_marketo_cannot_filter_on_take_the_state_store_values(engine):
    persons = people((T1, "u1", {"email": "a@x.io", "firstName": "Ann", "segment_user_id": "k,1"}),
                     (T1, "u2", {"email": "b@x.io", "firstName": "Bo", "segment_user_id": "k,2"}))
    reads, recalled = [], []

    def stored_leads(keys, fields):
        recalled.append((keys, fields))
        return {"k,1": Known(None, {"firstName": "Old"})}

    plan = build_plan(persons, mapper(), con=engine.con, lookup_field="segmentUserId", ownership=Ownership(),
                      stored_hashes=lambda keys: {}, read_current=lambda keys, fields: reads.append(keys) or {},
                      stored_leads=stored_leads, before_values="marketo")
    known, new = plan.iter_upserts()
    assert reads == []
    assert recalled == [(["k,1", "k,2"], ["email", "firstName", "id", "segmentUserId"])]
    assert (known.exists, known.action) == (True, "update")
    assert known.before == {"email": UNKNOWN, "firstName": "Old", "segmentUserId": UNKNOWN}
    assert (new.exists, new.action) == (None, "upsert")


def test_nothing_left_to_write_for_an_existing_lead_is_unchanged(engine):
    ownership = Ownership(fill_only=frozenset({"title"}))
    persons = people((T1, "u1", {"email": "a@x.io", "title": "CTO"}))
    current = {"a@x.io": [{"email": "a@x.io", "title": "CEO"}]}
    plan, _ = plan_for(engine, persons, current=current, ownership=ownership)
    assert plan.upserts == []
    assert len(plan.unchanged) == 1


def test_ownership_refuses_a_field_marketo_does_not_have():
    # the section's own shape (lists, one list per field, not the lookup field) is checked in tests/core/test_config.py
    with pytest.raises(ConfigError, match=r"^\[fields\]: 'newer_only' names 'nope', which is not a Marketo lead"):
        Ownership.of(FieldsSection(newer_only=("nope",)), FieldCatalog.from_describe(DESCRIBE))


def test_bulk_csv_files_are_rfc4180_and_stay_under_the_size_limit(engine):
    persons = people(*[(T1, f"u{i}", {"email": f"p{i}@x.io", "company": 'Baker, "Inc."\nNorth', "title": "x" * 200})
                       for i in range(400)])
    plan, _ = plan_for(engine, persons)
    files = list(csv_files(plan.upserts, "email", max_bytes=20_000))
    assert len(files) > 1
    assert all(len(data) <= 20_000 for data, _ in files)
    assert sum(len(rows) for _, rows in files) == 400
    data, rows = files[0]
    parsed = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert parsed[0]["company"] == 'Baker, "Inc."\nNorth'
    assert parsed[0]["email"] == rows[0].key
    assert data.startswith(b"email,")
    assert b"\r\n" in data


KEYS = ["z@x.io", "a@x.io", "b@x.io"]


def test_bulk_failure_file_maps_back_by_lookup_value():
    text = 'email,firstName,Import Failure Reason\r\nA@x.io,Ann,Invalid email\r\n"b@x.io","B, b",Too long\r\n'
    found = attribute_report(text, expected=2, keys=KEYS, lookup_field="email")
    assert found.problem is None
    assert found.reasons == {1: "Invalid email", 2: "Too long"}
    assert attribute_report("", expected=0, keys=KEYS, lookup_field="email").reasons == {}


def test_bulk_failure_file_without_the_lookup_column_maps_back_by_row_number():
    # The real shape: the lookup column is missing, the reason column is named, our row numbers survive.
    text = "row,firstName,Import Failure Reason\n3,Ann,Value for lookup field 'email' not found\n"
    found = attribute_report(text, expected=1, keys=KEYS, lookup_field="email", row_field="row")
    assert found.problem is None
    assert found.reasons == {2: "Value for lookup field 'email' not found"}


@pytest.mark.parametrize("text, expected, row_field, problem", [
    ("firstName,phone,Import Failure Reason\nAnn,1,bad\n", 1, None, "no 'email' column"),
    ("firstName,phone,Import Failure Reason\nAnn,1,bad\n", 1, "row", "no 'row' or 'email' column"),
    ("email,Import Failure Reason\na@x.io,bad\n", 2, None, "lists 1 row(s) but Marketo counted 2"),
    ("email,Import Failure Reason\na@x.io,bad,extra\n", 1, None, "line 2 has 3 cells"),
    ("email,Import Failure Reason\nnobody@x.io,bad\n", 1, None, "line 2 cannot be matched"),
    ("email,Import Failure Reason\na@x.io,bad\nA@x.io,bad\n", 2, None, "line 3 cannot be matched"),
    ("row,Import Failure Reason\n4,bad\n", 1, "row", "line 2 cannot be matched"),
])
def test_bulk_failure_files_that_do_not_reconcile_are_a_problem(text, expected, row_field, problem):
    found = attribute_report(text, expected=expected, keys=KEYS, lookup_field="email", row_field=row_field)
    assert problem in (found.problem or "")
    assert found.reasons == {}


def test_bulk_csv_files_number_their_rows_in_the_scratch_field(engine):
    plan, _ = plan_for(engine, people(*[(T1, f"u{i}", {"email": f"p{i}@x.io"}) for i in range(5)]))
    (data, rows), = csv_files(plan.upserts, "email", row_field="segmarketoImportRow")
    parsed = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert [r["segmarketoImportRow"] for r in parsed] == ["1", "2", "3", "4", "5"]
    assert [r["email"] for r in parsed] == [c.key for c in rows]
