"""backfill-leads people read by DuckDB (columnar.py) vs the in-memory identity graph: the same Person objects in the
same order, the same counts, details and rejects; inputs DuckDB could number differently go the Python way."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest

from segmarketo_cli.engine import open_engine
from segmarketo_cli.identity import Person
from segmarketo_cli.jobs.backfill_leads import columnar, trait_shapes
from segmarketo_cli.jobs.backfill_leads.columnar import PLAIN_TABLE, PYTHON_LINES, ColumnarRead, read_columnar
from segmarketo_cli.jobs.backfill_leads.read import read_people, read_records
from segmarketo_cli.jobs.backfill_leads.staging import load_record
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.sources import preflight
from tests.backfill_leads.test_people_engine import (
    PERSON_FIELDS,
    SAMPLE_DATA,
    _no_progress,
    generated_files,
    hard_messages,
    person_fields,
    read,
)


def read_both(paths: list[Path], tmp_path: Path, *, nulls: str = "keep", memory_limit: str = "1GB",
              tee: list[Any] | None = None) -> tuple[list[Person] | None, RunReport, list[str]]:
    """read_columnar's people (None when it declined the input), report and rejects lines."""
    report = RunReport("backfill-leads")
    rejects_path = tmp_path / f"rejects-columnar-{nulls}.jsonl"
    rejects = RejectsWriter(rejects_path)
    keep = None if tee is None else (lambda *row: tee.append(row))
    with open_engine(memory_limit, tmp_path / "state", "columnar") as engine:
        people = read_columnar(preflight([str(p) for p in paths]), nulls=nulls, report=report, rejects=rejects,
                               progress=_no_progress, engine=engine, tee=keep)
        listed = None if people is None else list(people)
    rejects.close()
    lines = rejects_path.read_text().splitlines() if rejects_path.exists() else []
    return listed, report, lines


def assert_columnar_same(paths: list[Path], tmp_path: Path, *, nulls: str = "keep", memory_limit: str = "1GB") -> int:
    """DuckDB reads the input (it does not decline it) and gives what the in-memory graph gives; the people."""
    memory, memory_report, memory_rejects = read(paths, tmp_path, on_engine=False, nulls=nulls)
    columnar, report, rejects = read_both(paths, tmp_path, nulls=nulls, memory_limit=memory_limit)
    assert columnar is not None
    assert len(columnar) == len(memory)
    for position, (mine, theirs) in enumerate(zip(columnar, memory, strict=True)):
        mine_fields, their_fields = person_fields(mine), person_fields(theirs)
        for name in PERSON_FIELDS:
            assert mine_fields[name] == their_fields[name], (position, name)
        assert type(mine.first_seq) is int  # not a DuckDB HUGEINT's Decimal, which compares equal
    assert report.counts == memory_report.counts
    assert report.details == memory_report.details
    assert rejects == memory_rejects
    return len(memory)


def _identify(user: str | None, email: str, ts: str, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "identify", "timestamp": ts, "traits": {"email": email, "plan": "pro"}}
    if user is not None:
        message["userId"] = user
    message.update(extra)
    return message


def plain_and_odd_lines(rng: random.Random, people: int) -> list[Any]:
    """Mostly plain identifies (one shape per person, ids and times DuckDB reads as Python does), with every kind
    of line the SQL must leave to Python: odd ids, times and traits, duplicate keys, lenient JSON, cookies..."""
    out: list[Any] = []
    for person in range(people):
        email = f"p{person}@example.com"
        for k in range(rng.randint(1, 3)):
            stamp = f"2024-02-0{1 + rng.randint(0, 2)}T10:00:0{k}.{rng.randint(0, 999):03d}Z"  # ties across people
            message = _identify(f"u{person}", email, stamp)
            message["traits"] = {"email": email, "title": rng.choice(["CTO", "CEO"]), "score": rng.randint(-3, 3),
                                 "address": {"city": rng.choice(["Paris", "Lyon"])}}
            if person % 5 == 0:
                message["anonymousId"] = f"a{person}"
            if person % 7 == 0 and k:
                message["traits"]["title"] = None  # the shape changes: the graph merges path by path
            if person % 11 == 0:
                message["timestamp"] = f"2024-02-01T11:00:00+0{k}:00"
            if person % 13 == 0 and k:
                message["traits"].pop("email", None)  # a trait update without the e-mail
            if person % 17 == 0:
                message["traits"].pop("email", None)  # never an e-mail: no lead key
            out.append(message)
    no_email = {"type": "identify", "timestamp": "2024-02-01T10:00:00Z", "traits": {"plan": "pro"}}
    odd: list[Any] = [
        {**no_email, "userId": "ne1", "context": {"traits": {"email": "Ctx@Example.com"}}},
        {**no_email, "userId": "ne2", "properties": {"email": "prop@example.com"}},
        {**no_email, "userId": "ne3", "context": {"externalIds": [{"type": "EMAIL", "id": "ext@example.com"}]}},
        '{"type":"identify","userId":"ne4","timestamp":"2024-02-01T10:00:00Z","traits":{"plan":"pro"},'
        '"context":{"externalIds":[{"type":"E\\u006dAIL","id":"esc@example.com"}]}}',  # escaped: still found
        {**no_email, "userId": "ne5", "context": {"ip": "10.0.0.1", "page": {"url": "https://gmail.example"}}},
        {**no_email, "anonymousId": "ne-anon"},
        {**no_email, "anonymousId": "a5", "context": {"ip": "10.0.0.2"}},  # an anonymousId a plain person has
        no_email,  # no id at all: ignored
        {**no_email, "userId": "ne6", "traits": {"plan": "pro", "email": None}},
        {**no_email, "userId": "ne7", "traits": {"plan": "pro", "Email": "caps@example.com"}},
        {**no_email, "userId": "u1", "traits": {"plan": "team"}},  # a plain person's userId, later, no e-mail
        _identify(None, "anon-only@example.com", "2024-02-01T10:00:00Z", anonymousId="anon-x"),
        _identify(None, "Only.Email@Example.com", "2024-02-01T10:00:00Z"),
        _identify("u1", " spaced@example.com ", "2024-02-01T10:00:00Z"),  # e-mail needing a trim
        _identify(" u2 ", "p2@example.com", "2024-02-01T10:00:00Z"),  # a userId needing a trim
        _identify(7, "seven@example.com", "2024-02-01T10:00:00Z"),  # a numeric userId
        _identify("ü3", "p3@example.com", "2024-02-01T10:00:00Z"),  # not ASCII
        _identify("u4", "p4@example.com", "2024-02-01 10:00:00"),  # no zone, a space
        _identify("u5", "p5@example.com", "1700000000000"),  # epoch text
        _identify("u6", "p6@example.com", "2024-02-30T10:00:00Z"),  # no such day
        _identify("u7", "p7@example.com", "9999-12-31T23:00:00-05:00"),  # past year 9999 in UTC
        {"type": "identify", "userId": "u8", "originalTimestamp": "2024-02-01T10:00:00Z",
         "traits": {"email": "p8@example.com"}},
        {"type": "identify", "userId": "u9", "timestamp": "2024-02-01T10:00:00Z", "traits": "not an object"},
        {"type": "identify", "userId": "u10", "timestamp": "2024-02-01T10:00:00Z", "traits": {"e": 1},
         "context": {"traits": {"email": "ctx10@example.com"}}},
        {"type": "identify", "userId": "u12", "timestamp": "2024-02-01T10:00:00Z", "event": 5,
         "traits": {"email": "p12@example.com"}},
        {"type": "identify", "userId": "u13", "timestamp": "2024-02-01T10:00:00Z", "context": "web",
         "traits": {"email": "p13@example.com"}},
        {"type": "alias", "previousId": "anon-x", "userId": "u14"},
        {"type": "page", "userId": "u15", "context": {"Marketo": {"marketoCookie": "id:1&token:_mch-x-15"}}},
        {"type": "track", "userId": "u16", "event": "x"},
        {"type": "track", "userId": "u16", "event": 3, "properties": {"note": "an \"identify\" word"}},
        _identify("u17", "shared@example.com", "2024-02-01T10:00:00Z"),
        _identify("u18", "shared@example.com", "2024-02-01T10:00:00Z"),
        '{"type":"identify","userId":"u19","timestamp":"2024-02-01T10:00:00Z","traits":{"email":"a@x.io",'
        '"email":"p19@example.com"}}',  # duplicate key: Python keeps the last
        '{"type":"identify","userId":"u20","timestamp":"2024-02-01T10:00:00Z","traits":{"email":"p20@example.com",}}',
        '{"type":"identify","userId":"u21","timestamp":"2024-02-01T10:00:00Z","traits":{"email":"p21@example.com",'
        '"n":nan}}',
        '{"type":"identify","userId":"u22","timestamp":"2024-02-01T10:00:00Z","traits":{"email":"p22@example.com",'
        '"inf":-Infinity,"big":123456789012345678901234567890,"e":1E400}}',
        '{"type":"\\u0069dentify","userId":"u23","timestamp":"2024-02-01T10:00:00Z","traits":{"email":"p@x.io"}}',
        '{"type":"identify","userId":"u24","timestamp":"2024-02-01T10:00:00Z","traits":{"email":"p24@example.com",'
        '"deep":' + "[" * 600 + "]" * 600 + "}}",
        '{"type":"identify","userId":"u25","timestamp":"2024-02-01T10:00:00Z","traits":{"email":"p25@example.com",'
        '"name":"A \\"quoted\\" \\u00e9 name","s":"\\ud83d\\ude00"}}',
        {"type": "identify", "userId": "u26", "timestamp": "2024-02-01T10:00:00Z",
         "traits": {"email": "p26@example.com", "a.b": 1, "a": {"b": 2}}},
        '{"type": "identify", "userId": "u27", "timestamp": "2024-02-01T10:00:00Z", "traits": {"email": "p27@x.io"}}',
        '{"type":"identify","userId":"u28",',  # broken
        '  {"type":"identify","userId":"u30","timestamp":"2024-02-01T10:00:00Z","traits":{"email":"p30@x.io"}} ',
        '\t{"type":"track","userId":"u31"}',  # padded: the filter strips it, then skips it
        "[1, 2]",
        '{"type":"track","userId":"u29","event":"not for us","x":[1,]}',  # skipped unparsed by Python
    ]
    for line in odd:
        out.insert(rng.randrange(len(out) + 1), line)
    return out


def write_lines(path: Path, messages: list[Any], *, newline_at_end: bool = True, compact: bool = False) -> Path:
    """The messages as JSON lines (gzipped), as json.dumps writes them or compact (no spaces: as Segment's exports
    are, which the load tests more cheaply); a str is written as it is."""
    separators = (",", ":") if compact else None
    text = "\n".join(m if isinstance(m, str) else json.dumps(m, separators=separators) for m in messages)
    text += "\n" if newline_at_end else ""
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    return path


# ---- tests ------------------------------------------------------------------------------------------------------
def test_sample_data_gives_the_same_people_read_by_duckdb(tmp_path):
    assert assert_columnar_same([SAMPLE_DATA / "identifies.jsonl.gz"], tmp_path) > 0


@pytest.mark.parametrize("nulls", ["keep", "clear"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hard_cases_give_the_same_people_read_by_duckdb(tmp_path, seed, nulls):
    files = generated_files(tmp_path, seed, people=60, messages=1500)
    assert assert_columnar_same(files, tmp_path, nulls=nulls) > 10


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("nulls", ["keep", "clear"])
@pytest.mark.parametrize("newline_at_end", [True, False])
def test_plain_identifies_and_every_odd_line_give_the_same_people(tmp_path, nulls, newline_at_end, compact):
    messages = plain_and_odd_lines(random.Random(4), people=300)
    path = write_lines(tmp_path / "mixed.jsonl.gz", messages, newline_at_end=newline_at_end, compact=compact)
    plain = tmp_path / "plain.jsonl"
    plain.write_text("\n".join(m if isinstance(m, str) else json.dumps(m) for m in messages[:50]), encoding="utf-8")
    assert assert_columnar_same([path, plain], tmp_path, nulls=nulls) > 300


def test_the_last_line_without_a_newline_is_read_even_when_the_filter_would_skip_it(tmp_path):
    path = write_lines(tmp_path / "last.jsonl.gz", [_identify("u1", "p1@example.com", "2024-01-01T00:00:00Z"),
                                                    {"type": "track", "event": 5}], newline_at_end=False)
    people, report, rejects = read_both([path], tmp_path)
    assert people is not None
    assert report.counts["messages_malformed"] == 1  # Python parses a last line without a newline unfiltered
    assert rejects[0].count("'event' is a number") == 1
    assert assert_columnar_same([path], tmp_path) == 1


@pytest.mark.parametrize("kind", ["hard cases", "plain and odd lines"])
def test_records_for_the_people_store_are_the_python_readers(tmp_path, kind):
    files = (generated_files(tmp_path, 8, people=40, messages=600) if kind == "hard cases" else
             [write_lines(tmp_path / "mixed.jsonl.gz", plain_and_odd_lines(random.Random(8), people=200))])
    expected = read_records(preflight([str(p) for p in files]), seq=0, fold=0, report=RunReport("backfill-leads"),
                            rejects=RejectsWriter(tmp_path / "r.jsonl"), progress=_no_progress)
    got: list[Any] = []
    people, _, _ = read_both(files, tmp_path, tee=got)
    assert people is not None
    assert [row[:3] for row in got] == [row[:3] for row in expected]
    assert [load_record(row[3]) for row in got] == [load_record(row[3]) for row in expected]


@pytest.mark.parametrize("damage", ["blank line", "crlf", "two gzip members", "cut gzip", "a raw SOH"])
def test_input_duckdb_could_number_differently_is_read_the_python_way(tmp_path, damage):
    lines = [json.dumps(_identify(f"u{k}", f"p{k}@example.com", "2024-01-01T00:00:00Z")) for k in range(20)]
    path = tmp_path / "in.jsonl.gz"
    body = ("\n".join(lines) + "\n").encode()
    if damage == "blank line":
        body = body.replace(b"\n", b"\n\n", 1)
    elif damage == "crlf":
        body = body.replace(b"\n", b"\r\n")
    elif damage == "a raw SOH":  # invalid JSON; the byte that separates DuckDB's columns (each line one column)
        body = body.replace(b"p3@", b"p3\x01@", 1)
    data = gzip.compress(body)
    if damage == "two gzip members":
        data += gzip.compress(b"\n".join(line.encode() for line in lines[:3]) + b"\n")
    elif damage == "cut gzip":
        data = data[: len(data) * 2 // 3]
    path.write_bytes(data)
    declined, _, _ = read_both([path], tmp_path)
    assert declined is None
    memory, memory_report, memory_rejects = read([path], tmp_path, on_engine=False)
    report = RunReport("backfill-leads")
    rejects = RejectsWriter(tmp_path / "rejects-fallback.jsonl")
    with open_engine("1GB", tmp_path / "state", "fallback") as engine:
        people = list(read_people(preflight([str(path)]), nulls="keep", report=report, rejects=rejects,
                                  progress=_no_progress, engine=engine, on_engine=False, columnar=True))
    rejects.close()
    assert [p.user_ids for p in people] == [p.user_ids for p in memory]
    assert [p.first_seq for p in people] == [p.first_seq for p in memory]
    assert report.counts == memory_report.counts


def test_a_backslash_and_zero_in_a_json_string_keeps_the_columnar_read(tmp_path):
    """The two characters backslash and zero ("C:\\0" in a JSON string) are text like any other: the file is read by
    DuckDB (it was declined when they were read_csv's delimiter) and gives the Python path's people."""
    lines = _plain_identifies(4)
    lines[1]["context"] = {"page": {"path": "C:\\0\\01"}}
    lines[2]["traits"]["folder"] = "C:\\0"
    path = write_lines(tmp_path / "zero.jsonl.gz", lines)
    assert "\\\\0" in gzip.decompress(path.read_bytes()).decode()
    plain, python = _load([path], tmp_path)
    assert plain == {1, 2, 3, 4}
    assert python == set()
    assert assert_columnar_same([path], tmp_path) == 4


def test_hard_cases_mixed_into_plain_people_give_the_same_people(tmp_path):
    rng = random.Random(9)
    messages = plain_and_odd_lines(rng, people=200) + hard_messages(rng, people=200, messages=800)
    rng.shuffle(messages)
    path = write_lines(tmp_path / "all.jsonl.gz", messages)
    assert assert_columnar_same([path], tmp_path) > 200


@pytest.fixture
def folded(monkeypatch) -> list[Person]:
    """Every person the columnar read folds (ColumnarRead._folded_people), as it yields them."""
    people: list[Person] = []
    fold = ColumnarRead._folded_people
    monkeypatch.setattr(ColumnarRead, "_folded_people",
                        lambda self: (people.append(person) or person for person in fold(self)))
    return people


@pytest.mark.parametrize("nulls", ["keep", "clear"])
def test_people_whose_traits_change_shape_are_folded_as_the_graph_folds_them(tmp_path, folded, nulls):
    """Each person identified three times, on days far apart in the file, with traits that change shape: a trait
    added, one nulled, an object where text was, the e-mail left out, the anonymousId on some messages only, times
    out of order. Every one of them is folded (not replayed), and is the person the graph builds."""
    rng = random.Random(5)
    people = 400
    days: list[list[Any]] = [[], [], []]
    for i in range(people):
        for day, messages in enumerate(days):
            traits: dict[str, Any] = {"email": f"p{i}@example.com", "plan": ["free", "pro", "team"][day]}
            if day == 1:
                traits["seats"] = i % 7
            if day == 2 and i % 3 == 0:
                traits.update(plan=None, company={"name": f"Co{i}"})
            if day == 2 and i % 3 == 1:
                traits["company"] = f"Co{i}"
            if day and i % 4 == 0:
                del traits["email"]  # a trait update without the e-mail
            message: dict[str, Any] = {"type": "identify", "userId": f"u{i}", "traits": traits,
                                       "timestamp": f"2024-03-0{1 + rng.choice([day, day, 2 - day])}T00:00:00Z"}
            if day != 1 or i % 2:
                message["anonymousId"] = f"a{i}"
            messages.append(message)
    path = write_lines(tmp_path / "days.jsonl.gz", [m for messages in days for m in messages])
    assert assert_columnar_same([path], tmp_path, nulls=nulls) == people
    assert len(folded) == people if nulls == "clear" else 0 < len(folded) < people  # see the next test


@pytest.mark.parametrize("nulls", ["keep", "clear"])
def test_people_whose_latest_identify_has_every_trait_are_simple(tmp_path, folded, nulls):
    """A trait added later (or an earlier identify with fewer traits, in any order in time): with nulls kept, the
    latest identify has every path and wins them all, so these people are simple (mapped in SQL), not folded; a
    person whose latest identify lacks a path, or orders them otherwise, is still folded. With nulls cleared, all
    are folded. Either way each is the person the graph builds."""
    people, messages = 300, []
    for day in range(3):
        for i in range(people):
            traits: dict[str, Any] = {"email": f"P{i}@Example.com", "plan": "pro", "company": {"name": f"C{i}"}}
            if day >= 1 + i % 2:
                traits["seats"] = day + i % 5
            if day == 2 and i % 3 == 0:
                traits["address"] = {"city": "Paris"}
            if day == 2 and i % 10 == 9:
                traits = {"plan": "team", **traits}  # other order: not a prefix, folded
            if day == 1 and i % 10 == 8:
                traits["tags"] = ["a"]  # a path the latest lacks: folded
            stamp = f"2024-03-0{1 + (day if i % 7 else 2 - day)}T00:00:00Z"  # 1 in 7: the first identify is latest
            messages.append({"type": "identify", "userId": f"u{i}", "timestamp": stamp, "traits": traits})
    path = write_lines(tmp_path / "days.jsonl.gz", messages)
    assert assert_columnar_same([path], tmp_path, nulls=nulls) == people
    if nulls == "clear":
        assert len(folded) == people
    else:
        assert 0 < len(folded) < people // 2


@pytest.mark.parametrize("nulls", ["keep", "clear"])
def test_people_whose_later_identifies_leave_out_the_e_mail_are_simple(tmp_path, folded, nulls):
    """Later trait updates sent without the e-mail (and maybe with a trait more): with nulls kept, a person whose
    first identify in the file starts with the e-mail and whose others' paths are the e-mail or nothing and then the
    beginning of the latest identify's is simple (the latest traits with the address first, its time that of the
    e-mail's latest identify). The e-mail elsewhere than first, the first identify in the file without it, a path
    the latest lacks or another order keeps the person folded. Each is the person the graph builds, the e-mail
    trait's time too."""
    people, messages = 240, []
    for i in range(people):
        case = i % 8
        first: dict[str, Any] = {"email": f"P{i}@Example.com", "plan": "pro", "company": {"name": f"C{i}"}}
        if case == 5:
            first = {"plan": "pro", "email": f"P{i}@Example.com"}  # the e-mail not first: folded
        update: dict[str, Any] = {"plan": "team", "company": {"name": f"D{i}"}}
        if case in (1, 4):
            update["seats"] = i % 5  # a trait more
        if case == 2:
            update = {"plan": "team"}  # a trait less: the latest lacks a path, folded
        if case == 6:
            update = {"company": {"name": f"D{i}"}, "plan": "team"}  # another order: folded
        days = [("2024-03-01", first), ("2024-03-04", update)]
        if case == 3:  # the e-mail again in between: its time is that identify's
            days.insert(1, ("2024-03-02", {"email": f"p{i}@example.com", "plan": "pro"}))
        if case == 4:  # the update first in the file (its time still the latest): folded
            days.reverse()
        if case == 7:  # the same time: the later line wins
            days = [("2024-03-01", first), ("2024-03-01", update)]
        for day, traits in days:
            messages.append({"type": "identify", "userId": f"u{i}", "timestamp": f"{day}T00:00:00Z", "traits": traits})
    path = write_lines(tmp_path / "updates.jsonl.gz", messages)
    assert assert_columnar_same([path], tmp_path, nulls=nulls) == people
    if nulls == "clear":
        assert len(folded) == people
    else:
        assert len(folded) == people // 2  # cases 2, 4, 5 and 6


def test_folded_people_of_the_common_shapes_are_simple_among_too_many_shapes(tmp_path, folded):
    """More distinct trait shapes among the folded people than _latest_wins_all compares: the people whose shapes
    are all among the most common are still simple (a trait added later), the others stay folded."""
    messages, common, rare = [], 150, 80
    for i in range(common + rare):
        first: dict[str, Any] = {"email": f"p{i}@example.com", "plan": "pro"}
        later = {**first, "seats": 2} if i < common else {**first, f"trait{i}": 1, "plan": None}
        for day, traits in (("01", first), ("02", later)):
            messages.append({"type": "identify", "userId": f"u{i}", "timestamp": f"2024-03-{day}T00:00:00Z",
                             "traits": traits})
    path = write_lines(tmp_path / "shapes.jsonl.gz", messages)
    assert assert_columnar_same([path], tmp_path) == common + rare
    assert len(folded) == rare


def test_people_first_identified_without_traits_are_simple(tmp_path, folded):
    """An identify without traits ({}) before one with them (a login, then a profile): the latest identify wins
    every path, so the person is simple. Traits {} as the latest (by time, or by input order on a tie) leave the
    earlier traits to the fold; so does {} before an identify with the e-mail and a later update without it (the
    e-mail rule wants the e-mail first in the file). Only the e-mail, then {}: the person is the e-mail alone
    (the traits the e-mail rule builds from the latest {})."""
    people, messages = 200, []
    for i in range(people):
        case = i % 5
        full: dict[str, Any] = {"email": f"P{i}@Example.com", "plan": "pro", "company": {"name": f"C{i}"}}
        days: list[tuple[str, dict[str, Any]]] = [("01", {}), ("02", full)]
        if case == 1:
            days = [("01", full), ("02", {})]  # {} the latest: folded
        if case == 2:
            days = [("01", full), ("01", {})]  # the same time, {} the later line: folded
        if case == 3:
            days.append(("03", {"plan": "team", "company": {"name": f"D{i}"}}))  # without the e-mail: folded
        if case == 4:
            days = [("01", {"email": f"P{i}@Example.com"}), ("02", {})]  # the e-mail rule: simple
        for day, traits in days:
            messages.append({"type": "identify", "userId": f"u{i}", "timestamp": f"2024-03-{day}T00:00:00Z",
                             "traits": traits})
    path = write_lines(tmp_path / "empty.jsonl.gz", messages)
    assert assert_columnar_same([path], tmp_path) == people
    assert len(folded) == 3 * people // 5  # cases 1, 2 and 3
    folded.clear()
    assert assert_columnar_same([path], tmp_path, nulls="clear") == people
    assert len(folded) == people


_LATER = '{"type":"identify","userId":"u%d","timestamp":"2024-01-0%d T00:00:00Z","traits":%s}'.replace(" ", "")
KEY_TWICE = {  # json_structure merges a key given twice, Python keeps its last value: the paths differ
    "twice, then null": ('{"email":"p@x.com","a":1,"b":2,"a":null}', '{"email":"p@x.com","a":5,"b":6,"c":7}'),
    "twice, nested": ('{"email":"p@x.com","a":{"x":1},"b":2,"a":{"y":1}}',
                      '{"email":"p@x.com","a":{"x":5,"y":6},"b":7,"c":1}'),
    "twice in the latest, then null": ('{"email":"p@x.com","a":1}', '{"email":"p@x.com","a":1,"b":2,"a":null}'),
    "twice in the latest": ('{"email":"p@x.com","a":1}', '{"email":"p@x.com","a":1,"b":2,"a":3}'),
    # an array: traits the cheap shape test never tells, whose shape was json_structure's (a review helper's case)
    "twice in the latest, not told": ('{"email":"p@x.com","n0":{"city":"Paris"},"t":[1]}',
                                      '{"email":"p@x.com","n0":{"city":"Lyon"},"n0":null,"t":[1]}'),
    "twice in both, not told": ('{"email":"p@x.com","a":{"x":1},"a":null,"t":[1]}',
                                '{"email":"p@x.com","a":{"x":2},"a":null,"t":[2]}'),
    "an array of objects, not told": ('{"email":"p@x.com","a":[{"x":1},{"x":2}]}',
                                      '{"email":"p@x.com","a":[{"x":3},{"x":null}]}'),
}


@pytest.mark.parametrize("nulls", ["keep", "clear"])
@pytest.mark.parametrize("case", KEY_TWICE)
def test_a_trait_key_given_twice_keeps_the_graph_s_paths(tmp_path, case, nulls):
    first, latest = KEY_TWICE[case]
    lines = [_LATER % (i, day, traits.replace("p@", f"p{i}@")) for day, traits in ((1, first), (2, latest))
             for i in range(50)]
    path = tmp_path / "twice.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert assert_columnar_same([path], tmp_path, nulls=nulls) == 50


@pytest.mark.slow
def test_200k_messages_at_64mb_give_the_same_people_read_by_duckdb(tmp_path):
    rng = random.Random(11)
    messages = plain_and_odd_lines(rng, people=60_000) + hard_messages(rng, people=20_000, messages=60_000)
    path = write_lines(tmp_path / "big.jsonl.gz", messages)
    assert assert_columnar_same([path], tmp_path, memory_limit="64MB") > 60_000
    records: list[Any] = []
    read_both([path], tmp_path, memory_limit="64MB", tee=records)  # the people store's records, in input order
    assert [row[0] for row in records] == list(range(1, len(records) + 1))
    assert len(records) > 150_000


# ---- lines the one-scan load must leave to Python ------------------------------------------------------------------
_HEAD = '{"type":"identify","userId":"u%d","timestamp":"2024-02-01T10:00:00Z"'
_TRAITS = ',"traits":{"email":"p%d@example.com"'
# Each line is object-shaped and holds '"identify"'; DuckDB reads it (or part of it) differently from json.loads, so
# only the Python reader may settle it: its outcome (used, ignored, malformed, which values win) is Python's.
MUST_GO_TO_PYTHON = {
    "userId twice": _HEAD + _TRAITS + '},"userId":"u99"}',
    "userId twice, escaped": _HEAD + ',"\\u0075serId":"u98"' + _TRAITS + "}}",
    "type twice": _HEAD + _TRAITS + '},"type":"track"}',
    "timestamp twice": _HEAD + _TRAITS + '},"timestamp":"2020-01-01T00:00:00Z"}',
    "traits twice": _HEAD + _TRAITS + '},"traits":{"email":"other@example.com"}}',
    "context twice, then a string": _HEAD + ',"context":{}' + _TRAITS + '},"context":"web"}',
    "email twice in traits, escaped": _HEAD + _TRAITS + ',"\\u0065mail":"second@example.com"}}',
    "nan in an array": _HEAD + _TRAITS + ',"s":[1, nan]}}',
    "-Inf after a bracket": _HEAD + _TRAITS + ',"s":[-Inf]}}',
    "INFINITY after spaces": _HEAD + _TRAITS + ',"s": \t INFINITY}}',
    "-Infinity, which Python reads": _HEAD + _TRAITS + ',"s":-Infinity}}',
    "trailing comma before spaces": _HEAD + _TRAITS + ',"a":[1,\t ]}}',
    "trailing comma at the top": _HEAD + _TRAITS + '}, }',
    "missing comma": _HEAD + ' "x":1' + _TRAITS + "}}",
    "a comment": _HEAD + " /* c */" + _TRAITS + "}}",
    "two objects on one line": _HEAD + _TRAITS + '}} {"a":1}',
    "a lone surrogate, which Python reads": _HEAD + _TRAITS + ',"n":"\\ud800"}}',
    "a lone surrogate in the userId, malformed": _HEAD.replace('"u%d"', '"u%d\\ud800"') + _TRAITS + "}}",
    "a lone surrogate in the e-mail, malformed": _HEAD + _TRAITS.replace("@", "\\udc00@") + "}}",
    "a raw tab in a string": _HEAD + _TRAITS + ',"n":"a\tb"}}',
    "a leading zero": _HEAD + _TRAITS + ',"n":01}}',
    "a Munchkin cookie": _HEAD + ',"context":{"Marketo":{"marketoCookie":"id:1&token:_mch-x"}}' + _TRAITS + "}}",
    "a Munchkin cookie, its key escaped": (_HEAD + ',"context":{"Marketo":{"marketo\\u0043ookie":"id:1&token:_mch-x"}}'
                                           + _TRAITS + "}}"),
    "Marketo twice in context": (_HEAD + ',"context":{"Marketo":{},"Marketo":{"marketoCookie":"id:1&token:_mch-x"}}'
                                 + _TRAITS + "}}"),
}


# The same kind of lines, compact and with the keys of the file's other identifies in their order (the load's
# cheaper test, columnar._skeleton_sql): DuckDB writes a nan/inf literal back as it was written, so the line is still
# its fields' text; only the searches of those fields (and of the traits, by their shape) leave it to Python.
_COMPACT_HEAD = '{"type":"identify","userId":"u%d","messageId":"m1","timestamp":"2024-02-01T10:00:00Z"'
_COMPACT_TAIL = ',"traits":{"email":"p%d@example.com","plan":"pro","score":1.5}}'
MUST_GO_TO_PYTHON_COMPACT = {
    "nan in the context": _COMPACT_HEAD + ',"context":{"n":nan}' + _COMPACT_TAIL,
    "-inf in an array in the context": _COMPACT_HEAD + ',"context":{"a":[1,-inf]}' + _COMPACT_TAIL,
    "Infinity first in an array in the context": _COMPACT_HEAD + ',"context":{"a":[Infinity]}' + _COMPACT_TAIL,
    "NaN as the messageId": _COMPACT_HEAD.replace('"m1"', "NaN") + ',"context":{}' + _COMPACT_TAIL,
    "nan as a double trait": _COMPACT_HEAD + ',"context":{}' + _COMPACT_TAIL.replace("1.5", "nan"),
    "-Infinity as a double trait": _COMPACT_HEAD + ',"context":{}' + _COMPACT_TAIL.replace("1.5", "-Infinity"),
    "inf in an array in the traits": _COMPACT_HEAD + ',"context":{}' + _COMPACT_TAIL.replace("1.5", "[1,inf]"),
    "a trait of another shape, nan": _COMPACT_HEAD + ',"context":{}' + _COMPACT_TAIL.replace('"score"', '"n"')
    .replace("1.5", "nan"),
    "trailing comma in the traits": _COMPACT_HEAD + ',"context":{}' + _COMPACT_TAIL.replace("}}", ",}}"),
    "trailing comma in the context": _COMPACT_HEAD + ',"context":{"a":1,}' + _COMPACT_TAIL,
    "userId twice": _COMPACT_HEAD + ',"context":{}' + _COMPACT_TAIL[:-1] + ',"userId":"u99"}',
    "a key the file's identifies lack": _COMPACT_HEAD + ',"context":{}' + ',"x":nan' + _COMPACT_TAIL,
    "a space": _COMPACT_HEAD + ',"context":{"n": nan}' + _COMPACT_TAIL,
}


def _compact_identifies(count: int) -> list[str]:
    return [_COMPACT_HEAD % k + ',"context":{"ip":"10.0.0.1","a":[1,2]}' + _COMPACT_TAIL % k for k in range(count)]


@pytest.mark.parametrize("case", sorted(MUST_GO_TO_PYTHON_COMPACT))
def test_a_compact_line_duckdb_reads_differently_goes_to_python(tmp_path, case):
    _third_line_goes_to_python(tmp_path, _compact_identifies(6), MUST_GO_TO_PYTHON_COMPACT[case])


def test_compact_identifies_with_nan_like_strings_or_exponents_stay_plain(tmp_path):
    """A string field is not searched, and a double's exponent is no nan/inf literal. (Such text in a string inside
    an object is found by the search, a false alarm that leaves the line to Python, which reads it the same.)"""
    lines = _compact_identifies(3) + [
        (_COMPACT_HEAD % 7).replace('"m1"', '"nan:inf"') + ',"context":{}' + _COMPACT_TAIL % 7,
        _COMPACT_HEAD % 8 + ',"context":{"ip":"10.0.0.1","a":[1,2]}' + (_COMPACT_TAIL % 8).replace("1.5", "2.5e-07"),
        _COMPACT_HEAD % 9 + ',"context":{"note":"a:nan, [inf"}' + _COMPACT_TAIL % 9]
    path = write_lines(tmp_path / "strings.jsonl.gz", lines)
    plain, python = _load([path], tmp_path)
    assert plain == {1, 2, 3, 4, 5}
    assert python == {6}
    assert assert_columnar_same([path], tmp_path) == 6


# An export's identifies carry more keys than the reader uses (https://segment.com/docs/connections/spec/common/:
# _metadata, channel, integrations, receivedAt, version...): the file's common keys are read too, so such compact
# lines take the cheaper test, and a nan/inf literal in one of those fields must still be found.
_EXPORT_LINE = ('{"_metadata":{"bundled":["Segment.io"],"unbundled":[]},"channel":"server","context":{"ip":"10.0.0.1"},'
                '"integrations":{},"messageId":"m1","receivedAt":"2024-02-01T10:00:01Z","timestamp":"2024-02-01T10:00:00Z",'
                '"traits":{"email":"p%d@example.com","plan":"pro","score":1.5},"type":"identify","userId":"u%d",'
                '"version":2,"it\'s a key":"x"}')
MUST_GO_TO_PYTHON_EXPORT = {
    "nan in an array in the _metadata": _EXPORT_LINE.replace('"Segment.io"', "nan"),
    "-inf as the version": _EXPORT_LINE.replace('"version":2', '"version":-inf'),
    "NaN as the value of a key with an apostrophe and spaces": _EXPORT_LINE.replace('"x"}', "NaN}"),
    "Infinity in the integrations": _EXPORT_LINE.replace('"integrations":{}', '"integrations":{"a":Infinity}'),
    "trailing comma in the integrations": _EXPORT_LINE.replace('"integrations":{}', '"integrations":{"a":1,}'),
    "userId twice": _EXPORT_LINE[:-1] + ',"userId":"u99"}',
}


def _export_identifies(count: int) -> list[str]:
    return [_EXPORT_LINE % (k, k) for k in range(count)]


def test_an_export_s_common_key_sequences_are_read(tmp_path):
    """Every key of the sequence is read (JSON paths quoted), unless one is a key json.dumps would not write as the
    line does ('"' or '\\' in it): then that sequence is not used."""
    odd = [line.replace('"channel"', '"ch\\"annel"') for line in _export_identifies(3)]
    path = write_lines(tmp_path / "export.jsonl.gz", _export_identifies(5) + odd)
    with open_engine("1GB", tmp_path / "state", "skeletons") as engine:
        csv = columnar.CSV.format(path=f"'{path}'", compression="gzip", buffer="")
        skeletons = columnar._skeletons(engine.con, csv)
    assert skeletons == [list(json.loads(_EXPORT_LINE % (0, 0)))]


@pytest.mark.parametrize("case", sorted(MUST_GO_TO_PYTHON_EXPORT))
def test_a_compact_export_line_duckdb_reads_differently_goes_to_python(tmp_path, case):
    _third_line_goes_to_python(tmp_path, _export_identifies(6), MUST_GO_TO_PYTHON_EXPORT[case])


def test_export_lines_with_keys_the_reader_does_not_use_given_twice_or_escaped_stay_plain(tmp_path):
    """The reader's keys once each: a line giving another key twice, or a key the file's sequence lacks, takes the
    full checks and stays plain (the Python reader does not look at those keys either)."""
    lines = _export_identifies(4) + [
        (_EXPORT_LINE % (7, 7))[:-1] + ',"_metadata":{}}',
        (_EXPORT_LINE % (8, 8)).replace('"channel"', '"ch\\"annel"'),
        (_EXPORT_LINE % (9, 9)).replace('"server"', '"nan:inf,[nan"')]
    path = write_lines(tmp_path / "export.jsonl.gz", lines)
    plain, python = _load([path], tmp_path)
    assert plain == set(range(1, 8))
    assert python == set()
    assert assert_columnar_same([path], tmp_path) == 7


def _plain_identifies(count: int) -> list[Any]:
    return [_identify(f"u{k}", f"p{k}@example.com", "2024-02-01T09:00:00Z") for k in range(count)]


def _load(paths: list[Path], tmp_path: Path) -> tuple[set[int], set[int]]:
    """The line numbers (of the first file) ColumnarRead.load found plain, and those it left to Python."""
    with open_engine("1GB", tmp_path / "state", "load") as engine:
        reader = ColumnarRead(preflight([str(p) for p in paths]), engine, nulls="keep")
        with _no_progress(None, "reading") as bar:
            reader.load(bar)
        plain = {pos for (pos,) in engine.con.execute(f"SELECT pos FROM {PLAIN_TABLE}").fetchall()}
        python = {pos for (pos,) in engine.con.execute(f"SELECT pos FROM {PYTHON_LINES}").fetchall()}
        reader.drop()
    return plain, python


def test_a_trait_shape_only_the_later_lines_have_is_told_the_cheap_way(tmp_path, monkeypatch):
    """The structures the cheap test tells are sampled over the whole file (every step-th plain line), not its
    first lines: a trait added on a later day is told too, so its rows skip json_structure. Each row's shape is
    md5(json_structure) but for the lowest bit (0: told), whatever the sample."""
    monkeypatch.setattr(trait_shapes, "SAMPLE", 100)
    monkeypatch.setattr(columnar, "SAMPLE", 100)
    earlier = [_identify(f"u{k}", f"p{k}@example.com", "2024-02-01T09:00:00Z") for k in range(200)]
    later = [_identify(f"u{k}", f"p{k}@example.com", "2024-02-02T09:00:00Z") for k in range(100)]
    for message in later:
        message["traits"]["seats"] = 3
    path = write_lines(tmp_path / "days.jsonl.gz", earlier + later)
    with open_engine("1GB", tmp_path / "state", "load") as engine:
        reader = ColumnarRead(preflight([str(path)]), engine, nulls="keep")
        with _no_progress(None, "reading") as bar:
            reader.load(bar)
        rows = engine.con.execute(f"SELECT pos, shape, md5_number(json_structure(traits)) FROM {PLAIN_TABLE} "
                                  "ORDER BY pos").fetchall()
        reader.drop()
    assert len(rows) == 300
    assert all(shape >> 1 == structure >> 1 for _, shape, structure in rows)
    assert {trait_shapes.told(int(shape)) for pos, shape, _ in rows if pos <= 200} == {True}
    assert {trait_shapes.told(int(shape)) for pos, shape, _ in rows if pos > 200} == {True}
    assert assert_columnar_same([path], tmp_path) == 200


@pytest.mark.parametrize("case", sorted(MUST_GO_TO_PYTHON))
def test_a_line_duckdb_reads_differently_goes_to_python(tmp_path, case):
    _third_line_goes_to_python(tmp_path, _plain_identifies(4), MUST_GO_TO_PYTHON[case])


def _third_line_goes_to_python(tmp_path: Path, plain_lines: list[Any], line: str) -> None:
    """`line` (for user 90) put third among `plain_lines` is left to Python, they stay plain, and the people are
    the in-memory graph's."""
    lines = [*plain_lines[:2], line % (90, 90), *plain_lines[2:]]
    path = write_lines(tmp_path / "case.jsonl.gz", lines)
    plain, python = _load([path], tmp_path)
    assert python == {3}
    assert plain == set(range(1, len(lines) + 1)) - {3}
    assert assert_columnar_same([path], tmp_path) >= len(plain_lines)


@pytest.mark.parametrize("gzipped", [True, False])
@pytest.mark.parametrize("last", ["plain", "skipped", "python"])
def test_the_last_line_without_a_newline_goes_to_python_whatever_its_kind(tmp_path, gzipped, last):
    final = {"plain": _identify("u7", "p7@example.com", "2024-02-01T10:00:00Z"), "skipped": {"type": "track"},
             "python": _identify(" u7 ", "p7@example.com", "2024-02-01T10:00:00Z")}[last]
    lines = [*_plain_identifies(3), final]
    if gzipped:
        path = write_lines(tmp_path / "last.jsonl.gz", lines, newline_at_end=False)
    else:
        path = tmp_path / "last.jsonl"
        path.write_text("\n".join(json.dumps(m) for m in lines), encoding="utf-8")
    plain, python = _load([path], tmp_path)
    assert python == {4}  # read_jsonl parses a last line without a newline whatever the filter says
    assert plain == {1, 2, 3}
    assert assert_columnar_same([path], tmp_path) >= 3


def test_a_key_the_reader_does_not_use_twice_leaves_the_line_plain(tmp_path):
    lines = _plain_identifies(4)
    lines.insert(2, _HEAD % 90 + ',"sentAt":"a","sentAt":"b","x":1,"x":2' + _TRAITS % 90 + "}}")
    path = write_lines(tmp_path / "unused.jsonl.gz", lines)
    plain, python = _load([path], tmp_path)
    assert plain == {1, 2, 3, 4, 5}
    assert python == set()
    assert assert_columnar_same([path], tmp_path) == 5
