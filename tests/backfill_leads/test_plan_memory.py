"""The in-memory backfill plan (plan_memory.py) against the engine's (plan_table.py) on the same people: counters,
upserts, unchanged leads and rejects in order, samples, marks and the lookups each one makes."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli.config import FieldsSection
from segmarketo_cli.engine import Engine
from segmarketo_cli.identity import IdentityGraph
from segmarketo_cli.jobs.backfill_leads.plan import Known, Ownership, content_hash, lead_key
from segmarketo_cli.jobs.backfill_leads.plan_memory import build_memory_plan
from segmarketo_cli.jobs.backfill_leads.plan_table import build_plan
from segmarketo_cli.jobs.changes import plan_rows
from segmarketo_cli.mapping.mapper import FieldCatalog
from tests.backfill_leads.test_plan import DESCRIBE, mapper
from tests.backfill_leads.test_plan_equivalence import hard_case

OWNERSHIP = Ownership.of(FieldsSection(marketo_owned=("lifecycleStage",), fill_only=("title",),
                                       newer_only=("firstName",)), FieldCatalog.from_describe(DESCRIBE))


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "engine", 256 * 2**20) as opened:
        yield opened


def hard_people(tmp_path, n: int, *, day: int = 1):
    """The people of test_plan_equivalence's hard cases, plus repeated lifecycle stages."""
    graph = IdentityGraph()
    for number, line in enumerate(hard_case(tmp_path / f"day{day}.jsonl", n, day=day).read_text().splitlines(), 1):
        message = json.loads(line)
        if message["type"] == "identify" and "email" in (message.get("traits") or {}):
            message["traits"]["lifecycle_stage"] = f"stage{number % 40}"
        graph.add(message, f"day{day}.jsonl:{number}")
    return list(graph.people())


def lookups(tmp_path, n: int, ownership: Ownership):
    """Stored hashes for a third of the keys (half of them still matching), Marketo's current rows for every
    fourth key, some of which leave nothing to write, and what the state store knows of every fifth key."""
    stored, current, known = {}, {}, {}
    for index, person in enumerate(hard_people(tmp_path, n)):
        mapped = mapper().map_person(person)
        key = lead_key("email", mapped.fields.get("email"))
        if key is None:
            continue
        if index % 3 == 0:
            fields = dict(mapped.fields, email=key)
            for name in ownership.marketo_owned:
                fields.pop(name, None)
            stored[key] = content_hash(fields) if index % 2 else "stale"
        if index % 4 == 0:
            current[key] = [{"id": index, "email": key, "title": "VP" if index % 8 else "", "firstName": f"F{index}",
                             "lifecycleStage": "customer", "updatedAt": "2099-01-01T00:00:00Z"}]
        if index % 5 == 0:
            known[key] = Known(index if index % 10 else None, {"firstName": f"W{index}", "lifecycleStage": "lead"})
    return stored, current, known


def outcome(plan, calls):
    """Everything a run reads from a plan, as plain values."""
    def candidates(items):
        return [(c.key, c.fields, c.hash, c.origin, c.cookies, c.exists, c.lead_id, c.before, c.skipped)
                for c in items]

    plan.mark("resend", [c.key for c in list(plan.iter_upserts())[::3]])
    return {
        "counts": (plan.upsert_count, plan.unchanged_count, plan.reject_count, plan.planned),
        "created_updated_new": (plan.create_count, plan.update_count, plan.new_count),
        "plan_rows": list(plan_rows(plan.iter_changes())),
        "skipped": (plan.fields_skipped, plan.fields_dropped, plan.compliance_skipped, plan.unmapped),
        "bulk": [plan.uses_bulk(t) for t in (1, plan.upsert_count, plan.upsert_count + 1)],
        "upserts": candidates(plan.iter_upserts()),
        "unchanged": candidates(plan.iter_unchanged()),
        "unchanged_with_cookies": candidates(plan.iter_unchanged(with_cookies=True)),
        "rejects": [(r.reason, r.key, r.origin, r.fields) for r in plan.iter_rejects()],
        "samples": (candidates(plan.sample_upserts(5)), [r.reason for r in plan.sample_rejects(5)]),
        "marked": candidates(plan.iter_marked("resend")),
        "unmarked": candidates(plan.iter_marked("cookies")),
        "calls": calls,
    }


def both(tmp_path, engine, persons, *, stored, current, known=None, **kw):
    """The outcome of each implementation on fresh copies of `persons`."""
    results = []
    for build in (build_memory_plan, lambda *a, **k: build_plan(*a, con=engine.con, **k)):
        calls: list[object] = []

        def stored_hashes(keys, calls=calls):
            calls.append(("stored", list(keys)))
            return {k: stored[k] for k in keys if k in stored}

        def read_current(keys, fields, calls=calls):
            calls.append(("current", list(keys), fields))
            return {k: current[k] for k in keys if k in current}

        def stored_leads(keys, fields, calls=calls):
            calls.append(("known", list(keys), fields))
            return {k: known[k] for k in keys if k in (known or {})}

        plan = build(persons(), mapper(), stored_hashes=stored_hashes, read_current=read_current,
                     stored_leads=stored_leads, **kw)
        results.append(outcome(plan, calls))
    return results


@pytest.mark.parametrize("before_values", ["stored", "marketo"])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("ownership", [Ownership(), OWNERSHIP], ids=["no-ownership", "ownership"])
def test_memory_and_engine_plans_agree_on_hard_cases(tmp_path, engine, monkeypatch, ownership, full, before_values):
    monkeypatch.setattr("segmarketo_cli.jobs.backfill_leads.plan_memory.KEY_CHUNK", 37)  # several lookup chunks
    monkeypatch.setattr("segmarketo_cli.jobs.backfill_leads.plan_table.KEY_CHUNK", 37)
    stored, current, known = lookups(tmp_path, 300, ownership)
    memory, on_engine = both(tmp_path, engine, lambda: hard_people(tmp_path, 300), stored=stored, current=current,
                             known=known, lookup_field="email", ownership=ownership, full=full,
                             before_values=before_values)
    assert memory == on_engine
    counts = memory["counts"]
    assert counts[0] > 0
    assert counts[2] > 0
    assert counts[1] > 0 or full
    assert len(memory["calls"]) > 2
    created, updated, new = memory["created_updated_new"]
    actions = {row["action"] for row in memory["plan_rows"]}
    assert {"update", "reject"} <= actions
    assert "unchanged" in actions or full
    assert updated > 0
    reads = [call for call in memory["calls"] if call[0] == "current"]
    if before_values == "marketo" or ownership.read_fields:  # every lead read (hard cases carry title, firstName)
        assert reads
        assert created > 0
        assert "create" in actions
    else:  # nothing read from Marketo: the state store's known keys are updates, the others new
        assert reads == []
        assert created == 0
        assert new > 0
        assert "upsert" in actions
        updates = [row for row in memory["plan_rows"] if row["action"] == "update" and row["field"] == "firstName"]
        assert {row["before"] for row in updates} <= {f"W{i}" for i in range(300)}
    if ownership.read_fields:
        assert {"skip-owned", "skip-fill-only", "skip-older"} <= actions


def test_memory_and_engine_plans_agree_on_duplicate_keys(tmp_path, engine):
    memory, on_engine = both(tmp_path, engine, lambda: hard_people(tmp_path, 120), stored={}, current={},
                             lookup_field="lifecycleStage", ownership=Ownership())
    assert memory == on_engine
    reasons = [reason for reason, *_ in memory["rejects"]]
    assert sum(reason.startswith("duplicate lifecycleStage in input (also at day1.jsonl:") for reason in reasons) > 50
