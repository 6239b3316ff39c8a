"""Both backfill plans (in memory and on the engine) give exactly the outcomes of the in-memory planner they
replaced: sandbox leads, report buckets, details and notes, rejects file lines and dry-run output, on the sample
data and generated hard cases.

The expected outcomes in plan_golden.json were recorded by running these scenarios on the in-memory planner
(`WRITE_PLAN_GOLDEN=1 pytest tests/backfill_leads/test_plan_equivalence.py` rewrites them).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from segmarketo_cli import paths

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "identifies.jsonl.gz"
WAREHOUSE = ROOT / "sample_data" / "warehouse_identifies.csv"
MAPPING = ROOT / "sample_data" / "mapping.toml"
GOLDEN = Path(__file__).with_name("plan_golden.json")
OWNERSHIP = ('[profiles.default]\nuser_id_field = "segmentUserId"\n[profiles.default.fields]\n'
             'marketo_owned = ["leadScore"]\nfill_only = ["title"]\nnewer_only = ["phone"]\n')
OLD, NEW = "2024-05-01T00:00:00Z", "2099-01-01T00:00:00Z"  # before / after the sandbox's updatedAt
# Notes about the input files themselves (a rerun of unchanged files is skipped before planning): not the plan's.
INPUT_NOTES = ("input unchanged since run", "input changed since run", "every input file read")


def hard_case(path: Path, n: int, *, day: int = 1) -> Path:
    """`n` people covering the hard cases: two userIds with one e-mail, e-mail case and whitespace, no e-mail,
    invalid values, null traits, alias chains, Munchkin cookies, trait timestamps before and after Marketo's."""
    lines = []
    for i in range(n):
        email = f"person{i}@example.com"
        if i % 10 == 1:
            email = f"person{i - 1}@example.com"  # a second userId with the first one's e-mail
        elif i % 6 == 0:
            email = f"  Person{i}@Example.COM "
        traits: dict[str, object] = {"email": email, "firstName": f"P{i}", "title": f"Engineer {i % 4}",
                                     "phone": f"555-{i:04d}", "lead_score": i, "city": "Zürich" if i % 3 else "東京"}
        if i % 13 == 0:
            del traits["email"]
        if i % 17 == 0:
            traits["product_score"] = "lots"
        if i % 11 == 0:
            traits["title"] = None
        if day > 1 and i % 4 == 0:
            traits["firstName"] = f"Changed{i}"
        msg: dict[str, object] = {"type": "identify", "userId": f"u{i}", "messageId": f"m{day}-{i}",
                                  "timestamp": NEW if i % 2 else OLD, "traits": traits}
        if i % 7 == 0:
            msg["context"] = {"Marketo": {"marketoCookie": f"id:123-ABC-456&token:_mch-x-{i}"}}
        lines.append(json.dumps(msg, ensure_ascii=False))
        if i % 19 == 0:
            lines.append(json.dumps({"type": "identify", "anonymousId": f"anon-{i}", "messageId": f"a{day}-{i}",
                                     "timestamp": NEW, "traits": {"lastName": f"Alias{i}"}}))
            lines.append(json.dumps({"type": "alias", "previousId": f"anon-{i}", "userId": f"u{i}",
                                     "messageId": f"al{day}-{i}", "timestamp": NEW}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def seed(sandbox, n: int) -> None:
    """Leads Marketo already has: every fifth person, some with a title (fill_only keeps it) and a phone."""
    for i in range(0, n, 5):
        sandbox.marketo.add_lead(email=f"person{i}@example.com", title="VP" if i % 2 else "", phone="111",
                                 leadScore=5)


def duplicate_keys(path: Path, n: int) -> Path:
    """`n` people whose lookup values (segmentUserId, from a trait) repeat, some with surrounding whitespace."""
    lines = []
    for i in range(n):
        key = f"t{i % 60}" if i % 9 else f"  t{i % 60} "
        traits = {"email": f"person{i}@example.com", "firstName": f"P{i}", "segment_user_id": key}
        if i % 23 == 0:
            del traits["segment_user_id"]
        lines.append(json.dumps({"type": "identify", "userId": f"u{i}", "messageId": f"m{i}", "timestamp": OLD,
                                 "traits": traits}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def again(path: Path, tmp_path: Path) -> Path:
    """A copy of `path` under another name, so a rerun reads and plans it again instead of skipping it as the
    unchanged input of the last run."""
    copy = tmp_path / f"again-{path.name}"
    shutil.copyfile(path, copy)
    return copy


def snapshot_run(invoke, sandbox, tmp_path: Path, *args: object, dry: bool = False,
                 leads: bool = False) -> dict[str, object]:
    """One run's observable outcome: exit code, report (counts, details, notes, Marketo calls), rejects lines,
    the sandbox's leads (timestamps and ids left out; in full when `leads`, else their digest), and the dry-run
    text."""
    rejects = tmp_path / "rejects.jsonl"
    rejects.unlink(missing_ok=True)
    # --strict, and "known" marks left out: a rerun's rejects are the same as the first run's (known rejects are
    # tested in tests/cli/test_rejects_known.py)
    argv = ["backfill-leads", *map(str, args), "--rejects", str(rejects), "--strict"]
    result = invoke(*argv, "--json")
    report = json.loads(result.stdout)
    details = {k: v for k, v in (report.get("details") or {}).items() if k != "inputs"}
    notes = [note for note in report.get("notes") or () if not note.startswith(INPUT_NOTES)]
    shot: dict[str, object] = {
        "exit": result.exit_code,
        "counts": report["counts"], "details": details or None, "notes": notes or None,
        "marketo_calls": report["api_calls"].get("marketo"),
        "rejects": [line.replace(', "known": true', "") for line in rejects.read_text(encoding="utf-8").splitlines()]
        if rejects.exists() else [],
    }
    held = sorted(json.dumps({k: v for k, v in lead.items() if k != "id" and not k.endswith("At")},
                              ensure_ascii=False, sort_keys=True) for lead in sandbox.marketo.leads)
    shot["leads"] = held if leads else hashlib.sha256("\n".join(held).encode()).hexdigest()
    if dry:
        shot["shown"] = invoke(*argv).stdout
    return json.loads(json.dumps(shot, ensure_ascii=False).replace(str(tmp_path), "<tmp>").replace(str(ROOT), "<root>"))


def scenario_sample(invoke, sandbox, tmp_path, *extra):
    args = (SAMPLE, WAREHOUSE, "--mapping", MAPPING, *extra)
    rerun = (again(SAMPLE, tmp_path), again(WAREHOUSE, tmp_path), "--mapping", MAPPING, *extra)
    return [snapshot_run(invoke, sandbox, tmp_path, *args, "--dry-run", dry=True),
            snapshot_run(invoke, sandbox, tmp_path, *args),
            snapshot_run(invoke, sandbox, tmp_path, *rerun),  # unchanged by hash
            snapshot_run(invoke, sandbox, tmp_path, *args, "--full", leads=True)]


def scenario_hard(invoke, sandbox, tmp_path, *extra):
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text(OWNERSHIP)
    seed(sandbox, 400)
    day1, day2 = hard_case(tmp_path / "day1.jsonl", 400), hard_case(tmp_path / "day2.jsonl", 400, day=2)
    return [snapshot_run(invoke, sandbox, tmp_path, day1, "--dry-run", *extra, dry=True),
            snapshot_run(invoke, sandbox, tmp_path, day1, *extra),
            snapshot_run(invoke, sandbox, tmp_path, again(day1, tmp_path), *extra),  # unchanged by hash
            snapshot_run(invoke, sandbox, tmp_path, day2, "--nulls", "clear", "--on-invalid", "drop-field", *extra),
            snapshot_run(invoke, sandbox, tmp_path, day2, "--full", *extra, leads=True)]


def scenario_duplicates(invoke, sandbox, tmp_path, *extra):
    people = duplicate_keys(tmp_path / "dups.jsonl", 240)
    args = (people, "--lookup-field", "segmentUserId", *extra)
    rerun = (again(people, tmp_path), *args[1:])
    return [snapshot_run(invoke, sandbox, tmp_path, *args, "--dry-run", dry=True),
            snapshot_run(invoke, sandbox, tmp_path, *args),
            snapshot_run(invoke, sandbox, tmp_path, *rerun, leads=True)]


MARKETO = ("--before-values", "marketo")  # every lead to write read first (the default, stored, reads none)
SCENARIOS = {
    "sample_rest": (scenario_sample, ()),
    "sample_bulk": (scenario_sample, ("--bulk-threshold", "1")),
    "hard_rest": (scenario_hard, ()),
    "hard_bulk": (scenario_hard, ("--bulk-threshold", "50")),
    "duplicates": (scenario_duplicates, ()),
    "sample_rest_marketo": (scenario_sample, MARKETO),
    "hard_rest_marketo": (scenario_hard, MARKETO),
    "hard_bulk_marketo": (scenario_hard, ("--bulk-threshold", "50", *MARKETO)),
}
# These inputs are small enough to be planned in memory (plan_memory.py); each one is also planned on the engine,
# (plan_table.py), where a tiny memory limit spills the tables to disk, read by DuckDB (columnar.py), and both read
# by DuckDB and planned on the engine, where the simple people are mapped in SQL (sql_mapping.py): the outcome must
# be the very same.
# The Bulk Import cases wait for the sandbox's import jobs (10-20 s each): their engine and 64MB twins are `slow`.
CASES = [(name, name, (), False) for name in SCENARIOS] + [(f"{name}_engine", name, (), True) for name in SCENARIOS] + [
    (f"{name}_columnar", name, (), "columnar") for name in SCENARIOS] + [
    (f"{name}_sql", name, (), "sql") for name in SCENARIOS] + [
    ("hard_rest_64MB", "hard_rest", ("--memory-limit", "64MB"), True),
    ("hard_bulk_64MB", "hard_bulk", ("--memory-limit", "64MB"), True),
]
# The in-memory Bulk Import case of the marketo mode (about 18 s) is `slow` too: the default mode's runs its twin.
CASE_PARAMS = [pytest.param(*case, id=case[0], marks=[pytest.mark.slow] if (case[3] or case[1] == "hard_bulk_marketo")
                            and "bulk" in case[1] else [])
               for case in CASES]


@pytest.mark.parametrize("case, expected, memory, on_engine", CASE_PARAMS)
def test_outcomes_match_the_in_memory_planner(invoke, sandbox, tmp_path, isolated_home, monkeypatch, case, expected,
                                              memory, on_engine):
    if on_engine in ("columnar", "sql"):  # DuckDB reads every JSON-lines input, however small (columnar.py)
        monkeypatch.setattr("segmarketo_cli.jobs.backfill_leads.sizing.COLUMNAR_FROM", 0)
    if on_engine in (True, "sql"):
        monkeypatch.setattr("segmarketo_cli.jobs.backfill_leads.people_source.uses_engine",
                            lambda *args, **kwargs: True)
    scenario, extra = SCENARIOS[expected]
    got = scenario(invoke, sandbox, tmp_path, *extra, *memory)
    golden = json.loads(GOLDEN.read_text(encoding="utf-8")) if GOLDEN.exists() else {}
    if os.environ.get("WRITE_PLAN_GOLDEN") and case == expected:
        golden[case] = got
        GOLDEN.write_text(json.dumps(golden, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert got == golden[expected]


@pytest.mark.slow  # 200,000 messages planned twice
def test_a_tiny_memory_limit_spills_and_plans_the_same(invoke, sandbox, tmp_path, isolated_home):
    people = tmp_path / "big.jsonl"
    with people.open("w", encoding="utf-8") as out:
        for i in range(200_000):  # 100,000 people identified twice; the last 1,000 reuse keys, every 89th has none
            person = i // 2
            traits = {"email": f"p{person}@example.com", "firstName": f"F{i}", "segment_user_id": f"k{person % 99_000}"}
            if person % 89 == 0:
                del traits["segment_user_id"]
            out.write(json.dumps({"type": "identify", "userId": f"u{person}", "timestamp": OLD, "traits": traits}))
            out.write("\n")
    args = (people, "--lookup-field", "segmentUserId", "--dry-run")
    tiny = snapshot_run(invoke, sandbox, tmp_path, *args, "--memory-limit", "64MB", dry=True)
    roomy = snapshot_run(invoke, sandbox, tmp_path, *args, dry=True)
    assert tiny["counts"]["leads_rejected"] == 2101  # 1,124 without a key, 977 keys taken by earlier people
    # before_values stored: no look-up; Describe and the partitions, cached for the second run
    assert tiny.pop("marketo_calls") == 2
    assert roomy.pop("marketo_calls") in (0, 1)  # the partitions call is not cached
    assert tiny == roomy
