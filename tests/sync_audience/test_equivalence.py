"""The engine's planner and replay against the per-person Python algorithms they replace, on generated data:
churn, duplicate leads per e-mail, people not in Marketo, e-mail case and whitespace, exits, repeats."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from segmarketo_cli.jobs.changes import plan_rows
from segmarketo_cli.jobs.sync_audience.changes import plan_changes
from segmarketo_cli.sources.audience.readers import AudienceInput, AudiencePerson, AudienceRow, Identity
from tests.sync_audience.engine_plan import loaded, plan_of


def reference_plan(people: Sequence[AudiencePerson], resolved: Mapping[Identity, Sequence[int]],
                   members: Mapping[int, Mapping[str, Any]], mode: str, create_missing: bool,
                   user_field: str | None) -> dict[str, Any]:
    """The planner as it was, one Python object per person and member: the oracle."""
    index: dict[Identity, set[int]] = {}
    for lead_id, row in members.items():
        index.setdefault(Identity("marketo-id", str(lead_id)), set()).add(lead_id)
        email = row.get("email")
        if isinstance(email, str) and email.strip():
            index.setdefault(Identity("email", email.strip().lower()), set()).add(lead_id)
        if user_field and row.get(user_field) not in (None, ""):
            index.setdefault(Identity("userId", str(row[user_field]).strip()), set()).add(lead_id)
    target: set[int] = set()
    leaving: dict[int, AudiencePerson] = {}
    add_source: dict[int, AudiencePerson] = {}
    counts = {"duplicate_emails": 0, "exited": 0, "resolved": 0}
    to_create: list[AudiencePerson] = []
    unresolved: list[str] = []
    for person in people:
        ids: set[int] = set()
        for identity in person.identities:
            found = resolved.get(identity, ())
            if identity.kind == "email" and len(set(found)) > 1:
                counts["duplicate_emails"] += 1
            ids.update(found)
            ids.update(index.get(identity, ()))
            if identity.kind == "marketo-id":
                ids.add(int(identity.value))
        if not person.member:
            counts["exited"] += 1
            if mode == "delta":
                for lead_id in ids & members.keys():
                    leaving.setdefault(lead_id, person)
            continue
        if not ids:
            creatable = person.key.kind == "email" or (person.key.kind == "userId" and bool(user_field))
            if create_missing and creatable:
                to_create.append(person)
            else:
                unresolved.append(person.key.value)
            continue
        counts["resolved"] += 1
        for lead_id in ids:
            target.add(lead_id)
            add_source.setdefault(lead_id, person)
    current = set(members)
    removes = sorted(current - target) if mode == "mirror" else sorted(set(leaving) - target) if mode == "delta" \
        else []
    # A created lead's plan rows: one per field written (its key; its user id too when it has one and the field).
    rows = [("create", "", p.key.value, f"not in Marketo (key: {p.key.kind})") for p in to_create
            for _ in range(2 if user_field and p.user_id and p.key.kind == "email" else 1)]
    rows += [("add", str(i), add_source[i].key.value, add_source[i].origin) for i in sorted(target - current)]
    rows += [("add", "", p.key.value, p.origin) for p in to_create]
    for i in removes:
        if mode == "mirror":
            email = members[i].get("email")
            key = (email, "email") if email else (str(i), "marketo-id")
            rows.append(("remove", str(i), key[0], f"not in audience (key: {key[1]})"))
        else:
            rows.append(("remove", str(i), leaving[i].key.value, f"exited (key: {leaving[i].key.kind})"))
    unchanged = len(target & current)
    return {**counts, "audience_leads": len(target), "unchanged": unchanged,
            "kept": len(current) - len(removes) - unchanged, "unresolved": unresolved, "rows": rows}


def generated(seed: int, size: int) -> tuple[list[AudiencePerson], dict[Identity, list[int]], dict[int, dict]]:
    """People (some exited, some with two e-mails, some by userId or lead id), what the lookups found for them
    (some e-mails on several leads, some on none), and a list with churn whose e-mails vary in case and spaces."""
    rng = random.Random(seed)
    people: list[AudiencePerson] = []
    resolved: dict[Identity, list[int]] = {}
    members: dict[int, dict] = {}
    keys: set[Identity] = set()  # one person per key, as the readers give them
    for n in range(size):
        roll = rng.random()
        if roll < 0.05:
            key = Identity("userId", f"u{n}")
        elif roll < 0.08:
            key = Identity("marketo-id", str(rng.randint(1, size * 3)))
        else:
            key = Identity("email", f"p{n}@x.co")
        if key in keys:
            continue
        keys.add(key)
        ids = (key, Identity("email", f"alt{n}@x.co")) if rng.random() < 0.05 else (key,)
        user_id = f"u{n}" if rng.random() < 0.3 else None
        people.append(AudiencePerson(ids, f"a.csv:{n + 2}", rng.random() > 0.1, user_id))
        for identity in ids:
            if identity.kind != "marketo-id" and rng.random() < 0.8:  # the rest are not in Marketo
                resolved[identity] = sorted({rng.randint(1, size * 3) for _ in range(rng.choice((1, 1, 1, 2)))})
    for lead_id in rng.sample(range(1, size * 3), size):
        email = f"p{rng.randint(0, size)}@x.co"
        members[lead_id] = {"id": lead_id, "email": rng.choice((email, email.upper(), f"  {email} ", None, "")),
                            "userId": rng.choice((f"u{rng.randint(0, size)}", None, ""))}
    return people, resolved, members


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("mode,create_missing,user_field", [("mirror", False, None), ("mirror", True, "userId"),
                                                            ("delta", False, "userId"), ("delta", True, None),
                                                            ("add-only", True, "userId")])
def test_engine_plan_equals_the_per_person_planner(seed, mode, create_missing, user_field):
    people, resolved, members = generated(seed, 3_000)
    expected = reference_plan(people, resolved, members, mode, create_missing, user_field)
    plan = plan_of(people, resolved, members, mode=mode, create_missing=create_missing, user_field=user_field)
    for name in ("duplicate_emails", "exited", "resolved", "audience_leads", "unchanged", "kept"):
        assert getattr(plan, name) == expected[name], name
    assert [p.key.value for p in plan.unresolved_people()] == expected["unresolved"]
    assert plan.unresolved == len(expected["unresolved"])
    all_rows = list(plan_rows(plan_changes(plan, 1)))
    rows = [(r["action"], r["lead_id"], r["key"], r["origin"] if r["action"] == "add" else r["reason"])
            for r in all_rows if r["action"] != "unresolved"]
    assert rows == expected["rows"]
    assert [r["key"] for r in all_rows if r["action"] == "unresolved"] == expected["unresolved"]
    assert len(plan.adds) + plan.to_create == sum(1 for r in rows if r[0] == "add")
    assert list(plan.removes) == [int(r[1]) for r in rows if r[0] == "remove"]


def reference_replay(rows: Sequence[AudienceRow], audience: str | None,
                     snapshot: bool) -> list[tuple[str, bool, str]]:
    """The readers' replay as it was: snapshots keep a key's first row; events keep its latest by time (a row
    without a time takes the one before it), people in the order of their earliest event."""
    if snapshot:
        first: dict[Identity, AudiencePerson] = {}
        for row in rows:
            first.setdefault(row.person.key, row.person)
        return [(p.key.value, p.member, p.origin) for p in first.values()]
    chosen = [r for r in rows if r.audience in (audience, None)]
    previous = float("-inf")
    order = []
    for row in chosen:
        previous = row.ts if row.ts is not None else previous
        order.append((previous, row.seq, row))
    latest: dict[Identity, AudiencePerson] = {}
    first_seen: dict[Identity, int] = {}
    for _, seq, row in sorted(order, key=lambda t: (t[0], t[1])):
        first_seen.setdefault(row.person.key, seq)
        latest[row.person.key] = row.person
    return [(latest[k].key.value, latest[k].member, latest[k].origin) for k in sorted(latest, key=first_seen.get)]


def event_rows(seed: int, size: int) -> list[AudienceRow]:
    rng = random.Random(seed)
    rows = []
    for seq in range(size):
        key = Identity("email", f"p{rng.randint(0, size // 4)}@x.co")
        ts = None if rng.random() < 0.2 else float(rng.randint(0, 50))  # ties and rows without a time
        person = AudiencePerson((key,), f"e.jsonl:{seq + 1}", rng.random() < 0.6)
        rows.append(AudienceRow(person, seq, rng.choice(("vip", "vip", "vip", None, "other")), ts))
    return rows


@pytest.mark.parametrize("seed", [4, 5, 6])
@pytest.mark.parametrize("kind", ["events", "snapshot"])
def test_engine_replay_equals_the_per_row_replay(seed, kind):
    rows = event_rows(seed, 2_000)

    def scan() -> Iterator[AudienceRow]:
        return iter(rows)

    usable = sum(1 for r in rows if r.audience in ("vip", None)) if kind == "events" else len(rows)
    audience = AudienceInput("e.jsonl", "events-jsonl", kind, scan, audience="vip", rows=len(rows), usable=usable)
    result = loaded(audience)
    expected = reference_replay(rows, "vip", kind == "snapshot")
    assert [(p.key.value, p.member, p.origin) for p in result.people] == expected
    assert result.repeated == usable - len(expected)
