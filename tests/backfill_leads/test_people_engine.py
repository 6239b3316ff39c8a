"""backfill-leads people on the engine vs the in-memory identity graph: the same Person objects, in the same order."""

from __future__ import annotations

import gzip
import json
import random
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from segmarketo_cli.engine import open_engine
from segmarketo_cli.identity import ALIAS, IDENTIFY, Links, Person
from segmarketo_cli.jobs.backfill_leads.read import read_people
from segmarketo_cli.jobs.backfill_leads.staging import dump_record, load_record
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.sources import preflight

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"
PERSON_FIELDS = ("traits", "user_ids", "anonymous_ids", "emails", "cookies", "origin", "identifies", "first_seq",
                 "last_seen", "latest_user")


def person_fields(person: Person) -> dict[str, Any]:
    """What a Person holds, to compare: its traits in order (whether kept as `raw` or as Trait objects: the graph
    turns `raw` into Traits when a message joins a new node, the columnar folds need not), ids, counts, times."""
    fields = {name: getattr(person, name) for name in PERSON_FIELDS}
    fields["traits"] = list(fields["traits"].items())
    return fields


def _no_progress(total: int | None, desc: str, unit: str = "") -> Any:
    return nullcontext(_Bar())


class _Bar:
    def update(self, n: int) -> None:
        pass


def read(paths: list[Path], tmp_path: Path, *, on_engine: bool, nulls: str = "keep",
         memory_limit: str = "1GB") -> tuple[list[Person], RunReport, list[str]]:
    """read_people's people (forced onto one path), its report and the rejects file's lines."""
    name = "engine" if on_engine else "memory"
    report = RunReport("backfill-leads")
    rejects_path = tmp_path / f"rejects-{name}-{nulls}.jsonl"
    rejects = RejectsWriter(rejects_path)
    with open_engine(memory_limit, tmp_path / "state", name) as engine:
        people = list(read_people(preflight([str(p) for p in paths]), nulls=nulls, report=report, rejects=rejects,
                                  progress=_no_progress, engine=engine, on_engine=on_engine))
    rejects.close()
    lines = rejects_path.read_text().splitlines() if rejects_path.exists() else []
    return people, report, lines


def assert_same_people(paths: list[Path], tmp_path: Path, *, nulls: str = "keep", memory_limit: str = "1GB") -> int:
    """Both paths give equal people (every field, in order), reports and rejects; the number of people."""
    memory, memory_report, memory_rejects = read(paths, tmp_path, on_engine=False, nulls=nulls)
    engine, engine_report, engine_rejects = read(paths, tmp_path, on_engine=True, nulls=nulls,
                                                 memory_limit=memory_limit)
    assert len(engine) == len(memory)
    for position, (mine, theirs) in enumerate(zip(engine, memory, strict=True)):
        mine_fields, their_fields = person_fields(mine), person_fields(theirs)
        for name in PERSON_FIELDS:
            assert mine_fields[name] == their_fields[name], (position, name)
    assert engine_report.counts == memory_report.counts
    assert engine_report.details == memory_report.details
    assert engine_rejects == memory_rejects
    return len(memory)


# ---- generated inputs with the hard cases ---------------------------------------------------------------------
def _stamp(rng: random.Random) -> str | None:
    if rng.random() < 0.08:
        return None  # no timestamp at all
    return f"2024-0{rng.randint(1, 3)}-0{rng.randint(1, 4)}T0{rng.randint(0, 2)}:00:00Z"  # many ties


def _traits(rng: random.Random, person: int) -> dict[str, Any]:
    shapes: list[dict[str, Any]] = [
        {"firstName": f"P{person}", "plan": rng.choice(["free", "pro", None])},
        {"firstName": f"P{person}-{rng.randint(0, 9)}", "plan": "team", "company": {"name": "Initech", "size": 3}},
        {"company": None, "address": {"city": rng.choice(["Paris", None]), "geo": {"lat": 1.5, "lng": None}}},
        {"address": None, "tags": ["a", "b"], "score": rng.randint(0, 100), "empty": {}},
        {"company": {"name": None}, "email": rng.choice([None, f" Person{person}@Example.COM ", "not-an-email"])},
        {},
    ]
    return rng.choice(shapes)


def _cookie_context(person: int, k: int) -> dict[str, Any]:
    return {"Marketo": {"marketoCookie": f"id:123-ABC-456&token:_mch-example.com-{person}-{k}"}}


def hard_messages(rng: random.Random, people: int, messages: int) -> list[Any]:
    """Messages (and a few broken lines, as strings) over `people` people: alias chains, shared e-mails, e-mail
    case and whitespace, nulls, several trait shapes, timestamp ties and gaps, cookies, anonymous identifies."""
    out: list[Any] = []
    for _ in range(messages):
        person = rng.randrange(people)
        roll = rng.random()
        uid = f"user-{person}" if rng.random() < 0.7 else f"user-{person}-new"
        anon = f"anon-{person}-{rng.randint(0, 2)}"
        if roll < 0.06:  # alias chains: anon -> user-N, user-N -> user-N-new (both directions of growth)
            previous, user = rng.choice([(anon, f"user-{person}"), (f"user-{person}", f"user-{person}-new")])
            out.append({"type": "alias", "previousId": previous, "userId": user, "timestamp": _stamp(rng)})
        elif roll < 0.16:  # cookies on page/track messages, before or after the identify
            ids = {"userId": uid} if rng.random() < 0.5 else {"anonymousId": anon}
            out.append({"type": rng.choice(["page", "track"]), **ids, "event": "Viewed",
                        "context": _cookie_context(person, rng.randint(0, 2)), "timestamp": _stamp(rng)})
        elif roll < 0.20:  # noise: a track without cookie, an unknown type, a broken line
            out.append(rng.choice([{"type": "track", "userId": uid, "event": "x"}, {"type": "screen"},
                                   '{"type": "identify", "userId": ', '{"type": "alias", "userId": "u"}']))
        else:
            message: dict[str, Any] = {"type": "identify", "timestamp": _stamp(rng), "traits": _traits(rng, person)}
            who = rng.random()
            if who < 0.15:
                message["anonymousId"] = anon  # only an anonymousId
            elif who < 0.25:
                message["traits"]["email"] = f"  PERSON{person}@example.com"  # only an e-mail, odd case and spaces
            else:
                message["userId"] = uid
                if rng.random() < 0.4:
                    message["anonymousId"] = anon
                if rng.random() < 0.1:  # two people's userIds with one e-mail
                    message["traits"]["email"] = f"shared{person % 7}@example.com"
            if rng.random() < 0.1:
                message["context"] = {"traits": {"email": f"Ctx{person}@Example.com"}, **_cookie_context(person, 9)}
            out.append(message)
    return out


def write_jsonl(path: Path, messages: list[Any]) -> Path:
    with gzip.open(path, "wt") as handle:
        for message in messages:
            handle.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
    return path


def generated_files(folder: Path, seed: int, people: int, messages: int) -> list[Path]:
    """Two files of one export: alias chains and people run across them."""
    rng = random.Random(seed)
    batch = hard_messages(rng, people, messages)
    half = len(batch) // 2
    return [write_jsonl(folder / "part-1.jsonl.gz", batch[:half]),
            write_jsonl(folder / "part-2.jsonl.gz", batch[half:])]


# ---- tests ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["identifies.jsonl.gz", "warehouse_identifies.csv"])
def test_sample_data_gives_the_same_people_on_the_engine(tmp_path, name):
    assert assert_same_people([SAMPLE_DATA / name], tmp_path) > 0


@pytest.mark.parametrize("nulls", ["keep", "clear"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hard_cases_give_the_same_people_on_the_engine(tmp_path, seed, nulls):
    files = generated_files(tmp_path, seed, people=60, messages=1500)
    assert assert_same_people(files, tmp_path, nulls=nulls) > 10


def test_an_alias_chain_across_files_is_one_person(tmp_path):
    first = write_jsonl(tmp_path / "a.jsonl.gz", [
        {"type": "identify", "anonymousId": "anon", "traits": {"plan": "free"}, "timestamp": "2024-01-01T00:00:00Z"},
        {"type": "alias", "previousId": "anon", "userId": "old"},
        {"type": "page", "anonymousId": "anon", "context": _cookie_context(1, 1)},
        {"type": "identify", "userId": "other", "traits": {"email": "o@example.com"}},
    ])
    second = write_jsonl(tmp_path / "b.jsonl.gz", [
        {"type": "identify", "userId": "new", "traits": {"email": " Ann@Example.com "}},
        {"type": "alias", "previousId": "old", "userId": "new"},
    ])
    people, report, _ = read([first, second], tmp_path, on_engine=True)
    assert [p.user_ids for p in people] == [["new"], ["other"]]
    assert people[0].anonymous_ids == ["anon"]
    assert people[0].cookies == ["id:123-ABC-456&token:_mch-example.com-1-1"]
    assert people[0].value("plan") == "free"
    assert report.details["people"] == 2
    assert assert_same_people([first, second], tmp_path) == 2


def test_a_long_alias_chain_in_any_order_is_one_person(tmp_path):
    rng = random.Random(5)
    aliases: list[Any] = [{"type": "alias", "previousId": f"u{k}", "userId": f"u{k + 1}"} for k in range(300)]
    rng.shuffle(aliases)
    identifies = [{"type": "identify", "userId": f"u{k}", "traits": {"step": k}} for k in range(0, 301, 30)]
    loose = [{"type": "identify", "userId": f"solo{k}", "traits": {"step": k}} for k in range(5)]
    path = write_jsonl(tmp_path / "chain.jsonl.gz", identifies[:5] + aliases + loose + identifies[5:])
    people, _, _ = read([path], tmp_path, on_engine=True)
    assert len(people) == 6
    assert len(people[0].user_ids) == 11
    assert assert_same_people([path], tmp_path) == 6


def test_input_with_no_people_yields_none_on_the_engine(tmp_path):
    only_tracks = write_jsonl(tmp_path / "t.jsonl.gz", [{"type": "track", "userId": "u", "event": "x"}])
    people, report, _ = read([only_tracks], tmp_path, on_engine=True)
    assert people == []
    assert report.details["people"] == 0
    assert report.counts["messages_ignored"] == 1


def test_a_parquet_extract_with_a_time_column_gives_the_same_people(tmp_path):
    import datetime as dt

    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    table = pa_csv.read_csv(SAMPLE_DATA / "warehouse_identifies.csv")
    opens = pa.array([dt.time(9, row % 60) for row in range(table.num_rows)], pa.time64("us"))
    pq.write_table(table.append_column("opens_at", opens), tmp_path / "extract.parquet")
    people, _, _ = read([tmp_path / "extract.parquet"], tmp_path, on_engine=True)
    assert people[0].value("opens_at") == dt.time(9, 0)  # pickled: marshal cannot write a time
    assert assert_same_people([tmp_path / "extract.parquet"], tmp_path) == len(people)


def test_messages_marshal_can_not_write_are_pickled():
    import datetime as dt

    links = Links(IDENTIFY, ["u:u1", "e:a@b.co"], "u1", None, "a@b.co", "cookie")
    plain = {"n": [1, 2.5, None, True]}
    odd = {"opens": dt.time(9, 30)}
    assert load_record(dump_record("a.jsonl:1", links, plain, 1.5)) == ("a.jsonl:1", links, plain, 1.5)
    assert load_record(dump_record("b.parquet:2", links, odd, None)) == ("b.parquet:2", links, odd, None)
    alias = Links(ALIAS, ["u:new", "u:old", "a:old"])
    assert load_record(dump_record("c.jsonl:3", alias)) == ("c.jsonl:3", alias, None, None)


@pytest.mark.slow
def test_200k_messages_at_64mb_give_the_same_people(tmp_path):
    files = generated_files(tmp_path, 7, people=40_000, messages=200_000)
    assert assert_same_people(files, tmp_path, memory_limit="64MB") > 30_000
