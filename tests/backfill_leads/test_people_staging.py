"""backfill-leads staging: a message reduced to its links, traits and time folds exactly as the whole message."""

from __future__ import annotations

import random
from typing import Any

import pytest

from segmarketo_cli.identity import IDENTIFY, IdentityGraph, Person
from segmarketo_cli.timeparse import message_time
from tests.backfill_leads.test_people_engine import (
    assert_same_people,
    generated_files,
    hard_messages,
    person_fields,
    write_jsonl,
)


def _people_fields(people: list[Person]) -> list[dict[str, Any]]:
    return [person_fields(person) for person in people]


def _timed(rng: random.Random, messages: list[Any]) -> list[Any]:
    """`messages` with the other ways Segment says when: epoch seconds or milliseconds, originalTimestamp,
    receivedAt or sentAt only, unreadable text."""
    out = []
    for message in messages:
        if isinstance(message, dict) and rng.random() < 0.3:
            message = {k: v for k, v in message.items() if k != "timestamp"}
            key, value = rng.choice([("timestamp", 1_704_067_200), ("timestamp", 1_704_067_200_500),
                                     ("originalTimestamp", "2024-01-02T00:00:00+01:00"),
                                     ("receivedAt", "2024-01-01 12:00:00"),
                                     ("sentAt", "2024-01-03T00:00:00.123456789Z"),
                                     ("timestamp", "yesterday")])
            message[key] = value
        out.append(message)
    return out


@pytest.mark.parametrize("nulls", ["keep", "clear"])
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_add_links_folds_like_add(seed, nulls):
    rng = random.Random(seed)
    messages = [m for m in _timed(rng, hard_messages(rng, 40, 1200)) if isinstance(m, dict)]
    whole, reduced = IdentityGraph(nulls=nulls), IdentityGraph(nulls=nulls)
    for number, message in enumerate(messages, 1):
        origin = f"f.jsonl:{number}"
        used = whole.add(message, origin)
        links = reduced.links(message)
        if links is None:
            assert not used
            continue
        if links.kind == IDENTIFY:
            assert reduced.add_links(links, message.get("traits"), message_time(message), origin) == used
        else:
            assert reduced.add_links(links) == used
    expected = _people_fields(list(whole.people()))
    assert len(expected) > 10
    assert _people_fields(list(reduced.people())) == expected


@pytest.mark.parametrize("nulls", ["keep", "clear"])
def test_hard_cases_at_64mb_give_the_same_people(tmp_path, nulls):
    files = generated_files(tmp_path, 21, people=300, messages=6000)
    assert assert_same_people(files, tmp_path, nulls=nulls, memory_limit="64MB") > 100


def test_message_times_of_every_kind_give_the_same_people_on_the_engine(tmp_path):
    rng = random.Random(31)
    path = write_jsonl(tmp_path / "timed.jsonl.gz", _timed(rng, hard_messages(rng, 50, 1500)))
    assert assert_same_people([path], tmp_path) > 10
