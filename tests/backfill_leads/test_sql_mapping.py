"""The simple people mapped in SQL (sql_mapping.py) plan exactly as the mapper maps them in Python: the same plan
rows (--plan-out), report and rejects, for trait values of every kind SQL settles and every kind it leaves to Python,
with nulls kept and cleared, field ownership, a userId field, a lookup field other than the e-mail, and people whose
later identifies leave out the e-mail (with that e-mail newer_only too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from segmarketo_cli import paths
from segmarketo_cli.jobs.backfill_leads import plan_table, sql_mapping
from segmarketo_cli.jobs.backfill_leads.plan import Ownership
from segmarketo_cli.mapping.catalog import FieldInfo
from segmarketo_cli.mapping.mapper import CoercionError, FieldCatalog, Mapper, coerce

OWNED = ('[profiles.default]\nuser_id_field = "segmentUserId"\n[profiles.default.fields]\n'
         'marketo_owned = ["leadScore", "industry"]\n')
FILL_LAST_NAME = '[profiles.default]\n[profiles.default.fields]\nfill_only = ["lastName"]\n'
MAPPING = '"optout" = "unsubscribed"\n"plan_name" = "lifecycleStage"\n"tier" = "lifecycleStage"\n'
BASE: dict[str, Any] = {"firstName": "Ann", "lastName": "Lee", "title": "CTO", "product_score": 7,
                        "isCustomer": True, "mrr": 120, "company": {"name": "Initech", "industry": "Tech"},
                        "address": {"city": "Zürich", "country": "東京"}, "lead_score": 3}
RAW = "raw text"
# Each person's traits: BASE with one of these changes (None: the key removed). SQL settles some, Python the rest.
VARIANTS: list[dict[str, Any]] = [
    {}, {"mrr": 99.5}, {"product_score": "42"}, {"title": 5}, {"title": True}, {"firstName": "x" * 300},
    {"name": "Ann  Lee", "firstName": None, "lastName": None}, {"name": "Ann Lee"}, {"title": None},
    {"company": "Globex"}, {"company.name": "Dotted"}, {"tags": [1, 2]}, {"title": [1]}, {"address": {}},
    {"optout": False}, {"optout": True}, {"segment_user_id": "  k-spaced "}, {"segment_user_id": 123},
    {"birthday": "1990-02-03"}, {"product_score": 2 ** 63 + 5}, {"isCustomer": "yes"}, {"website": "w" * 256},
    {"plan_name": "pro", "tier": "gold"}, {"company": {"name": None, "industry": "Tech"}}, {"lead_score": None},
    {"title": "T" * 255}, {"title": "é" * 200}, {"segment_user_id": "k,comma"}, {"lastName": ""},
    {"title": 'say "hi" \\ to\tA/B\u2028'}, {"company": {"name": "</script>&<", "industry": "Tech"}},
    *({"name": name, "firstName": None, "lastName": None} for name in (
        "Ann", " Ann Lee ", "Ann   Lee  Smith", "Ann\tLee", "", "   ", "x" * 300 + " Lee", "Ann " + "y" * 300,
        "Zoë Ünal", 'Ann "Q" Lee', 42)),
    {"name": "Ann Lee", "lastName": None}, {"name": "Ann Lee", "firstName": None},
    *({"birthday": day} for day in ("2000-02-29", "1990-02-30", "1990-2-3", " 1990-02-03", "1990-02-03T10:00:00Z",
                                    "0999-01-01", "１９９０-02-03", 19900203, "2024-13-01")),
    # a key given twice (json_structure merges it; Python keeps the last value): RAW is added at the end of the traits
    {RAW: ',"title":"Second"'}, {RAW: ',"mrr":5'}, {RAW: ',"birthday":"2001-01-01"', "birthday": "2000-01-01"},
    {RAW: ',"name":"Bob Ray"', "name": "Ann Lee", "firstName": None, "lastName": None},
    {RAW: ',"company":{"name":"X","name":"Y","industry":"Tech"}', "company": None},
    # numbers given as text, and decimals (productScore: integer; mrr: currency), which SQL takes only when
    # json.loads reads back as coerce() reads it
    *({"product_score": text} for text in ("0", "-17", "123456789012345678901234", "-0", "+5", "007", " 42", "4.0",
                                           "1e3", "٤٢", "", "0x1F")),
    *({"mrr": text} for text in (
        "120", "-3", "007", "0.5", "99.50", "3.0", "-0.0", "0.0001", "0.00001", "123456789012345", "1234567890123456",
        "12345678901234567", "12345678901234.5", "1234567890.12345678", "1e3", ".5", "5.", "00.5", "-0",
        "1000000000000000.5", "NaN")),
    *({"mrr": number} for number in (0.1, 1e-05, 1e16, 123456.789, 2.5e-3, -7.25, 3.0, 1e300, 0.30000000000000004)),
    # booleans from 0/1 and the words coerce() reads (isCustomer: boolean)
    *({"isCustomer": value} for value in (0, 1, 2, -1, "yes", "NO", "True", "t", "F", " y", "1", "0", "on", "ｙｅｓ",
                                          "İ", "", 1.0)),
]


NEWER_ONLY = '[profiles.default]\n[profiles.default.fields]\nnewer_only = ["email", "title"]\n'
NEWER_ONLY_TITLE = '[profiles.default]\n[profiles.default.fields]\nnewer_only = ["title"]\n'
UPDATED_AT = "2024-03-03T00:00:00Z"  # between an e-mail-later person's first identify and its latest


def people_file(path: Path, n: int, *, email_later: int = 0) -> Path:
    """`n` people, each identified once or twice with the same traits shape (so most are simple people), some
    twice with different shapes (replayed by the graph), e-mails in mixed case; then `email_later` people whose
    later identify leaves out the e-mail (first identified with it, maybe again on the next day) and adds a trait."""
    lines = []
    for i in range(n):
        traits = {**BASE, "email": f"Person{i}@Example.com", "segment_user_id": f"k{i}"}
        variant = dict(VARIANTS[i % len(VARIANTS)])
        raw = variant.pop(RAW, "")
        for key, value in variant.items():
            if value is None and i % 2:
                traits.pop(key, None)
            else:
                traits[key] = value
        for copy in range(1 + i % 3 // 2):
            later = {**traits, "title": f"{traits.get('title')}-{copy}"} if copy and i % 5 == 0 else traits
            user = {"userId": f"u{i}"} if i % 4 else {"anonymousId": f"a{i}"}
            line = json.dumps({"type": "identify", **user, "messageId": f"m{i}-{copy}",
                               "timestamp": f"2024-03-0{1 + copy}T00:00:00Z", "traits": later}, ensure_ascii=False)
            lines.append(line[:-2] + raw + line[-2:])  # the traits are the message's last key
    lines += _later_without_email(n, email_later)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _later_without_email(start: int, n: int) -> list[str]:
    lines = []
    for i in range(start, start + n):
        first = {"email": f"Later{i}@Example.com", **BASE, "segment_user_id": f"k{i}"}
        days = [("2024-03-01", first), ("2024-03-05", {**BASE, "title": "Updated", "segment_user_id": f"k{i}",
                                                        "seats": i % 4 + 1})]
        if i % 3 == 0:
            days.insert(1, ("2024-03-04", first))
        lines += [json.dumps({"type": "identify", "userId": f"u{i}", "timestamp": f"{day}T00:00:00Z",
                              "traits": traits}) for day, traits in days]
    return lines


BUILD_PLAN = plan_table.build_plan


def candidates(plan: Any) -> list[str]:
    """Every planned lead as it would be written, types and all (repr tells 5 from "5", True from "true")."""
    return [repr((kind, c.key, c.fields, c.exists, c.lead_id, c.before, c.skipped, c.origin, c.cookies))
            for kind, stream in (("upsert", plan.iter_upserts()), ("unchanged", plan.iter_unchanged()))
            for c in stream]


def plan_run(invoke, monkeypatch, tmp_path: Path, name: str, *args: object) -> dict[str, Any]:
    """A dry run's planned leads, plan rows, report counts and details, and rejects lines."""
    planned: list[str] = []

    def build_plan(*a: Any, **k: Any) -> Any:
        plan = BUILD_PLAN(*a, **k)
        planned.extend(candidates(plan))
        return plan

    monkeypatch.setattr(plan_table, "build_plan", build_plan)
    plan, rejects = tmp_path / f"{name}.jsonl", tmp_path / f"{name}-rejects.jsonl"
    result = invoke("backfill-leads", *map(str, args), "--dry-run", "--plan-out", str(plan), "--rejects",
                    str(rejects), "--json")
    assert result.stdout.strip(), result.stderr[-2000:]
    report = json.loads(result.stdout)
    return {"exit": result.exit_code, "counts": report["counts"],
            "details": {k: v for k, v in report["details"].items() if k not in ("inputs", "plan_rows")},
            "leads": planned, "plan": plan.read_text(encoding="utf-8").splitlines(),
            "rejects": rejects.read_text(encoding="utf-8").splitlines() if rejects.exists() else []}


@pytest.mark.parametrize("nulls", ["keep", "clear"])
@pytest.mark.parametrize("setup", ["defaults", "owned", "lookup-segment-id", "marketo", "last-name-fill-only",
                                   "newer-only", "newer-only-title"])
def test_people_mapped_in_sql_plan_as_python_maps_them(invoke, sandbox, tmp_path, isolated_home, monkeypatch,
                                                       nulls, setup):
    monkeypatch.setattr("segmarketo_cli.jobs.backfill_leads.sizing.COLUMNAR_FROM", 0)
    monkeypatch.setattr("segmarketo_cli.jobs.backfill_leads.people_source.uses_engine", lambda *a, **k: True)
    mapped: list[int] = []
    tables: list[str] = []
    real = sql_mapping.map_in_sql
    monkeypatch.setattr("segmarketo_cli.jobs.backfill_leads.columnar.map_in_sql",
                        lambda *a, **k: tables.append(a[1]) or mapped.append(real(*a, **k)) or mapped[-1])
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING)
    people = people_file(tmp_path / "people.jsonl", 290, email_later=30)
    args: list[object] = [people, "--nulls", nulls, "--mapping", mapping]
    if setup in ("owned", "last-name-fill-only", "newer-only", "newer-only-title"):
        paths.config_file().parent.mkdir(parents=True, exist_ok=True)
        paths.config_file().write_text({"owned": OWNED, "newer-only": NEWER_ONLY,
                                        "newer-only-title": NEWER_ONLY_TITLE}.get(setup, FILL_LAST_NAME))
    if setup == "newer-only":  # the e-mail's time (first identify) is before the lead's updatedAt, the title's after
        args += ["--lookup-field", "segmentUserId"]  # (the lookup field cannot be newer_only)
        for i in range(290, 320):
            sandbox.marketo.add_lead(segmentUserId=f"k{i}", email=f"old{i}@example.com", title="Old",
                                     updatedAt=UPDATED_AT)
    if setup == "lookup-segment-id":
        args += ["--lookup-field", "segmentUserId"]
    elif setup == "marketo":
        args += ["--before-values", "marketo"]
        for i in range(0, 290, 7):
            sandbox.marketo.add_lead(email=f"person{i}@example.com", title="Old", leadScore=1)
    in_sql = plan_run(invoke, monkeypatch, tmp_path, "sql", *args)
    monkeypatch.setattr(sql_mapping, "MAX_SHAPES", 0)  # every person mapped in Python
    in_python = plan_run(invoke, monkeypatch, tmp_path, "python", *args)
    # the people whose e-mail is an earlier identify's are left to Python only when it writes a newer_only field
    assert (tables[0] != "backfill.col_simple") is (setup == "newer-only" and nulls == "keep")
    assert mapped[0] > 100  # most people were mapped in SQL ...
    assert mapped[1] == 0  # ... and none the second time
    assert in_sql["exit"] == in_python["exit"]
    assert in_sql["counts"] == in_python["counts"]
    assert in_sql["details"] == in_python["details"]
    assert in_sql["rejects"] == in_python["rejects"]
    assert in_sql["leads"] == in_python["leads"]
    assert in_sql["plan"] == in_python["plan"]
    assert in_sql["counts"]["leads_rejected"] > 0


# ---- the fields' JSON text ------------------------------------------------------------------------------------------
VALUES = ['"a\\"b"', '"\\u00e9\\u2028x\\/y<>&\'"', '"tab\\there\\u0001\\u007f"', '"\\ud83d\\ude00"', '12', '-0',
          'true', 'null', '1E5', '"\\u0000"', '18446744073709551616', '-9223372036854775809', '{"a":[1, 2]}']


@pytest.mark.parametrize("value", VALUES)
def test_the_fields_concatenation_writes_what_json_object_writes(value):
    con = duckdb.connect()
    fields = {"email": sql_mapping._Field("to_json(u)"), "first Name": sql_mapping._Field("v"),
              "title": sql_mapping._Field("to_json((v::VARCHAR))"), "z": sql_mapping._Field("'null'"),
              "absent": sql_mapping._Field("v", present="false"), "shown": sql_mapping._Field("v", present="true")}
    row = con.execute(f"""SELECT {sql_mapping._json_object(fields)},
                                 json_object('email', u, 'first Name', v, 'title', (v::VARCHAR), 'z', NULL::VARCHAR,
                                             'shown', v)
                          FROM (SELECT json_extract($1, '$') AS v, $2 AS u)""",
                      [value, 'x"y\\zé\t\x7f\u2028']).fetchone()
    assert row is not None
    assert row[0] == row[1]
    assert json.loads(row[0])["z"] is None


@pytest.mark.parametrize("name", ['say"hi', "back\\slash", "café", "tab\there"])
def test_a_field_name_json_would_escape_is_mapped_in_python(name):
    catalog = FieldCatalog.from_describe(
        [{"dataType": "email", "length": 255, "rest": {"name": "email", "readOnly": False}},
         {"dataType": "string", "length": 255, "rest": {"name": name, "readOnly": False}},
         {"dataType": "string", "length": 255, "rest": {"name": "title", "readOnly": False}}], {"email"})
    paths = [("email", "VARCHAR"), ("odd", "VARCHAR")]
    for field_name, kept in ((name, False), ("title", True)):
        mapper = Mapper(catalog, explicit={"odd": field_name})
        plan = sql_mapping.plan_shape(mapper, paths, ownership=Ownership(), lookup_field="email", with_user=False,
                                      read_all=False)
        assert (plan is not None) is kept


# ---- numbers and booleans -------------------------------------------------------------------------------------------
NUMBER_TEXT = ["42", "0", "-17", "-0", "+5", "007", " 42", "42 ", "4.0", "9.5", "-0.0", "0.0001", "1e3", ".5", "5.",
               "1234567890123456", "123456789012345", "12345678901234.5", "1" * 4000, "1" * 4001, "1" * 400 + ".5",
               "\u0664\u0662", "NaN", "", "0x1F", "1_000"]
NUMBER_JSON = ["99.5", "3.0", "1e2", "0.30000000000000004", "1e-7", "1e300", "-0.0", "1" * 400 + ".0"]
BOOLEANS = ['"yes"', '"NO"', '"True"', '"t"', '"F"', '" y"', '"1"', '"0"', '"on"', '"\u0130"', '"K"', '""', "0", "1",
            "2", "-1"]


def _sql_value(data_type: str, kind: str, json_text: str) -> tuple[bool, Any]:
    """Whether SQL maps the JSON value `json_text` (of json_structure type `kind`) into a field of `data_type`,
    and the value json.loads reads back from the JSON text SQL writes."""
    f = sql_mapping._value(FieldInfo("f", data_type, None), kind, "v", "f")
    assert f is not None
    checks = " AND ".join(f.checks) or "true"
    row = duckdb.connect().execute(f"SELECT {checks}, {f.value} FROM (SELECT json(?) AS v)", [json_text]).fetchone()
    assert row is not None
    return bool(row[0]), json.loads(row[1]) if row[0] else None


def _same_as_coerce(value: Any, data_type: str, in_sql: bool, loaded: Any) -> None:
    try:
        expected = coerce(value, FieldInfo("f", data_type, None))
    except CoercionError:
        assert not in_sql, value  # a rejection is Python's
        return
    if in_sql:
        assert type(loaded) is type(expected), value
        assert loaded == expected, value


@pytest.mark.parametrize("data_type", ["integer", "score", "currency", "float"])
def test_numbers_given_as_text_are_mapped_in_sql_as_coerce_reads_them_or_left_to_python(data_type):
    mapped = []
    for text in NUMBER_TEXT:
        in_sql, loaded = _sql_value(data_type, "VARCHAR", json.dumps(text))
        _same_as_coerce(text, data_type, in_sql, loaded)
        mapped += [text] if in_sql else []
    assert {"42", "0", "-17"} <= set(mapped)  # the common case is SQL's
    assert ("9.5" in mapped) is (data_type in ("currency", "float"))


@pytest.mark.parametrize("data_type", ["currency", "percent"])
def test_json_decimals_are_mapped_in_sql_as_python_reads_them_or_left_to_python(data_type):
    mapped = []
    for text in NUMBER_JSON:
        in_sql, loaded = _sql_value(data_type, "DOUBLE", text)
        _same_as_coerce(json.loads(text), data_type, in_sql, loaded)
        mapped += [text] if in_sql else []
    assert {"99.5", "3.0", "1e2", "0.30000000000000004"} <= set(mapped)
    assert "1" * 400 + ".0" not in mapped  # past the largest double: inf, which coerce() rejects


@pytest.mark.parametrize("kind_and_text", BOOLEANS)
def test_the_booleans_coerce_reads_are_mapped_in_sql_or_left_to_python(kind_and_text):
    value = json.loads(kind_and_text)
    in_sql, loaded = _sql_value("boolean", "VARCHAR" if isinstance(value, str) else "BIGINT", kind_and_text)
    _same_as_coerce(value, "boolean", in_sql, loaded)
    assert in_sql is (value in ("yes", "NO", "True", "t", "F", "1", "0", 0, 1))


# ---- the name split ------------------------------------------------------------------------------------------------
NAMES = ["Ann Lee", "Ann", "Ann   Lee  Smith", "A B", "Ann Lee-Smith Jr.", "x y z", "Ann ! Lee", "'Q' \"R\"", "é x",
         " Ann", "Ann ", "Ann\tLee", "", "   ", "Ann\u00a0Lee"]


@pytest.mark.parametrize("name", NAMES)
def test_the_name_is_split_in_sql_as_the_mapper_splits_it_or_left_to_python(name):
    catalog = FieldCatalog.from_describe(
        [{"dataType": "email", "length": 255, "rest": {"name": "email", "readOnly": False}},
         *({"dataType": "string", "length": 255, "rest": {"name": n, "readOnly": False}}
           for n in ("firstName", "lastName"))], {"email"})
    split = sql_mapping._name_split(Mapper(catalog), ["firstName", "lastName"], "n")
    assert split is not None
    first, last = split["firstName"], split["lastName"]
    checks = " AND ".join(first.checks + last.checks)  # the name's own check is the first field's
    row = duckdb.connect().execute(f"SELECT {checks}, {first.value}, {last.value}, {last.present} FROM (SELECT ? AS n)",
                                   [name]).fetchone()
    assert row is not None
    in_sql, first_json, last_json, has_last = row
    if not in_sql:  # a name str.strip() would change, or not printable ASCII: Python maps that person
        assert name != name.strip() or not name.isascii() or not name.isprintable() or not name
        return
    python_first, _, python_last = name.strip().partition(" ")
    assert json.loads(first_json) == python_first
    assert has_last == bool(python_last.strip())
    if has_last:
        assert json.loads(last_json) == python_last.strip()


def test_a_shape_with_a_name_to_split_is_mapped_in_sql():
    catalog = FieldCatalog.from_describe(
        [{"dataType": "email", "length": 255, "rest": {"name": "email", "readOnly": False}},
         *({"dataType": "string", "length": 255, "rest": {"name": n, "readOnly": False}}
           for n in ("firstName", "lastName", "title"))], {"email"})
    paths = [("email", "VARCHAR"), ("name", "VARCHAR"), ("title", "VARCHAR")]
    plan = sql_mapping.plan_shape(Mapper(catalog), paths, ownership=Ownership(), lookup_field="email",
                                  with_user=False, read_all=False)
    assert plan is not None
    assert list(plan.fields) == ["email", "title", "firstName", "lastName"]  # Mapper.map_person's order
    assert plan.pointers == ["/email", "/title", "/name"]
    owned_last = Ownership(marketo_owned=frozenset({"lastName"}))
    assert sql_mapping.plan_shape(Mapper(catalog), paths, ownership=owned_last, lookup_field="email",
                                  with_user=False, read_all=False) is None
